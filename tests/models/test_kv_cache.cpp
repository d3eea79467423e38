// KVCache: appending writes new positions in place into stores whose capacity doubles,
// giving exactly the keys/values concatenation gives; reorder keeps the room; with
// gradients wanted it concatenates. Decoding past the first growths of the caches (16,
// 32 positions) gives the full forward's log-probs, also under a weight cache (q|k|v in
// one product), and in-place beam reorders of grown caches give what copying every tensor
// gives.
#include <gtest/gtest.h>

#include <cmath>

#include "common/tiny_model.h"
#include "common/error_of.h"
#include "core/bf16_weights.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"
#include "models/seq2seq.h"

using namespace attend;

namespace {

constexpr int64_t B = 2, H = 3, Dh = 4;

// (B,H,T,Dh) with values that name their position: 1000*b + 100*h + t0 + t + 0.01*d.
Tensor positions(int64_t t0, int64_t T) {
  std::vector<float> v;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < Dh; ++d) v.push_back(float(1000 * b + 100 * h + t0 + t) + 0.01f * float(d));
  return Tensor::from_vector(v, {B, H, T, Dh});
}

}  // namespace

TEST(KVCache, AppendingGivesWhatConcatenationGives) {
  NoGradGuard no_grad;
  KVCache cache;
  Tensor expected;
  int64_t L = 0;
  for (int64_t T : {1, 2, 1, 5, 1, 9, 1, 1, 20}) {  // crosses capacities 16 and 32
    Tensor k = positions(L, T), v = positions(L, T) * -1.0f;
    cache.append(k, v);
    expected = expected.defined() ? concat({expected, k}, 2) : k;
    L += T;
    ASSERT_EQ(cache.length(), L);
    EXPECT_EQ(cache.k.shape(), Shape({B, H, L, Dh}));
    EXPECT_EQ(cache.k.to_vector(), expected.to_vector()) << "after " << L << " positions";
    EXPECT_EQ(cache.v.to_vector(), (expected * -1.0f).to_vector());
  }
}

TEST(KVCache, CapacityStartsAtSixteenAndDoubles) {
  NoGradGuard no_grad;
  KVCache cache;
  cache.append(positions(0, 1), positions(0, 1));
  EXPECT_EQ(cache.capacity(), KVCache::kMinCapacity);
  for (int64_t t = 1; t < 16; ++t) cache.append(positions(t, 1), positions(t, 1));
  EXPECT_EQ(cache.capacity(), 16);
  cache.append(positions(16, 1), positions(16, 1));
  EXPECT_EQ(cache.capacity(), 32);
  cache.append(positions(17, 40), positions(17, 40));  // more than doubling gives: exactly what is needed
  EXPECT_EQ(cache.capacity(), 64);
  EXPECT_EQ(cache.length(), 57);
}

TEST(KVCache, AppendWithinCapacityWritesInPlace) {
  NoGradGuard no_grad;
  KVCache cache;
  cache.append(positions(0, 1), positions(0, 1));
  const void* k = cache.k.raw_data();
  const void* v = cache.v.raw_data();
  for (int64_t t = 1; t < 16; ++t) cache.append(positions(t, 1), positions(t, 1));
  EXPECT_EQ(cache.k.raw_data(), k);
  EXPECT_EQ(cache.v.raw_data(), v);
  EXPECT_TRUE(cache.k.shares_storage(cache.k_store));
}

