// Fused attention on bf16 operands (what bf16 training saves for backward): the kernels
// widen each stored value to fp32 as they read it, so forward and backward equal the fp32
// kernels run on the same rounded values, on each of the three paths (a decoding-size
// direct path, fp32 blocked products, bf16 blocked products), as do an fp32 q's products
// with bf16 keys and values (a bf16 decoding cache); the op in bf16 training holds bf16
// copies of q, k, v and its output instead of the fp32 tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/expect.h"
#include "common/gradcheck.h"
#include "core/allocator.h"
#include "core/gemm_bf16.h"
#include "core/kernels_attention.h"
#include "core/ops.h"

using namespace attend;
using test::expect_near;
using test::random_tensor;

namespace {

struct Shape4 {
  int64_t B, H, T, S, Dh;
};

// n values in [-1.5, 1.5) rounded to bf16, both as bf16 and widened back to fp32.
struct Rounded {
  std::vector<bf16> b;
  std::vector<float> f;
};
Rounded rounded(int64_t n, uint64_t seed) {
  const std::vector<float> x = random_tensor({n}, -1.5f, 1.5f, seed).to_vector();
  Rounded r;
  for (float v : x) {
    r.b.push_back(to_bf16(v));
    r.f.push_back(from_bf16(r.b.back()));
  }
  return r;
}

// Forward and backward of the kernels on bf16 operands equal those on their fp32 values:
// the same arithmetic on the same numbers, up to the order of vectorised sums (a last-bit
// difference in a row's delta shows where dO V^T nearly cancels it). Heads side by side in (B,L,H*Dh)
// rows; a padded key, causality and dropout (with saved keep bits) included.
void expect_bf16_operands_equal_fp32_values(const Shape4& s, bool bf16_products) {
  const int64_t D = s.H * s.Dh;
  const kernels::AttentionShape sh{s.B, s.H, s.T, s.S, s.Dh, bf16_products};
  const kernels::HeadStrides qs{s.T * D, s.Dh, D}, kvs{s.S * D, s.Dh, D};
  std::vector<float> pad(size_t(s.B * s.S), 0.0f);
  pad[size_t(s.S - 1)] = 1.0f;  // batch 0's last key
  const kernels::AttentionMask mask{pad.data(), true};
  const Rounded q = rounded(s.B * s.T * D, 1), k = rounded(s.B * s.S * D, 2), v = rounded(s.B * s.S * D, 3);
  const std::vector<float> dout = random_tensor({s.B * s.T * D}, -1, 1, 4).to_vector();
  // A power of two: scaling is exact, so scaling q (fp32 values) or the scores (bf16
  // operands, which the bf16 products do not round twice) gives the same numbers.
  const float scale = 0.5f;
  std::vector<float> out[2], lse[2], grads[2];
  std::vector<uint16_t> bits[2];
  for (int stored16 = 0; stored16 < 2; ++stored16) {
    bits[stored16].assign(size_t(kernels::attention_keep_words(sh)), 0);
    const kernels::AttentionDropout drop{0.2f, 5, 7, bits[stored16].data()};
    out[stored16].assign(size_t(s.B * s.T * D), 0.0f);
    lse[stored16].assign(size_t(s.B * s.H * s.T), 0.0f);
    std::vector<float> dq(q.f.size(), 0.0f), dk(k.f.size(), 0.0f), dv(v.f.size(), 0.0f);
    float* o = out[stored16].data();
    if (stored16) {
      kernels::attention_forward(o, qs, lse[1].data(), q.b.data(), qs, k.b.data(), kvs, v.b.data(), kvs, scale, sh,
                                 mask, drop);
      // backward reads o as bf16 too: that of the fp32 run, rounded, for both
      std::vector<bf16> o16;
      for (float x : out[0]) o16.push_back(to_bf16(x));
      kernels::attention_backward(dq.data(), qs, dk.data(), kvs, dv.data(), kvs, dout.data(), qs, o16.data(), qs,
                                  lse[1].data(), q.b.data(), qs, k.b.data(), kvs, v.b.data(), kvs, scale, sh, mask,
                                  drop);
    } else {
      kernels::attention_forward(o, qs, lse[0].data(), q.f.data(), qs, k.f.data(), kvs, v.f.data(), kvs, scale, sh,
                                 mask, drop);
      std::vector<float> o32;
      for (float x : out[0]) o32.push_back(from_bf16(to_bf16(x)));
      kernels::attention_backward(dq.data(), qs, dk.data(), kvs, dv.data(), kvs, dout.data(), qs, o32.data(), qs,
                                  lse[0].data(), q.f.data(), qs, k.f.data(), kvs, v.f.data(), kvs, scale, sh, mask,
                                  drop);
    }
    grads[stored16] = dq;
    grads[stored16].insert(grads[stored16].end(), dk.begin(), dk.end());
    grads[stored16].insert(grads[stored16].end(), dv.begin(), dv.end());
  }
  expect_near(out[1], out[0], 1e-6f);
  expect_near(lse[1], lse[0], 1e-6f);
  EXPECT_EQ(bits[1], bits[0]);
  expect_near(grads[1], grads[0], 1e-6f);
  EXPECT_NE(std::count(bits[0].begin(), bits[0].end(), uint16_t(0xffff)), int64_t(bits[0].size()))
      << "dropout should drop something";
}

// Forward with an fp32 q and bf16 keys and values (a bf16 decoding cache, heads-major
// (B,H,S,Dh)) equals forward on the keys' and values' fp32 values.
void expect_bf16_keys_equal_fp32_values(const Shape4& s, bool bf16_products) {
  const int64_t D = s.H * s.Dh;
  const kernels::AttentionShape sh{s.B, s.H, s.T, s.S, s.Dh, bf16_products};
  const kernels::HeadStrides qs{s.T * D, s.Dh, D}, kvs{s.H * s.S * s.Dh, s.S * s.Dh, s.Dh};
  const std::vector<float> q = random_tensor({s.B * s.T * D}, -1.5f, 1.5f, 1).to_vector();
  const Rounded k = rounded(s.B * s.S * D, 2), v = rounded(s.B * s.S * D, 3);
  std::vector<float> out[2];
  for (int stored16 = 0; stored16 < 2; ++stored16) {
    out[stored16].assign(size_t(s.B * s.T * D), 0.0f);
    if (stored16)
      kernels::attention_forward(out[1].data(), qs, nullptr, q.data(), qs, k.b.data(), kvs, v.b.data(), kvs, 0.125f,
                                 sh, {}, {});
    else
      kernels::attention_forward(out[0].data(), qs, nullptr, q.data(), qs, k.f.data(), kvs, v.f.data(), kvs, 0.125f,
                                 sh, {}, {});
  }
  expect_near(out[1], out[0], 1e-6f);
}

int64_t bytes_in_use() { return allocator().stats().bytes_in_use; }

}  // namespace

