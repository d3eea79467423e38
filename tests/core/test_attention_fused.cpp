// Fused attention against the composed path (split heads, matmul, masked_fill, softmax,
// dropout, matmul, merge heads, as layers/attention.cpp builds it): values and gradients of
// q, k and v for self, causal, cross and decoding shapes, fully masked rows, dropout,
// several blocks; packed q|k|v and k|v inputs; a central-difference check; bad inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "common/gradcheck.h"
#include "core/gemm_bf16.h"
#include "core/kernels_attention.h"
#include "core/ops.h"
#include "core/threads.h"

using namespace attend;
using test::random_tensor;

namespace {

constexpr float kMasked = -1e30f;

// (T,S) with 1 where key j lies after query i, queries being the last T of S positions.
Tensor causal_mask(int64_t T, int64_t S) {
  std::vector<float> m(size_t(T * S));
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j) m[size_t(i * S + j)] = j > i + (S - T) ? 1.0f : 0.0f;
  return Tensor::from_vector(m, {T, S});
}

// (B,L,H*Dh) -> (B,H,L,Dh) and back.
Tensor split(const Tensor& x, int64_t H) {
  return x.reshape({x.size(0), x.size(1), H, x.size(2) / H}).permute({0, 2, 1, 3});
}
Tensor merge(const Tensor& x) {
  return x.permute({0, 2, 1, 3}).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

// q: (B,T,D), k, v: (B,S,D) -> (B,T,D), as the fused op with H heads.
Tensor composed(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, int64_t H, const Tensor& pad, bool causal,
                float scale, float p, Generator* gen) {
  Tensor q = split(q_in, H), k = split(k_in, H), v = split(v_in, H);
  Tensor scores = matmul(q * scale, k.transpose(2, 3));
  if (pad.defined()) scores = masked_fill(scores, pad, kMasked);
  if (causal && q.size(2) > 1) scores = masked_fill(scores, causal_mask(q.size(2), k.size(2)), kMasked);
  Tensor probs = softmax(scores);
  if (p > 0.0f) probs = dropout(probs, p, *gen);
  return merge(matmul(probs, v));
}

// (B,1,1,S) with 1 at the listed (b, s) pairs.
Tensor padding(int64_t B, int64_t S, const std::vector<std::pair<int64_t, int64_t>>& masked) {
  std::vector<float> m(size_t(B * S), 0.0f);
  for (auto [b, s] : masked) m[size_t(b * S + s)] = 1.0f;
  return Tensor::from_vector(m, {B, 1, 1, S});
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << what << " element " << i;
}

struct Case {
  int64_t B = 2, H = 2, T = 3, S = 3, Dh = 4;
  Tensor pad = Tensor();
  bool causal = false;
  float p = 0.0f;
};

// Fused and composed on fresh leaves with the same values, the same generator state and
// the same output gradient: outputs and all three input gradients agree.
void expect_fused_equals_composed(const Case& c, float tol = 2e-5f) {
  const float scale = 1.0f / std::sqrt(float(c.Dh));
  const int64_t D = c.H * c.Dh;
  Tensor q0 = random_tensor({c.B, c.T, D}, -1.5f, 1.5f, 1);
  Tensor k0 = random_tensor({c.B, c.S, D}, -1.5f, 1.5f, 2);
  Tensor v0 = random_tensor({c.B, c.S, D}, -1.0f, 1.0f, 3);
  Tensor dy = random_tensor({c.B, c.T, D}, -1.0f, 1.0f, 4);
  std::vector<std::vector<float>> out[2];
  for (int fused = 0; fused < 2; ++fused) {
    Tensor q = q0.clone().detach().set_requires_grad(), k = k0.clone().detach().set_requires_grad(),
           v = v0.clone().detach().set_requires_grad();
    Generator gen(11);
    Tensor y = fused ? attention(q, k, v, c.H, c.pad, c.causal, scale, c.p, &gen)
                     : composed(q, k, v, c.H, c.pad, c.causal, scale, c.p, &gen);
    ASSERT_EQ(y.shape(), Shape({c.B, c.T, D}));
    y.backward(dy);
    out[fused] = {y.to_vector(), q.grad().to_vector(), k.grad().to_vector(), v.grad().to_vector()};
  }
  const char* names[] = {"y", "dq", "dk", "dv"};
  for (size_t i = 0; i < 4; ++i) expect_near(out[1][i], out[0][i], tol, names[i]);
}

}  // namespace

