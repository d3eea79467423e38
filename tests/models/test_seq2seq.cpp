// Seq2Seq: tensor names under each tying, cached decoding against the full forward,
// beam reordering, bad input, weights of another architecture, weight files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/ops.h"
#include "layers/weights.h"
#include "models/seq2seq.h"
#include "common/error_of.h"
#include "common/expect.h"
#include "common/tiny_model.h"

using namespace attend;

namespace {

ModelConfig tiny(NormPlacement norm = NormPlacement::post, PositionKind pos = PositionKind::sinusoidal,
                 TieEmbeddings tie = TieEmbeddings::all) {
  ModelConfig c = test::tiny_seq2seq_config(/*vocab=*/20, /*max_positions=*/12);
  c.encoder_layers = 2;
  c.dropout = 0.1f;
  c.attention_dropout = 0.1f;
  c.norm = norm;
  c.positions = pos;
  c.tie_embeddings = tie;
  c.tgt_vocab = tie == TieEmbeddings::all ? 20 : 23;
  return c;
}

bool has(const Module& m, const std::string& name) { return m.state().count(name) != 0; }

// src: two sentences, the second padded; tgt_in: bos + tokens, right-padded.
Tensor src_ids() { return Tensor::from_ids64({5, 6, 7, 8, 3, 9, 10, 3, 0, 0}, {2, 5}); }
Tensor tgt_ids() { return Tensor::from_ids64({2, 11, 12, 13, 14, 2, 15, 16, 0, 0}, {2, 5}); }

}  // namespace

TEST(Seq2Seq, TieAllSharesOneMatrixUnderTheEncoderName) {
  Seq2Seq m(tiny(NormPlacement::post, PositionKind::sinusoidal, TieEmbeddings::all), 1);
  EXPECT_TRUE(has(m, "encoder.embed_tokens.weight"));
  EXPECT_FALSE(has(m, "decoder.embed_tokens.weight"));
  EXPECT_FALSE(has(m, "decoder.output_projection.weight"));
  EXPECT_FALSE(has(m, "encoder.embed_positions.weight"));
  EXPECT_FALSE(has(m, "encoder.layer_norm.weight"));
}

TEST(Seq2Seq, TieDecoderSharesTargetEmbeddingAndOutputProjection) {
  Seq2Seq m(tiny(NormPlacement::pre, PositionKind::learned, TieEmbeddings::decoder), 1);
  EXPECT_EQ(m.parameter("decoder.embed_tokens.weight").shape(), Shape({23, 16}));
  EXPECT_FALSE(has(m, "decoder.output_projection.weight"));
  EXPECT_EQ(m.parameter("encoder.embed_positions.weight").shape(), Shape({12, 16}));
  EXPECT_TRUE(has(m, "decoder.embed_positions.weight"));
  EXPECT_TRUE(has(m, "encoder.layer_norm.weight"));
  EXPECT_TRUE(has(m, "decoder.layer_norm.bias"));
}

TEST(Seq2Seq, UntiedHasAllThreeMatrices) {
  Seq2Seq m(tiny(NormPlacement::post, PositionKind::sinusoidal, TieEmbeddings::none), 1);
  EXPECT_EQ(m.parameter("encoder.embed_tokens.weight").shape(), Shape({20, 16}));
  EXPECT_EQ(m.parameter("decoder.embed_tokens.weight").shape(), Shape({23, 16}));
  EXPECT_EQ(m.parameter("decoder.output_projection.weight").shape(), Shape({23, 16}));
  EXPECT_EQ(m.parameter("decoder.layers.1.encoder_attn.k_proj.weight").shape(), Shape({16, 16}));
}

TEST(Seq2Seq, ForwardGivesLogitsPerTargetPosition) {
  Seq2Seq m(tiny(), 1);
  Tensor align;
  Tensor logits = m.forward(src_ids(), tgt_ids(), &align);
  EXPECT_EQ(logits.shape(), Shape({2, 5, 20}));
  EXPECT_EQ(align.shape(), Shape({2, 5, 5}));
}

TEST(Seq2Seq, AlignmentIsADistributionOverRealSourceTokens) {
  Seq2Seq m(tiny(), 1);
  m.eval();
  Tensor align;
  m.forward(src_ids(), tgt_ids(), &align);
  std::vector<float> a = align.to_vector();  // (2,5,5); row 1 of src has 2 pads
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 5; ++t) {
      const float* row = &a[size_t((b * 5 + t) * 5)];
      EXPECT_NEAR(row[0] + row[1] + row[2] + row[3] + row[4], 1.0f, 1e-5f);
      if (b == 1) {
        EXPECT_EQ(row[3], 0.0f);
        EXPECT_EQ(row[4], 0.0f);
      }
    }
}

TEST(Seq2Seq, SameSeedSameWeightsOtherSeedOtherWeights) {
  Seq2Seq a(tiny(), 7), b(tiny(), 7), c(tiny(), 8);
  EXPECT_EQ(a.parameter("decoder.layers.0.fc1.weight").to_vector(), b.parameter("decoder.layers.0.fc1.weight").to_vector());
  EXPECT_NE(a.parameter("decoder.layers.0.fc1.weight").to_vector(), c.parameter("decoder.layers.0.fc1.weight").to_vector());
}