TEST(AttentionBf16Operands, DecodingSizeDirectPathEqualsFp32Values) {
  expect_bf16_operands_equal_fp32_values({2, 2, 2, 9, 16}, false);
}

TEST(AttentionBf16Operands, Fp32BlockedProductsEqualFp32Values) {
  expect_bf16_operands_equal_fp32_values({2, 2, 30, 33, 16}, false);  // in place for fp32 rows: copied for bf16
  expect_bf16_operands_equal_fp32_values({1, 2, 30, 30, 5}, false);   // padded head rows
}

TEST(AttentionBf16Operands, Bf16BlockedProductsEqualFp32Values) {
  expect_bf16_operands_equal_fp32_values({2, 2, 67, 70, 16}, true);
  expect_bf16_operands_equal_fp32_values({1, 1, 65, 65, 5}, true);
}

TEST(AttentionBf16Operands, Bf16CachedKeysAndValuesEqualTheirFp32Values) {
  expect_bf16_keys_equal_fp32_values({2, 3, 1, 21, 64}, false);  // a decoding step, in registers
  expect_bf16_keys_equal_fp32_values({2, 2, 2, 9, 24}, false);   // generic loops
  expect_bf16_keys_equal_fp32_values({2, 2, 30, 33, 16}, false);  // blocked fp32 products
  expect_bf16_keys_equal_fp32_values({1, 2, 67, 70, 16}, true);   // blocked bf16 products
}