TEST(AttentionFused, SelfAttentionWithKeyPaddingEqualsComposed) {
  expect_fused_equals_composed({.B = 2, .H = 2, .T = 4, .S = 4, .Dh = 4, .pad = padding(2, 4, {{1, 2}, {1, 3}})});
}

TEST(AttentionFused, CausalEqualsComposed) {
  expect_fused_equals_composed({.B = 2, .H = 2, .T = 5, .S = 5, .Dh = 3, .causal = true});
}

TEST(AttentionFused, CrossAttentionWithMoreKeysThanQueriesEqualsComposed) {
  expect_fused_equals_composed({.B = 2, .H = 3, .T = 3, .S = 7, .Dh = 4, .pad = padding(2, 7, {{0, 6}, {1, 0}})});
}

TEST(AttentionFused, DecodingStepOfOneQueryOnCachedKeysEqualsComposed) {
  expect_fused_equals_composed({.B = 3, .H = 2, .T = 1, .S = 6, .Dh = 4, .causal = true});
}

TEST(AttentionFused, DecodingStepWithPaddedAndFullyMaskedRowsEqualsComposed) {
  // batch 1 pads every key: its query attends uniformly
  expect_fused_equals_composed({.B = 2, .H = 2, .T = 1, .S = 5, .Dh = 4,
                                .pad = padding(2, 5, {{0, 1}, {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}}), .causal = true,
                                .p = 0.2f});
}

TEST(AttentionFused, DecodingStepsOfHeadsOf16To128InRegistersEqualComposed) {
  for (int64_t Dh : {16, 48, 64, 128})  // a query and its weighted sum held in registers
    for (int64_t T : {1, 2})
      expect_fused_equals_composed({.B = 2, .H = 2, .T = T, .S = 9, .Dh = Dh, .pad = padding(2, 9, {{0, 8}, {1, 0}}),
                                    .causal = true, .p = 0.2f});
}

TEST(AttentionFused, CausalQueriesAreTheLastOfTheKeys) {
  expect_fused_equals_composed({.B = 1, .H = 2, .T = 3, .S = 6, .Dh = 4, .causal = true});
}

TEST(AttentionFused, FullyMaskedRowAttendsUniformlyLikeComposed) {
  // batch 0: key 0 padded, so causal row 0 sees no key; batch 1: every key padded
  Case c{.B = 2, .H = 1, .T = 3, .S = 3, .Dh = 2, .pad = padding(2, 3, {{0, 0}, {1, 0}, {1, 1}, {1, 2}}),
         .causal = true};
  expect_fused_equals_composed(c);
  Tensor q = random_tensor({2, 3, 2}, -1, 1, 5), k = random_tensor({2, 3, 2}, -1, 1, 6);
  Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, {2, 3, 2});
  std::vector<float> y = attention(q, k, v, 1, c.pad, true, 1.0f).to_vector();
  EXPECT_NEAR(y[0], 3.0f, 1e-6f);  // batch 0, row 0: mean of all three values
  EXPECT_NEAR(y[1], 4.0f, 1e-6f);
  for (int i = 6; i < 12; i += 2) EXPECT_NEAR(y[size_t(i)], 3.0f, 1e-6f) << "batch 1, element " << i;
}

TEST(AttentionFused, HeadsOfAMultipleOf16ReadValuesAndKeysInPlaceAndEqualComposed) {
  expect_fused_equals_composed({.B = 2, .H = 2, .T = 5, .S = 7, .Dh = 16, .pad = padding(2, 7, {{1, 6}}),
                                .causal = true, .p = 0.2f});
}

