// EncoderLayer / DecoderLayer: fairseq names, post- and pre-norm wiring, FeedForward,
// cached decoding.
#include <gtest/gtest.h>

#include <cmath>

#include "common/gradcheck.h"
#include "core/ops.h"
#include "layers/transformer_layer.h"

using namespace attend;

namespace {

constexpr int64_t B = 2, D = 4, H = 2, F = 8;

TransformerLayerOptions options(NormPlacement norm, Generator* gen, Activation act = Activation::relu) {
  return {.d_model = D, .heads = H, .ffn_dim = F, .activation = act, .norm = norm, .gen = gen};
}

std::vector<std::string> names(const Module& m) {
  std::vector<std::string> out;
  for (auto& [name, t] : m.named_parameters()) out.push_back(name);
  return out;
}

// The tensors of `state` under `prefix.`, with the prefix removed.
std::map<std::string, Tensor> sub_state(const std::map<std::string, Tensor>& state, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : state)
    if (name.starts_with(prefix + ".")) out[name.substr(prefix.size() + 1)] = t;
  return out;
}

void randomise(Module& m, uint64_t seed) {
  for (auto& [name, t] : m.named_parameters()) copy_strided(t, test::random_tensor(t.shape(), -0.8f, 0.8f, seed++));
}

void expect_close(const Tensor& got, const Tensor& want, float tol) {
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<float> g = got.to_vector(), w = want.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], tol) << "element " << i;
}

// Stand-alone sublayers loaded with a layer's weights, to recompose it by hand.
struct Parts {
  Generator gen{9};
  MultiHeadAttention self_attn{{.d_model = D, .heads = H, .gen = &gen}};
  MultiHeadAttention encoder_attn{{.d_model = D, .heads = H, .gen = &gen}};
  LayerNorm ln1{{.dim = D}}, ln2{{.dim = D}}, ln3{{.dim = D}};
  FeedForward ffn;
  explicit Parts(const Module& layer, bool decoder, Activation act)
      : ffn({.d_model = D, .ffn_dim = F, .activation = act, .gen = &gen}) {
    auto s = layer.state();
    self_attn.load_state(sub_state(s, "self_attn"));
    ln1.load_state(sub_state(s, "self_attn_layer_norm"));
    if (decoder) {
      encoder_attn.load_state(sub_state(s, "encoder_attn"));
      ln2.load_state(sub_state(s, "encoder_attn_layer_norm"));
    }
    std::map<std::string, Tensor> f = sub_state(s, "fc1");
    std::map<std::string, Tensor> ffn_state;
    for (auto& [k, v] : f) ffn_state["fc1." + k] = v;
    for (auto& [k, v] : sub_state(s, "fc2")) ffn_state["fc2." + k] = v;
    ffn.load_state(ffn_state);
    ln3.load_state(sub_state(s, "final_layer_norm"));
  }
};

}  // namespace