TEST(AttentionBf16Operands, Bf16KeysAndValuesTakeNoGradients) {
  Tensor q = random_tensor({1, 1, 8}, -1, 1, 1).set_requires_grad();
  Tensor kv = to_dtype(random_tensor({1, 2, 3, 4}, -1, 1, 2), DType::bf16);
  test::expect_error([&] { attention(q, kv, kv, 2, Tensor(), false, 0.5f); }, {"bf16 keys and values", "no gradients"});
}

TEST(AttentionBf16Operands, KeysAndValuesOfDifferentTypesAreNamed) {
  Tensor q = random_tensor({1, 1, 8}, -1, 1, 1);
  Tensor k = to_dtype(random_tensor({1, 2, 3, 4}, -1, 1, 2), DType::bf16), v = random_tensor({1, 2, 3, 4}, -1, 1, 3);
  test::expect_error([&] { attention(q, k, v, 2, Tensor(), false, 0.5f); },
                     {"v f32[1, 2, 3, 4] is not f32 or bf16 (1, 2, S, 4) like k"});
}

// In bf16 training the op keeps bf16 copies of q|k|v and of its output for backward, so the
// fp32 tensors go as soon as their other users let them go; fp32 training keeps both.
TEST(AttentionBf16Operands, Bf16TrainingHoldsNoFp32OperandsOrOutput) {
  const int64_t B = 2, T = 30, D = 64, bytes = B * T * 3 * D * 4, out_bytes = B * T * D * 4;
  for (GemmPrecision precision : {GemmPrecision::fp32, GemmPrecision::bf16}) {
    GemmPrecisionScope scope(precision);
    Tensor leaf = random_tensor({B, T, 3 * D}, -1, 1, 1).set_requires_grad();
    Tensor qkv = leaf * 1.0f;  // an op's result, as the projection's is
    Tensor y = attention_qkv(qkv, 4, Tensor(), true, 0.25f);
    Tensor loss = sum(y);
    const int64_t before = bytes_in_use();
    qkv = Tensor();
    y = Tensor();
    const int64_t freed = before - bytes_in_use();
    if (precision == GemmPrecision::bf16) {
      EXPECT_EQ(freed, int64_t(CachingAllocator::round_size(bytes)) + int64_t(CachingAllocator::round_size(out_bytes)));
    } else {
      EXPECT_EQ(freed, 0) << "fp32 training saves the fp32 operands and output";
    }
    loss.backward();
    EXPECT_EQ(leaf.grad().shape(), leaf.shape());
  }
}

// Outputs and gradients in bf16 training are those of attention on the rounded q|k|v, up
// to bf16 products (from 16 positions with bf16 operands: probabilities, dO and dS rounded
// too) and delta's use of the rounded output: the tolerance of the other bf16-product
// tests (test_attention_fused.cpp); the largest differences here are 3.1e-3.
void expect_bf16_training_near_fp32_on_rounded_inputs(int64_t T, int64_t D, int64_t heads, float p) {
  const int64_t B = 2;
  Tensor x = random_tensor({B, T, 3 * D}, -1.5f, 1.5f, 1);
  std::vector<float> xr = x.to_vector();
  for (float& v : xr) v = from_bf16(to_bf16(v));
  Tensor dy = random_tensor({B, T, D}, -1, 1, 2);
  std::vector<float> results[2];
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    GemmPrecisionScope scope(bf16 ? GemmPrecision::bf16 : GemmPrecision::fp32);
    Tensor leaf = (bf16 ? x : Tensor::from_vector(xr, x.shape())).clone().detach().set_requires_grad();
    Generator gen(3);
    Tensor y = attention_qkv(leaf * 1.0f, heads, Tensor(), true, 1.0f / std::sqrt(float(D / heads)), p, &gen);
    y.backward(dy);
    results[bf16] = y.to_vector();
    const std::vector<float> g = leaf.grad().to_vector();
    results[bf16].insert(results[bf16].end(), g.begin(), g.end());
  }
  expect_near(results[1], results[0], 5e-3f);
}

TEST(AttentionBf16Operands, Bf16TrainingStaysNearFp32OnRoundedInputs) {
  expect_bf16_training_near_fp32_on_rounded_inputs(30, 64, 4, 0.0f);  // bf16 products from 16 positions
  expect_bf16_training_near_fp32_on_rounded_inputs(17, 10, 2, 0.2f);  // odd head size, dropout
  expect_bf16_training_near_fp32_on_rounded_inputs(9, 32, 2, 0.0f);   // fp32 products below 16
}