TEST(AttentionFused, DropoutWithTheSameGeneratorStateEqualsComposed) {
  expect_fused_equals_composed(
      {.B = 2, .H = 2, .T = 4, .S = 5, .Dh = 4, .pad = padding(2, 5, {{1, 4}}), .causal = true, .p = 0.3f});
}

TEST(AttentionFused, DropoutTakesOneStreamAndDropsSomething) {
  Tensor q = random_tensor({1, 4, 4}, -1, 1, 1), k = random_tensor({1, 6, 4}, -1, 1, 2);
  Tensor v = random_tensor({1, 6, 4}, -1, 1, 3);
  Generator gen(3);
  Tensor dropped = attention(q, k, v, 1, Tensor(), false, 0.5f, 0.5f, &gen);
  EXPECT_EQ(gen.counter(), 1u);
  EXPECT_NE(dropped.to_vector(), attention(q, k, v, 1, Tensor(), false, 0.5f).to_vector());
}

TEST(AttentionFused, ManyBlocksOfQueriesAndKeysEqualComposed) {
  // 40 queries and 260 keys cross the 32-query and 128-key blocks; Dh 20 is not a multiple of 16
  std::vector<std::pair<int64_t, int64_t>> masked;
  for (int64_t s = 230; s < 260; ++s) masked.push_back({1, s});
  expect_fused_equals_composed({.B = 2, .H = 1, .T = 40, .S = 260, .Dh = 20, .pad = padding(2, 260, masked),
                                .causal = true, .p = 0.1f},
                               5e-5f);
}

TEST(AttentionFused, StridedRowsEqualContiguous) {
  // q as a slice of a wider projection: rows of 12 floats of which the first 8 are q
  Tensor wide = random_tensor({2, 3, 12}, -1, 1, 7), k = random_tensor({2, 5, 8}, -1, 1, 8);
  Tensor v = random_tensor({2, 5, 8}, -1, 1, 9);
  Tensor q = wide.slice(2, 0, 8);
  EXPECT_EQ(attention(q, k, v, 2, Tensor(), false, 0.5f).to_vector(),
            attention(q.contiguous(), k, v, 2, Tensor(), false, 0.5f).to_vector());
}

TEST(AttentionFused, HeadsMajorKeysAndValuesEqualSideBySideOnesWithGradients) {
  // decoding caches keep k and v as (B,H,S,Dh)
  const int64_t B = 2, T = 3, S = 5, H = 2, Dh = 4, D = H * Dh;
  Tensor q = random_tensor({B, T, D}, -1, 1, 1), k0 = random_tensor({B, S, D}, -1, 1, 2);
  Tensor v0 = random_tensor({B, S, D}, -1, 1, 3), dy = random_tensor({B, T, D}, -1, 1, 4);
  Tensor pad = padding(B, S, {{1, 4}});
  Tensor k1 = k0.clone().detach().set_requires_grad(), v1 = v0.clone().detach().set_requires_grad();
  Tensor y1 = attention(q, k1, v1, H, pad, true, 0.5f);
  y1.backward(dy);
  Tensor k2 = split(k0, H).contiguous().set_requires_grad(), v2 = split(v0, H).contiguous().set_requires_grad();
  Tensor y2 = attention(q, k2, v2, H, pad, true, 0.5f);
  y2.backward(dy);
  EXPECT_EQ(y2.to_vector(), y1.to_vector());
  EXPECT_EQ(merge(k2.grad()).to_vector(), k1.grad().to_vector());
  EXPECT_EQ(merge(v2.grad()).to_vector(), v1.grad().to_vector());
}