TEST(Seq2Seq, TrainingDropoutIsReproducibleFromTheSeed) {
  Seq2Seq a(tiny(), 4), b(tiny(), 4);  // dropout 0.1, attention dropout 0.1
  std::vector<float> ya = a.forward(src_ids(), tgt_ids()).to_vector();
  EXPECT_EQ(ya, b.forward(src_ids(), tgt_ids()).to_vector());
  EXPECT_NE(ya, a.forward(src_ids(), tgt_ids()).to_vector());  // the next batch draws new masks
  a.eval();
  std::vector<float> e = a.forward(src_ids(), tgt_ids()).to_vector();
  EXPECT_NE(ya, e);
  EXPECT_EQ(e, a.forward(src_ids(), tgt_ids()).to_vector());
}

// decode_step over a prefix must give the log-probs of a full forward over it.
void expect_cached_decoding_matches_forward(const ModelConfig& config) {
  Seq2Seq m(config, 3);
  m.eval();
  Tensor src = src_ids(), tgt = tgt_ids();
  const int64_t B = 2, T = 5, V = config.tgt_vocab;
  std::vector<float> full = log_softmax(m.forward(src, tgt)).to_vector();
  DecoderState state = m.encode(src);
  float worst = 0;
  for (int64_t t = 0; t < T; ++t) {
    Tensor align;
    std::vector<float> step = m.decode_step(state, tgt.slice(1, t, t + 1).reshape({B}), &align).to_vector();
    ASSERT_EQ(align.shape(), Shape({B, 5}));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t v = 0; v < V; ++v)
        worst = std::max(worst, std::fabs(step[size_t(b * V + v)] - full[size_t((b * T + t) * V + v)]));
  }
  EXPECT_LE(worst, 1e-5f) << norm_name(config.norm) << " " << to_string(config.positions);
  EXPECT_EQ(state.step, T);
}

TEST(Seq2Seq, CachedDecodingEqualsFullForwardPostNorm) {
  expect_cached_decoding_matches_forward(tiny(NormPlacement::post, PositionKind::sinusoidal, TieEmbeddings::all));
  expect_cached_decoding_matches_forward(tiny(NormPlacement::post, PositionKind::learned, TieEmbeddings::none));
}

TEST(Seq2Seq, CachedDecodingEqualsFullForwardPreNorm) {
  expect_cached_decoding_matches_forward(tiny(NormPlacement::pre, PositionKind::sinusoidal, TieEmbeddings::decoder));
  expect_cached_decoding_matches_forward(tiny(NormPlacement::pre, PositionKind::learned, TieEmbeddings::all));
}

TEST(Seq2Seq, DecodeStepRecordsNoGradients) {
  Seq2Seq m(tiny(), 1);
  DecoderState state = m.encode(src_ids());
  EXPECT_FALSE(state.memory.requires_grad());
  EXPECT_FALSE(m.decode_step(state, Tensor::from_ids64({2, 2}, {2})).requires_grad());
}

TEST(Seq2Seq, ReorderedStateContinuesTheSelectedRows) {
  Seq2Seq m(tiny(NormPlacement::pre), 3);
  m.eval();
  DecoderState state = m.encode(src_ids());
  m.decode_step(state, Tensor::from_ids64({2, 2}, {2}));
  m.decode_step(state, Tensor::from_ids64({11, 15}, {2}));
  state.reorder(Tensor::from_ids64({1, 1, 0}, {3}));  // as a beam search would
  EXPECT_EQ(state.batch_size(), 3);
  std::vector<float> step = m.decode_step(state, Tensor::from_ids64({16, 17, 12}, {3})).to_vector();
  // the same rows decoded from scratch
  Tensor src = Tensor::from_ids64({9, 10, 3, 0, 0, 9, 10, 3, 0, 0, 5, 6, 7, 8, 3}, {3, 5});
  Tensor tgt = Tensor::from_ids64({2, 15, 16, 2, 15, 17, 2, 11, 12}, {3, 3});
  std::vector<float> full = log_softmax(m.forward(src, tgt)).to_vector();
  const int64_t V = 20;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t v = 0; v < V; ++v) EXPECT_NEAR(step[size_t(b * V + v)], full[size_t((b * 3 + 2) * V + v)], 1e-5f);
}

