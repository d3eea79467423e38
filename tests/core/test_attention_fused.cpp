// Fused attention against the composed path (matmul, masked_fill, softmax, dropout,
// matmul, as layers/attention.cpp builds it): values and gradients of q, k and v for
// self, causal, cross and decoding shapes, fully masked rows, dropout, several blocks;
// a central-difference check; bad inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "common/gradcheck.h"
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

Tensor composed(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& pad, bool causal, float scale,
                float p, Generator* gen) {
  Tensor scores = matmul(q * scale, k.transpose(2, 3));
  if (pad.defined()) scores = masked_fill(scores, pad, kMasked);
  if (causal && q.size(2) > 1) scores = masked_fill(scores, causal_mask(q.size(2), k.size(2)), kMasked);
  Tensor probs = softmax(scores);
  if (p > 0.0f) probs = dropout(probs, p, *gen);
  return matmul(probs, v);
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
  Tensor q0 = random_tensor({c.B, c.H, c.T, c.Dh}, -1.5f, 1.5f, 1);
  Tensor k0 = random_tensor({c.B, c.H, c.S, c.Dh}, -1.5f, 1.5f, 2);
  Tensor v0 = random_tensor({c.B, c.H, c.S, c.Dh}, -1.0f, 1.0f, 3);
  Tensor dy = random_tensor({c.B, c.H, c.T, c.Dh}, -1.0f, 1.0f, 4);
  std::vector<std::vector<float>> out[2];
  for (int fused = 0; fused < 2; ++fused) {
    Tensor q = q0.clone().detach().set_requires_grad(), k = k0.clone().detach().set_requires_grad(),
           v = v0.clone().detach().set_requires_grad();
    Generator gen(11);
    Tensor y = fused ? attention(q, k, v, c.pad, c.causal, scale, c.p, &gen)
                     : composed(q, k, v, c.pad, c.causal, scale, c.p, &gen);
    ASSERT_EQ(y.shape(), Shape({c.B, c.H, c.T, c.Dh}));
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

TEST(AttentionFused, CausalQueriesAreTheLastOfTheKeys) {
  expect_fused_equals_composed({.B = 1, .H = 2, .T = 3, .S = 6, .Dh = 4, .causal = true});
}

TEST(AttentionFused, FullyMaskedRowAttendsUniformlyLikeComposed) {
  // batch 0: key 0 padded, so causal row 0 sees no key; batch 1: every key padded
  Case c{.B = 2, .H = 1, .T = 3, .S = 3, .Dh = 2, .pad = padding(2, 3, {{0, 0}, {1, 0}, {1, 1}, {1, 2}}),
         .causal = true};
  expect_fused_equals_composed(c);
  Tensor q = random_tensor({2, 1, 3, 2}, -1, 1, 5), k = random_tensor({2, 1, 3, 2}, -1, 1, 6);
  Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, {2, 1, 3, 2});
  std::vector<float> y = attention(q, k, v, c.pad, true, 1.0f).to_vector();
  EXPECT_NEAR(y[0], 3.0f, 1e-6f);  // batch 0, row 0: mean of all three values
  EXPECT_NEAR(y[1], 4.0f, 1e-6f);
  for (int i = 6; i < 12; i += 2) EXPECT_NEAR(y[size_t(i)], 3.0f, 1e-6f) << "batch 1, element " << i;
}

TEST(AttentionFused, DropoutWithTheSameGeneratorStateEqualsComposed) {
  expect_fused_equals_composed(
      {.B = 2, .H = 2, .T = 4, .S = 5, .Dh = 4, .pad = padding(2, 5, {{1, 4}}), .causal = true, .p = 0.3f});
}

TEST(AttentionFused, DropoutTakesOneStreamAndDropsSomething) {
  Tensor q = random_tensor({1, 1, 4, 4}, -1, 1, 1), k = random_tensor({1, 1, 6, 4}, -1, 1, 2);
  Tensor v = random_tensor({1, 1, 6, 4}, -1, 1, 3);
  Generator gen(3);
  Tensor dropped = attention(q, k, v, Tensor(), false, 0.5f, 0.5f, &gen);
  EXPECT_EQ(gen.counter(), 1u);
  EXPECT_NE(dropped.to_vector(), attention(q, k, v, Tensor(), false, 0.5f).to_vector());
}

TEST(AttentionFused, ManyBlocksOfQueriesAndKeysEqualComposed) {
  // 40 queries and 260 keys cross the 32-query and 128-key blocks; Dh 20 is not a multiple of 16
  std::vector<std::pair<int64_t, int64_t>> masked;
  for (int64_t s = 230; s < 260; ++s) masked.push_back({1, s});
  expect_fused_equals_composed({.B = 2, .H = 1, .T = 40, .S = 260, .Dh = 20, .pad = padding(2, 260, masked),
                                .causal = true, .p = 0.1f},
                               5e-5f);
}

TEST(AttentionFused, StridedHeadsEqualContiguous) {
  // q as split_heads makes it: (B,T,H,Dh) storage seen as (B,H,T,Dh)
  Tensor x = random_tensor({2, 3, 2, 4}, -1, 1, 7), k = random_tensor({2, 2, 5, 4}, -1, 1, 8);
  Tensor v = random_tensor({2, 2, 5, 4}, -1, 1, 9);
  Tensor q = x.permute({0, 2, 1, 3});
  EXPECT_EQ(attention(q, k, v, Tensor(), false, 0.5f).to_vector(),
            attention(q.contiguous(), k, v, Tensor(), false, 0.5f).to_vector());
}

TEST(AttentionFused, ResultDoesNotDependOnTheThreadCount) {
  Tensor q = random_tensor({4, 4, 40, 16}, -1, 1, 1), k = random_tensor({4, 4, 50, 16}, -1, 1, 2);
  Tensor v = random_tensor({4, 4, 50, 16}, -1, 1, 3);
  const int saved = num_threads();
  set_num_threads(1);
  std::vector<float> one = attention(q, k, v, Tensor(), false, 0.25f).to_vector();
  set_num_threads(2);
  std::vector<float> two = attention(q, k, v, Tensor(), false, 0.25f).to_vector();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(AttentionFused, GradientsMatchCentralDifferences) {
  Tensor q = random_tensor({1, 2, 3, 3}, -1, 1, 1), k = random_tensor({1, 2, 4, 3}, -1, 1, 2);
  Tensor v = random_tensor({1, 2, 4, 3}, -1, 1, 3);
  Tensor pad = padding(1, 4, {{0, 3}});
  EXPECT_TRUE(test::gradcheck(
      [&](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], pad, true, 0.7f); }, {q, k, v}));
}