// Packed q|k|v (self) and q, k|v (cross) give the values and gradients of separate inputs.
TEST(AttentionFused, PackedQkvEqualsSeparateInputsWithGradients) {
  const int64_t B = 2, T = 5, H = 2, D = 8;
  Tensor qkv0 = random_tensor({B, T, 3 * D}, -1.5f, 1.5f, 1), dy = random_tensor({B, T, D}, -1, 1, 2);
  Tensor pad = padding(B, T, {{1, 4}});
  Tensor packed = qkv0.clone().detach().set_requires_grad();
  Generator gen1(4), gen2(4);
  Tensor y1 = attention_qkv(packed, H, pad, true, 0.4f, 0.2f, &gen1);
  y1.backward(dy);
  Tensor q = qkv0.slice(2, 0, D).contiguous().set_requires_grad(), k = qkv0.slice(2, D, 2 * D).contiguous().set_requires_grad(),
         v = qkv0.slice(2, 2 * D, 3 * D).contiguous().set_requires_grad();
  Tensor y2 = attention(q, k, v, H, pad, true, 0.4f, 0.2f, &gen2);
  y2.backward(dy);
  EXPECT_EQ(y1.to_vector(), y2.to_vector());
  EXPECT_EQ(packed.grad().to_vector(), concat({q.grad(), k.grad(), v.grad()}, 2).to_vector());
}

TEST(AttentionFused, PackedKvEqualsSeparateInputsWithGradients) {
  const int64_t B = 2, T = 3, S = 6, H = 2, D = 8;
  Tensor q0 = random_tensor({B, T, D}, -1.5f, 1.5f, 1), kv0 = random_tensor({B, S, 2 * D}, -1.5f, 1.5f, 2);
  Tensor dy = random_tensor({B, T, D}, -1, 1, 3), pad = padding(B, S, {{0, 5}, {1, 0}});
  Tensor q1 = q0.clone().detach().set_requires_grad(), kv = kv0.clone().detach().set_requires_grad();
  Tensor y1 = attention_q_kv(q1, kv, H, pad, false, 0.4f);
  y1.backward(dy);
  Tensor q2 = q0.clone().detach().set_requires_grad(), k = kv0.slice(2, 0, D).contiguous().set_requires_grad(),
         v = kv0.slice(2, D, 2 * D).contiguous().set_requires_grad();
  Tensor y2 = attention(q2, k, v, H, pad, false, 0.4f);
  y2.backward(dy);
  EXPECT_EQ(y1.to_vector(), y2.to_vector());
  EXPECT_EQ(q1.grad().to_vector(), q2.grad().to_vector());
  EXPECT_EQ(kv.grad().to_vector(), concat({k.grad(), v.grad()}, 2).to_vector());
}

TEST(AttentionFused, ResultDoesNotDependOnTheThreadCount) {
  Tensor q = random_tensor({4, 40, 64}, -1, 1, 1), k = random_tensor({4, 50, 64}, -1, 1, 2);
  Tensor v = random_tensor({4, 50, 64}, -1, 1, 3);
  const int saved = num_threads();
  set_num_threads(1);
  std::vector<float> one = attention(q, k, v, 4, Tensor(), false, 0.25f).to_vector();
  set_num_threads(2);
  std::vector<float> two = attention(q, k, v, 4, Tensor(), false, 0.25f).to_vector();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(AttentionFused, GradientsMatchCentralDifferences) {
  Tensor q = random_tensor({1, 3, 6}, -1, 1, 1), k = random_tensor({1, 4, 6}, -1, 1, 2);
  Tensor v = random_tensor({1, 4, 6}, -1, 1, 3);
  Tensor pad = padding(1, 4, {{0, 3}});
  EXPECT_TRUE(test::gradcheck(
      [&](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], 2, pad, true, 0.7f); }, {q, k, v}));
}

TEST(AttentionFused, PackedGradientsMatchCentralDifferences) {
  Tensor qkv = random_tensor({2, 3, 12}, -1, 1, 4);
  Tensor pad = padding(2, 3, {{1, 2}});
  EXPECT_TRUE(test::gradcheck(
      [&](const std::vector<Tensor>& in) { return attention_qkv(in[0], 2, pad, true, 0.7f); }, {qkv}));
}