TEST(KVCache, ReorderSelectsRowsAndKeepsTheRoom) {
  NoGradGuard no_grad;
  KVCache cache;
  cache.append(positions(0, 3), positions(0, 3));
  cache.reorder(Tensor::from_ids64({1, 1, 0}, {3}));
  EXPECT_EQ(cache.k.shape(), Shape({3, H, 3, Dh}));
  EXPECT_EQ(cache.capacity(), 16);
  const Tensor rows = index_select(positions(0, 3), 0, Tensor::from_ids64({1, 1, 0}, {3}));
  EXPECT_EQ(cache.k.to_vector(), rows.to_vector());
  EXPECT_EQ(cache.v.to_vector(), rows.to_vector());
  const void* k = cache.k.raw_data();
  Tensor next = index_select(positions(3, 1), 0, Tensor::from_ids64({0, 1, 1}, {3}));
  cache.append(next, next);  // in place after the reorder
  EXPECT_EQ(cache.k.raw_data(), k);
  EXPECT_EQ(cache.k.slice(2, 3, 4).to_vector(), next.to_vector());
  EXPECT_EQ(cache.k.slice(2, 0, 3).to_vector(), rows.to_vector());
}

TEST(KVCache, WithGradientsAppendConcatenatesAndStaysDifferentiable) {
  KVCache cache;
  Tensor k0 = positions(0, 2).set_requires_grad(), k1 = positions(2, 1).set_requires_grad();
  cache.append(k0, k0);
  cache.append(k1, k1);
  EXPECT_FALSE(cache.k_store.defined());
  ASSERT_TRUE(cache.k.requires_grad());
  sum(cache.k).backward();
  EXPECT_EQ(k0.grad().to_vector(), std::vector<float>(size_t(B * H * 2 * Dh), 1.0f));
  EXPECT_EQ(k1.grad().to_vector(), std::vector<float>(size_t(B * H * Dh), 1.0f));
}

TEST(KVCache, AppendOfAnotherHeadLayoutNamesBothShapes) {
  NoGradGuard no_grad;
  KVCache cache;
  cache.append(positions(0, 1), positions(0, 1));
  const Tensor wrong = Tensor::zeros({B, H, 1, Dh + 1});
  const std::string msg = error_of([&] { cache.append(wrong, wrong); });
  EXPECT_NE(msg.find("[2, 3, 1, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3, 1, 5]"), std::string::npos) << msg;
  const std::string mismatch = error_of([&] { cache.append(positions(1, 1), positions(1, 2)); });
  EXPECT_NE(mismatch.find("must be (B,H,T,Dh)"), std::string::npos) << mismatch;
}

namespace {

constexpr int64_t V = 20;

// Decodes a fixed batch of B targets of length T step by step with the cache and returns
// the largest difference from the full forward's log-probs; products: the gemm calls of
// the last step.
float decoding_against_full_forward(const Seq2Seq& m, int64_t T, int64_t* products = nullptr,
                                    DecoderState* final_state = nullptr) {
  std::vector<int64_t> tgt_ids;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) tgt_ids.push_back(t == 0 ? 2 : 4 + (7 * t + 3 * b) % 16);
  const Tensor src = Tensor::from_ids64({5, 6, 7, 8, 3, 9, 10, 3, 0, 0}, {B, 5});
  const Tensor tgt = Tensor::from_ids64(tgt_ids, {B, T});
  std::vector<float> full;
  {
    NoGradGuard no_grad;
    full = log_softmax(m.forward(src, tgt)).to_vector();
  }
  DecoderState state = m.encode(src);
  float worst = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t before = gemm_call_count();
    std::vector<float> step = m.decode_step(state, tgt.slice(1, t, t + 1).reshape({B})).to_vector();
    if (products) *products = gemm_call_count() - before;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t v = 0; v < V; ++v)
        worst = std::max(worst, std::fabs(step[size_t(b * V + v)] - full[size_t((b * T + t) * V + v)]));
  }
  if (final_state) *final_state = std::move(state);
  return worst;
}

}  // namespace

TEST(KVCache, DecodingPastTheCacheGrowthEqualsTheFullForward) {
  Seq2Seq m(test::tiny_seq2seq_config(/*vocab=*/V, /*max_positions=*/48), 3);
  m.eval();
  DecoderState state;
  EXPECT_LE(decoding_against_full_forward(m, 40, nullptr, &state), 1e-5f);
  EXPECT_EQ(state.layers[0].self_attn.capacity(), 64);
}