// bf16 training keeps attention's projections in bf16 (linear into bf16): the fused op
// reads those rows as they are, and values and gradients (through the projection to x, w,
// b) equal those of f32 projections, which the op rounds itself; self (q|k|v) and cross
// (q, k|v) attention, with padding, causality and dropout.
TEST(AttentionBf16Operands, Bf16ProjectionsEqualF32OnesRoundedByTheOp) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  const int64_t B = 2, T = 20, S = 24, H = 2, D = 32;
  const Tensor x0 = random_tensor({B, T, D}, -1, 1, 1), m0 = random_tensor({B, S, D}, -1, 1, 2);
  const Tensor wqkv0 = random_tensor({3 * D, D}, -0.5f, 0.5f, 3), bqkv0 = random_tensor({3 * D}, -0.5f, 0.5f, 4);
  const Tensor dy = random_tensor({B, T, D}, -1, 1, 5);
  std::vector<float> pad(size_t(B * S), 0.0f);
  pad[size_t(2 * S - 1)] = 1.0f;
  const Tensor key_padding = Tensor::from_vector(pad, {B, 1, 1, S});
  std::vector<std::vector<float>> got[2];
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    const DType type = bf16 ? DType::bf16 : DType::f32;
    Tensor x = x0.clone().detach().set_requires_grad(), m = m0.clone().detach().set_requires_grad();
    Tensor w = wqkv0.clone().detach().set_requires_grad(), b = bqkv0.clone().detach().set_requires_grad();
    Generator gen1(7), gen2(8);
    const Tensor qkv = linear(x, w, b, type);
    ASSERT_EQ(qkv.dtype(), type);
    const Tensor self = attention_qkv(qkv, H, key_padding.slice(3, 0, T), true, 0.25f, 0.1f, &gen1);
    const Tensor q = linear(x, w.slice(0, 0, D), b.slice(0, 0, D), type);
    const Tensor kv = linear(m, w.slice(0, D, 3 * D), b.slice(0, D, 3 * D), type);
    const Tensor cross = attention_q_kv(q, kv, H, key_padding, false, 0.25f, 0.1f, &gen2);
    (self + cross).backward(dy);
    got[bf16] = {self.to_vector(), cross.to_vector(), x.grad().to_vector(), m.grad().to_vector(),
                 w.grad().to_vector(), b.grad().to_vector()};
  }
  const char* names[] = {"self", "cross", "dx", "dm", "dw", "db"};
  for (size_t i = 0; i < 6; ++i) {
    SCOPED_TRACE(names[i]);
    expect_near(got[1][i], got[0][i], 1e-5f);
  }
}

// bf16 rows whose columns are not adjacent are copied first; the copy passes their
// gradient back (contiguous() records bf16 tensors too).
TEST(AttentionBf16Operands, StridedBf16RowsPassTheirGradients) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  const Tensor x = random_tensor({1, 4, 8}, -1, 1, 1), wq = random_tensor({8, 8}, -1, 1, 3);
  const Tensor z0 = random_tensor({1, 8, 6}, -1, 1, 2), wk = random_tensor({4, 6}, -1, 1, 4);
  const Tensor dy = random_tensor({1, 4, 8}, -1, 1, 5);
  std::vector<float> dz[2];
  for (int copied = 0; copied < 2; ++copied) {
    Tensor z = z0.clone().detach().set_requires_grad();
    const Tensor q = linear(x, wq, Tensor(), DType::bf16);                                    // (1,4,8)
    const Tensor k = linear(z, wk, Tensor(), DType::bf16).transpose(1, 2);  // (1,4,8), columns 4 apart
    ASSERT_NE(k.stride(-1), 1);
    attention(q, copied ? contiguous(k) : k, q, 2, Tensor(), false, 0.5f).backward(dy);
    ASSERT_TRUE(z.grad().defined());
    dz[copied] = z.grad().to_vector();
  }
  EXPECT_EQ(dz[0], dz[1]);
  EXPECT_NE(std::count(dz[0].begin(), dz[0].end(), 0.0f), int64_t(dz[0].size())) << "no gradient reached z";
}