// Backward assigning its gradients (the op's new gradient buffers) writes every element:
// into buffers of NaN it gives what adding into zeros gives, on the fp32 blocked path and
// (bf16 = true, from 64 positions) the bf16 one, with causality, a padded key, dropout, key
// blocks and several query blocks (T, S > 32, 128 across the (b,h) pairs).
void expect_assigned_gradients_equal_accumulated(int64_t T, int64_t S, int64_t Dh, bool bf16) {
  const int64_t B = 2, H = 2, D = H * Dh;
  const kernels::AttentionShape sh{B, H, T, S, Dh, bf16};
  const kernels::HeadStrides qs{T * D, Dh, D}, kvs{S * D, Dh, D};
  std::vector<float> pad(size_t(B * S), 0.0f);
  pad[size_t(2 * S - 1)] = 1.0f;
  const kernels::AttentionMask mask{pad.data(), true};
  const std::vector<float> q = random_tensor({B * T * D}, -1.5f, 1.5f, 1).to_vector(),
                           k = random_tensor({B * S * D}, -1.5f, 1.5f, 2).to_vector(),
                           v = random_tensor({B * S * D}, -1.5f, 1.5f, 3).to_vector(),
                           dout = random_tensor({B * T * D}, -1, 1, 4).to_vector();
  std::vector<uint16_t> bits(size_t(kernels::attention_keep_words(sh)));
  const kernels::AttentionDropout drop{0.2f, 5, 7, bits.data()};
  std::vector<float> o(size_t(B * T * D)), lse(size_t(B * H * T));
  kernels::attention_forward(o.data(), qs, lse.data(), q.data(), qs, k.data(), kvs, v.data(), kvs, 0.3f, sh, mask,
                             drop);
  std::vector<float> grads[2];
  for (int assign = 0; assign < 2; ++assign) {
    const float init = assign ? std::nanf("") : 0.0f;
    std::vector<float> dq(q.size(), init), dk(k.size(), init), dv(v.size(), init);
    kernels::attention_backward(dq.data(), qs, dk.data(), kvs, dv.data(), kvs, dout.data(), qs, o.data(), qs,
                                lse.data(), q.data(), qs, k.data(), kvs, v.data(), kvs, 0.3f, sh, mask, drop,
                                {assign == 1, assign == 1, assign == 1});
    grads[assign] = dq;
    grads[assign].insert(grads[assign].end(), dk.begin(), dk.end());
    grads[assign].insert(grads[assign].end(), dv.begin(), dv.end());
  }
  EXPECT_EQ(grads[1], grads[0]);
}

TEST(AttentionFused, BackwardAssigningNewGradientsWritesEveryElement) {
  expect_assigned_gradients_equal_accumulated(40, 150, 12, false);
  expect_assigned_gradients_equal_accumulated(70, 150, 20, true);
}

// bf16 products (gemm precision bf16) against fp32: the same values and gradients up to
// bf16's rounding of the operands (8 significant bits: relative 2^-9 per operand; the
// largest differences seen on these inputs are 3e-3, in y and dv).
void expect_bf16_close_to_fp32(const Case& c, float tol) {
  const float scale = 1.0f / std::sqrt(float(c.Dh));
  const int64_t D = c.H * c.Dh;
  Tensor q0 = random_tensor({c.B, c.T, D}, -1.5f, 1.5f, 1), k0 = random_tensor({c.B, c.S, D}, -1.5f, 1.5f, 2);
  Tensor v0 = random_tensor({c.B, c.S, D}, -1.0f, 1.0f, 3), dy = random_tensor({c.B, c.T, D}, -1.0f, 1.0f, 4);
  std::vector<std::vector<float>> out[2];
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    GemmPrecisionScope precision(bf16 ? GemmPrecision::bf16 : GemmPrecision::fp32);
    Tensor q = q0.clone().detach().set_requires_grad(), k = k0.clone().detach().set_requires_grad(),
           v = v0.clone().detach().set_requires_grad();
    Generator gen(11);
    Tensor y = attention(q, k, v, c.H, c.pad, c.causal, scale, c.p, &gen);
    y.backward(dy);
    out[bf16] = {y.to_vector(), q.grad().to_vector(), k.grad().to_vector(), v.grad().to_vector()};
  }
  const char* names[] = {"y", "dq", "dk", "dv"};
  for (size_t i = 0; i < 4; ++i) expect_near(out[1][i], out[0][i], tol, names[i]);