TEST(KVCache, DecodingUnderAWeightCacheProjectsQkvInOneProductAndEqualsTheFullForward) {
  Seq2Seq m(test::tiny_seq2seq_config(/*vocab=*/V, /*max_positions=*/48), 3);
  m.eval();
  NoGradGuard no_grad;
  int64_t plain = 0, cached = 0;  // products per decoding step
  EXPECT_LE(decoding_against_full_forward(m, 20, &plain), 1e-5f);
  {
    Bf16WeightCache weights;
    EXPECT_LE(decoding_against_full_forward(m, 20, &cached), 1e-5f);
  }
  // two decoder layers: q, k and v of each self-attention in one product instead of three
  EXPECT_EQ(cached, plain - 2 * 2);
}

// Decoding in bf16 keeps self- and cross-attention caches in bf16; the log-probs stay within
// bf16's rounding of the fp32 full forward (every product's operands rounded: the largest
// difference here is 1.7e-2).
TEST(KVCache, Bf16DecodingKeepsBf16CachesAndStaysNearTheFullForward) {
  Seq2Seq m(test::tiny_seq2seq_config(/*vocab=*/V, /*max_positions=*/48), 3);
  m.eval();
  NoGradGuard no_grad;
  GemmPrecisionScope bf16(GemmPrecision::bf16);
  Bf16WeightCache weights;
  DecoderState state;
  EXPECT_LE(decoding_against_full_forward(m, 20, nullptr, &state), 3e-2f);
  EXPECT_EQ(state.layers[0].self_attn.k.dtype(), DType::bf16);
  EXPECT_EQ(state.layers[0].self_attn.v.dtype(), DType::bf16);
  EXPECT_EQ(state.layers[0].encoder_attn.k.dtype(), DType::bf16);
  EXPECT_EQ(state.layers[0].encoder_attn.v.dtype(), DType::bf16);
}

TEST(KVCache, InPlaceBeamReordersOfGrownCachesEqualCopyingEveryTensor) {
  Seq2Seq m(test::tiny_seq2seq_config(/*vocab=*/20, /*max_positions=*/48), 1);
  m.eval();
  const Tensor src = Tensor::from_ids64({5, 6, 7, 8, 3, 9, 10, 3, 0, 0}, {2, 5});
  DecoderState fast = m.encode(src), copied = m.encode(src);
  for (DecoderState* s : {&fast, &copied}) {
    m.decode_step(*s, Tensor::from_ids64({2, 2}, {2}));
    s->reorder(std::vector<int64_t>{0, 0, 1, 1});
  }
  const std::vector<std::vector<int64_t>> reorders = {{1, 0, 2, 3}, {0, 0, 3, 2}, {1, 1, 2, 2}};
  for (int64_t t = 1; t < 24; ++t) {  // grows the self-attention caches from 16 to 32
    const Tensor next = Tensor::from_ids64({4 + t % 16, 5 + t % 15, 6 + t % 14, 7 + t % 13}, {4});
    EXPECT_EQ(m.decode_step(fast, next).to_vector(), m.decode_step(copied, next).to_vector()) << "step " << t;
    const std::vector<int64_t>& index = reorders[size_t(t) % reorders.size()];
    const void* self_k = fast.layers[1].self_attn.k.raw_data();
    fast.reorder(index);
    EXPECT_EQ(fast.layers[1].self_attn.k.raw_data(), self_k) << "step " << t << ": not permuted in place";
    const Tensor idx = Tensor::from_ids64(index, {4});  // the reference: every tensor through index_select
    copied.memory = index_select(copied.memory, 0, idx);
    copied.memory_padding = index_select(copied.memory_padding, 0, idx);
    for (DecoderLayerCache& layer : copied.layers) layer.reorder(idx);
  }
  EXPECT_EQ(fast.layers[0].self_attn.capacity(), 32);
}