TEST(AttentionFused, RejectsMismatchedKeys) {
  Tensor q = Tensor::zeros({1, 2, 3, 4}), k = Tensor::zeros({1, 2, 5, 3}), v = Tensor::zeros({1, 2, 5, 4});
  try {
    attention(q, k, v, Tensor(), false, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k f32[1, 2, 5, 3] and v f32[1, 2, 5, 4] must both be [1, 2, S, 4]"),
              std::string::npos)
        << e.what();
  }
}

TEST(AttentionFused, RejectsAPaddingMaskOfTheWrongShape) {
  Tensor q = Tensor::zeros({2, 1, 3, 4}), k = Tensor::zeros({2, 1, 5, 4});
  try {
    attention(q, k, k, Tensor::zeros({2, 1, 1, 3}), false, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("key padding mask f32[2, 1, 1, 3] does not match [2, 1, 1, 5]"),
              std::string::npos)
        << e.what();
  }
}

TEST(AttentionFused, RejectsCausalWithMoreQueriesThanKeys) {
  Tensor q = Tensor::zeros({1, 1, 4, 2}), k = Tensor::zeros({1, 1, 3, 2});
  try {
    attention(q, k, k, Tensor(), true, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("causal with 4 queries but only 3 keys"), std::string::npos) << e.what();
  }
}

TEST(AttentionFused, RejectsDropoutWithoutAGenerator) {
  Tensor q = Tensor::zeros({1, 1, 2, 2});
  try {
    attention(q, q, q, Tensor(), false, 1.0f, 0.1f, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dropout 0.1 needs a generator"), std::string::npos) << e.what();
  }
}