#if defined(__AVX512BF16__)
  EXPECT_NE(out[1][0], out[0][0]) << "bf16 products should round the operands";
#endif
}

TEST(AttentionFused, Bf16ProductsStayWithinBf16RoundingOfFp32) {
  expect_bf16_close_to_fp32({.B = 2, .H = 2, .T = 67, .S = 70, .Dh = 16, .pad = padding(2, 70, {{1, 69}, {1, 68}})},
                            5e-3f);
}

TEST(AttentionFused, Bf16CausalWithDropoutAndFullyMaskedRowsStaysNearFp32) {
  // odd sizes: Dh 5 and 65 keys pad the pairs of the bf16 products
  expect_bf16_close_to_fp32({.B = 2, .H = 1, .T = 65, .S = 65, .Dh = 5, .pad = padding(2, 65, {{0, 0}}),
                             .causal = true, .p = 0.2f},
                            5e-3f);
}

TEST(AttentionFused, Bf16ManyBlocksStayNearFp32) {
  expect_bf16_close_to_fp32({.B = 1, .H = 2, .T = 70, .S = 270, .Dh = 24, .causal = true, .p = 0.1f}, 5e-3f);
}

TEST(AttentionFused, Bf16PrecisionKeepsFp32ProductsBelow64Positions) {
  Tensor q = random_tensor({2, 30, 32}, -1, 1, 1), k = random_tensor({2, 30, 32}, -1, 1, 2);
  Tensor v = random_tensor({2, 30, 32}, -1, 1, 3);
  const std::vector<float> fp32 = attention(q, k, v, 2, Tensor(), true, 0.25f).to_vector();
  GemmPrecisionScope bf16(GemmPrecision::bf16);
  EXPECT_EQ(attention(q, k, v, 2, Tensor(), true, 0.25f).to_vector(), fp32);
}

TEST(AttentionFused, RejectsMismatchedKeys) {
  Tensor q = Tensor::zeros({1, 3, 4}), k = Tensor::zeros({1, 5, 3}), v = Tensor::zeros({1, 5, 4});
  try {
    attention(q, k, v, 2, Tensor(), false, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k must be f32 or bf16 (1, L, 4), got f32[1, 5, 3]"), std::string::npos) << e.what();
  }
}

TEST(AttentionFused, RejectsHeadsThatDoNotDivideTheModelDim) {
  Tensor q = Tensor::zeros({1, 3, 6});
  try {
    attention(q, q, q, 4, Tensor(), false, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 heads do not divide the model dim 6"), std::string::npos) << e.what();
  }
}

TEST(AttentionFused, RejectsAPaddingMaskOfTheWrongShape) {
  Tensor q = Tensor::zeros({2, 3, 4}), k = Tensor::zeros({2, 5, 4});
  try {
    attention(q, k, k, 1, Tensor::zeros({2, 1, 1, 3}), false, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("key padding mask f32[2, 1, 1, 3] does not match [2, 1, 1, 5]"),
              std::string::npos)
        << e.what();
  }
}

TEST(AttentionFused, RejectsCausalWithMoreQueriesThanKeys) {
  Tensor q = Tensor::zeros({1, 4, 2}), k = Tensor::zeros({1, 3, 2});
  try {
    attention(q, k, k, 1, Tensor(), true, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("causal with 4 queries but only 3 keys"), std::string::npos) << e.what();
  }
}

TEST(AttentionFused, RejectsDropoutWithoutAGenerator) {
  Tensor q = Tensor::zeros({1, 2, 2});
  try {
    attention(q, q, q, 1, Tensor(), false, 1.0f, 0.1f, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dropout 0.1 needs a generator"), std::string::npos) << e.what();
  }
}