TEST(Seq2Seq, SourceIdPastVocabNamesIdAndVocab) {
  Seq2Seq m(tiny(), 1);
  std::string msg = error_of([&] { m.forward(Tensor::from_ids64({5, 20}, {1, 2}), tgt_ids().slice(0, 0, 1)); });
  EXPECT_NE(msg.find("source token id 20"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vocab size 20"), std::string::npos) << msg;
}

TEST(Seq2Seq, NegativeTargetIdIsAnError) {
  Seq2Seq m(tiny(), 1);
  std::string msg = error_of([&] { m.forward(src_ids(), Tensor::from_ids64({2, -4, 2, 5, 6, 7, 8, 9, 10, 11}, {2, 5})); });
  EXPECT_NE(msg.find("target token id -4"), std::string::npos) << msg;
}

TEST(Seq2Seq, LongerThanLearnedPositionsIsAnError) {
  Seq2Seq m(tiny(NormPlacement::post, PositionKind::learned), 1);  // max_positions 12
  std::vector<int64_t> long_src(13, 5);
  std::string msg = error_of([&] { m.forward(Tensor::from_ids64(long_src, {1, 13}), tgt_ids().slice(0, 0, 1)); });
  EXPECT_NE(msg.find("needs 13 positions"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_positions 12"), std::string::npos) << msg;
  // and while decoding, one step past the table
  DecoderState state = m.encode(src_ids());
  state.step = 12;
  EXPECT_THROW(m.decode_step(state, Tensor::from_ids64({2, 2}, {2})), Error);
}

TEST(Seq2Seq, SinusoidalPositionsGoPastMaxPositions) {
  Seq2Seq m(tiny(NormPlacement::post, PositionKind::sinusoidal), 1);
  std::vector<int64_t> long_src(13, 5);
  EXPECT_EQ(m.forward(Tensor::from_ids64(long_src, {1, 13}), tgt_ids().slice(0, 0, 1)).shape(), Shape({1, 5, 20}));
}

TEST(Seq2Seq, WeightsOfAnotherArchitectureNameTheFirstMismatch) {
  ModelConfig wide = tiny();
  wide.ffn_dim = 64;
  Seq2Seq a(tiny(), 1), b(wide, 1);
  std::string msg = error_of([&] { a.load_state(b.state(), "wide.safetensors"); });
  EXPECT_NE(msg.find("'encoder.layers.0.fc1.weight' has shape [64, 16] in wide.safetensors"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("expects [32, 16]"), std::string::npos) << msg;
}

TEST(Seq2Seq, WeightsOfAnotherTyingAreRejected) {
  Seq2Seq tied(tiny(NormPlacement::post, PositionKind::sinusoidal, TieEmbeddings::all), 1);
  ModelConfig c = tiny(NormPlacement::post, PositionKind::sinusoidal, TieEmbeddings::none);
  c.tgt_vocab = 20;
  Seq2Seq untied(c, 1);
  std::string msg = error_of([&] { tied.load_state(untied.state()); });
  EXPECT_NE(msg.find("unexpected tensor 'decoder.embed_tokens.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tie_embeddings"), std::string::npos) << msg;
  msg = error_of([&] { untied.load_state(tied.state()); });
  EXPECT_NE(msg.find("'decoder.embed_tokens.weight' is missing"), std::string::npos) << msg;
}

TEST(Seq2Seq, WeightsFileRoundTrip) {
  Seq2Seq a(tiny(), 1), b(tiny(), 2);
  a.eval();
  b.eval();
  const std::string path = (std::filesystem::temp_directory_path() / "attend_test_seq2seq.safetensors").string();
  save_weights(a, path, {{"note", "test"}});
  auto metadata = load_weights(b, path);
  std::filesystem::remove(path);
  EXPECT_EQ(metadata.at("note"), "test");
  EXPECT_EQ(a.forward(src_ids(), tgt_ids()).to_vector(), b.forward(src_ids(), tgt_ids()).to_vector());
}

TEST(Seq2Seq, LossIsTheCrossEntropyOfTheLogitsWithTheSameGradients) {
  Tensor src = Tensor::from_ids({5, 6, 7, 2, 8, 9, 2, 0}, {2, 4});
  Tensor tgt_in = Tensor::from_ids({1, 10, 11, 1, 12, 0}, {2, 3});
  Tensor tgt_out = Tensor::from_ids({10, 11, 2, 12, 2, 0}, {2, 3});
  const CrossEntropyOptions ce{.label_smoothing = 0.1f, .ignore_index = 0, .reduction = Reduction::sum};
  auto run = [&](bool fused) {
    Seq2Seq m(tiny(NormPlacement::post, PositionKind::sinusoidal, TieEmbeddings::none), 3);
    Tensor loss = fused ? m.loss(src, tgt_in, tgt_out, ce)
                        : cross_entropy(m.forward(src, tgt_in).reshape({6, -1}), tgt_out.reshape({-1}), ce);
    loss.backward();
    std::vector<std::vector<float>> out{loss.to_vector()};
    for (const auto& [name, p] : m.named_parameters()) out.push_back(p.grad().to_vector());
    return out;
  };
  const auto a = run(true), b = run(false);
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) test::expect_near(a[k], b[k], 1e-6f);
}

TEST(Seq2Seq, LossNamesTargetsThatDoNotMatchTheInput) {
  Seq2Seq m(tiny(), 1);
  Tensor src = Tensor::from_ids({5, 6, 2, 0}, {2, 2});
  Tensor tgt_in = Tensor::from_ids({1, 10, 1, 12}, {2, 2});
  test::expect_error([&] { m.loss(src, tgt_in, Tensor::from_ids({10, 2, 12}, {1, 3}), {}); },
                     {"tgt_out i32[1, 3]", "(B,T)"});
}