TEST(EncoderLayer, ParameterNamesFollowFairseq) {
  Generator gen(1);
  EncoderLayer layer(options(NormPlacement::post, &gen));
  EXPECT_EQ(names(layer), (std::vector<std::string>{
                              "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight",
                              "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias",
                              "self_attn.out_proj.weight", "self_attn.out_proj.bias", "self_attn_layer_norm.weight",
                              "self_attn_layer_norm.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                              "final_layer_norm.weight", "final_layer_norm.bias"}));
}

TEST(DecoderLayer, ParameterNamesFollowFairseq) {
  Generator gen(1);
  DecoderLayer layer(options(NormPlacement::pre, &gen));
  std::vector<std::string> n = names(layer);
  ASSERT_EQ(n.size(), 26u);
  EXPECT_EQ(n[8], "self_attn_layer_norm.weight");
  EXPECT_EQ(n[10], "encoder_attn.q_proj.weight");
  EXPECT_EQ(n[18], "encoder_attn_layer_norm.weight");
  EXPECT_EQ(n[20], "fc1.weight");
  EXPECT_EQ(n[24], "final_layer_norm.weight");
}

TEST(FeedForward, ReluAndExactGelu) {
  Generator gen(1);
  FeedForward relu_ffn({.d_model = 1, .ffn_dim = 2, .activation = Activation::relu, .gen = &gen});
  FeedForward gelu_ffn({.d_model = 1, .ffn_dim = 2, .activation = Activation::gelu, .gen = &gen});
  for (FeedForward* f : {&relu_ffn, &gelu_ffn})
    f->load_state({{"fc1.weight", Tensor::from_vector({1, -1}, {2, 1})},
                   {"fc1.bias", Tensor::from_vector({0, 0}, {2})},
                   {"fc2.weight", Tensor::from_vector({1, 1}, {1, 2})},
                   {"fc2.bias", Tensor::from_vector({0.5f}, {1})}});
  Tensor x = Tensor::from_vector({2}, {1, 1});
  EXPECT_NEAR(relu_ffn.forward(x).item(), 2.5f, 1e-6f);  // relu(2) + relu(-2) + 0.5
  const double phi2 = 0.5 * (1 + std::erf(2 / std::sqrt(2.0)));
  EXPECT_NEAR(gelu_ffn.forward(x).item(), 2 * phi2 - 2 * (1 - phi2) + 0.5, 1e-5);
}

TEST(EncoderLayer, PostNormIsNormOfResidualSum) {
  Generator gen(1);
  EncoderLayer layer(options(NormPlacement::post, &gen, Activation::gelu));
  randomise(layer, 100);
  Parts p(layer, false, Activation::gelu);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 1);
  Tensor mask = padding_mask(Tensor::from_ids({4, 4, 4, 4, 4, 0}, {B, 3}), 0);
  Tensor h = p.ln1.forward(x + p.self_attn.self_attention(x, mask, false));
  Tensor want = p.ln3.forward(h + p.ffn.forward(h));
  expect_close(layer.forward(x, mask), want, 1e-5f);
}

TEST(EncoderLayer, PreNormNormalisesTheSublayerInput) {
  Generator gen(1);
  EncoderLayer layer(options(NormPlacement::pre, &gen));
  randomise(layer, 200);
  Parts p(layer, false, Activation::relu);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 2);
  Tensor h = x + p.self_attn.self_attention(p.ln1.forward(x), Tensor(), false);
  Tensor want = h + p.ffn.forward(p.ln3.forward(h));
  expect_close(layer.forward(x, Tensor()), want, 1e-5f);
}

TEST(DecoderLayer, PostNormWiresCausalSelfThenCrossThenFeedForward) {
  Generator gen(1);
  DecoderLayer layer(options(NormPlacement::post, &gen));
  randomise(layer, 300);
  Parts p(layer, true, Activation::relu);
  Tensor y = test::random_tensor({B, 3, D}, -1, 1, 3);
  Tensor mem = test::random_tensor({B, 4, D}, -1, 1, 4);
  Tensor mask = padding_mask(Tensor::from_ids({4, 4, 0, 0, 4, 4, 4, 4}, {B, 4}), 0);
  Tensor h = p.ln1.forward(y + p.self_attn.self_attention(y, Tensor(), true));
  h = p.ln2.forward(h + p.encoder_attn.cross_attention(h, mem, mask));
  Tensor want = p.ln3.forward(h + p.ffn.forward(h));
  expect_close(layer.forward(y, mem, mask), want, 1e-5f);
}

TEST(DecoderLayer, PreNormWiresCausalSelfThenCrossThenFeedForward) {
  Generator gen(1);
  DecoderLayer layer(options(NormPlacement::pre, &gen));
  randomise(layer, 400);
  Parts p(layer, true, Activation::relu);
  Tensor y = test::random_tensor({B, 3, D}, -1, 1, 5);
  Tensor mem = test::random_tensor({B, 4, D}, -1, 1, 6);
  Tensor h = y + p.self_attn.self_attention(p.ln1.forward(y), Tensor(), true);
  h = h + p.encoder_attn.cross_attention(p.ln2.forward(h), mem, Tensor());
  Tensor want = h + p.ffn.forward(p.ln3.forward(h));
  expect_close(layer.forward(y, mem, Tensor()), want, 1e-5f);
}

TEST(DecoderLayer, CachedStepsEqualTheFullPass) {
  for (NormPlacement norm : {NormPlacement::post, NormPlacement::pre}) {
    Generator gen(1);
    DecoderLayer layer(options(norm, &gen));
    randomise(layer, 500);
    const int64_t T = 4;
    Tensor y = test::random_tensor({B, T, D}, -1, 1, 7);
    Tensor mem = test::random_tensor({B, 3, D}, -1, 1, 8);
    Tensor mask = padding_mask(Tensor::from_ids({4, 4, 0, 4, 4, 4}, {B, 3}), 0);
    std::vector<float> full = layer.forward(y, mem, mask).to_vector();
    DecoderLayerCache cache;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> step = layer.forward(y.slice(1, t, t + 1), mem, mask, &cache).to_vector();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t d = 0; d < D; ++d)
          EXPECT_NEAR(step[size_t(b * D + d)], full[size_t((b * T + t) * D + d)], 1e-5f)
              << norm_name(norm) << " step " << t;
    }
  }
}

TEST(EncoderLayer, ResidualDropoutOnlyInTraining) {
  Generator gen(1);
  TransformerLayerOptions o = options(NormPlacement::post, &gen);
  o.dropout = 0.5f;
  EncoderLayer layer(o);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 9);
  std::vector<float> train = layer.forward(x, Tensor()).to_vector();
  layer.eval();
  std::vector<float> eval1 = layer.forward(x, Tensor()).to_vector();
  EXPECT_NE(train, eval1);
  EXPECT_EQ(eval1, layer.forward(x, Tensor()).to_vector());
}

// The fused residual ops (add_layer_norm, dropout_add) draw the masks the composed
// sublayers would: the same streams of the same generator, in the same order.
TEST(EncoderLayer, TrainingDropoutMatchesTheComposedSublayers) {
  for (NormPlacement norm : {NormPlacement::post, NormPlacement::pre}) {
    SCOPED_TRACE(std::string(norm_name(norm)));
    Generator gen(1);
    TransformerLayerOptions o = options(norm, &gen);
    o.dropout = 0.3f;
    EncoderLayer layer(o);
    randomise(layer, 300);
    Parts p(layer, false, Activation::relu);
    Tensor x = test::random_tensor({B, 3, D}, -1, 1, 10);
    gen.set_state(5, 0);
    Tensor got = layer.forward(x, Tensor());
    Generator g(5);
    Tensor want;
    if (norm == NormPlacement::post) {
      Tensor h = p.ln1.forward(x + dropout(p.self_attn.self_attention(x, Tensor(), false), 0.3f, g));
      want = p.ln3.forward(h + dropout(p.ffn.forward(h), 0.3f, g));
    } else {
      Tensor h = x + dropout(p.self_attn.self_attention(p.ln1.forward(x), Tensor(), false), 0.3f, g);
      want = h + dropout(p.ffn.forward(p.ln3.forward(h)), 0.3f, g);
    }
    expect_close(got, want, 1e-5f);
    EXPECT_EQ(gen.counter(), g.counter());
  }
}
