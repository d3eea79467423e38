// bf16 weights for linear(): rounded for the forward product and for dx, and cached
// (rounded once) while a Bf16WeightCache lives.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error_of.h"
#include "common/expect.h"
#include "common/gradcheck.h"
#include "core/bf16_weights.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"

using namespace attend;

namespace {
const float kOff = 1.0f + std::ldexp(1.0f, -10);  // not a bf16: rounds to 1
}

TEST(Bf16Weights, LinearBackwardUsesTheRoundedWeightForDx) {
  GemmPrecisionScope bf16(GemmPrecision::bf16);
  Tensor x = Tensor::from_vector({2.0f}, {1, 1}).set_requires_grad(true);
  Tensor w = Tensor::from_vector({kOff}, {1, 1}).set_requires_grad(true);
  Tensor y = linear(x, w);
  EXPECT_EQ(y.item(), 2.0f);
  y.backward();
  EXPECT_EQ(x.grad().item(), 1.0f);  // dy @ bf16(w) = 1 * 1
  EXPECT_EQ(w.grad().item(), 2.0f);  // dy^T @ x
}

TEST(Bf16Weights, RoundsEachElementToNearestEven) {
  Tensor w = Tensor::from_vector({kOff, -3.0f, 1.0f + 3 * std::ldexp(1.0f, -8), 0.0f}, {2, 2});
  Tensor r = bf16_weight(w);
  ASSERT_EQ(r.dtype(), DType::bf16);
  ASSERT_EQ(r.shape(), w.shape());
  const bf16* p = r.data_as<bf16>();
  EXPECT_EQ(from_bf16(p[0]), 1.0f);
  EXPECT_EQ(from_bf16(p[1]), -3.0f);
  EXPECT_EQ(from_bf16(p[2]), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(from_bf16(p[3]), 0.0f);
}

TEST(Bf16Weights, CacheRoundsAWeightOnceWhileItLives) {
  GemmPrecisionScope bf16(GemmPrecision::bf16);
  Tensor x = Tensor::from_vector({1.0f}, {1, 1});
  Tensor w = Tensor::from_vector({2.0f}, {1, 1});
  {
    Bf16WeightCache cache;
    EXPECT_EQ(linear(x, w).item(), 2.0f);
    EXPECT_EQ(Bf16WeightCache::size(), 1);
    w.fill_(4.0f);  // not seen: the cached copy is used (weights must not change in a cache's life)
    EXPECT_EQ(linear(x, w).item(), 2.0f);
    EXPECT_EQ(Bf16WeightCache::size(), 1);
  }
  EXPECT_EQ(Bf16WeightCache::size(), 0);
  EXPECT_EQ(linear(x, w).item(), 4.0f);  // without a cache, rounded afresh each call
}

TEST(Bf16Weights, NonContiguousInputIsAnError) {
  Tensor w = Tensor::zeros({2, 3}).transpose(0, 1);
  try {
    bf16_weight(w);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("need a contiguous f32 tensor"), std::string::npos) << e.what();
  }
}

TEST(Bf16Weights, CachedConcatIsMadeOnceWhileACacheLivesAndNullWithout) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}), b = Tensor::from_vector({5, 6}, {1, 2});
  EXPECT_FALSE(cached_concat({a, b}).defined());
  Bf16WeightCache cache;
  Tensor ab = cached_concat({a, b});
  EXPECT_EQ(ab.shape(), Shape({3, 2}));
  EXPECT_EQ(ab.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(cached_concat({a, b}).shares_storage(ab));  // the same tensor again
  EXPECT_FALSE(cached_concat({b, a}).shares_storage(ab));  // another order is another concatenation
  EXPECT_EQ(cached_concat({b, a}).to_vector(), (std::vector<float>{5, 6, 1, 2, 3, 4}));
}

TEST(Bf16Weights, CachedConcatOfUnlikePartsNamesThem) {
  Bf16WeightCache cache;
  try {
    cached_concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 4})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[2, 4] and f32[2, 3]"), std::string::npos) << e.what();
  }
}

// Under a cache, linear() without gradients multiplies by the weight packed for oneDNN and
// adds the bias in the product's epilogue: the plain product's values, relu included.
TEST(Bf16Weights, PackedWeightWithBiasGivesThePlainProduct) {
  const int64_t M = 5, K = 64, N = 48;
  Tensor x = test::random_tensor({M, K}, -1, 1, 1), w = test::random_tensor({N, K}, -1, 1, 2);
  Tensor b = test::random_tensor({N}, -1, 1, 3);
  for (GemmPrecision precision : {GemmPrecision::fp32, GemmPrecision::bf16}) {
    GemmPrecisionScope scope(precision);
    NoGradGuard no_grad;
    const std::vector<float> plain = linear(x, w, b).to_vector(), plain_relu = linear_relu(x, w, b).to_vector();
    Bf16WeightCache cache;
    // the packed product runs (oneDNN has a kernel for these sizes), bias in its epilogue
    detail::PackedWeight* packed = packed_weight(w, precision == GemmPrecision::bf16, M);
    ASSERT_NE(packed, nullptr);
    if (precision == GemmPrecision::fp32) {
      std::vector<float> y(size_t(M * N));
      ASSERT_TRUE(detail::gemm_packed(*packed, M, x.data(), K, b.data(), y.data(), N));
      test::expect_near(y, plain, 1e-5f);
    }
    test::expect_near(linear(x, w, b).to_vector(), plain, 1e-5f);
    test::expect_near(linear_relu(x, w, b).to_vector(), plain_relu, 1e-5f);
  }
}

TEST(Bf16Weights, CopyScopeServesTheRegisteredCopyWhileItLives) {
  Tensor w = Tensor::from_vector({kOff, 2.0f}, {1, 2});
  Tensor copy = Tensor::empty({1, 2}, DType::bf16);
  copy.data_as<bf16>()[0] = to_bf16(5.0f);  // not w's rounding: shows which one is used
  copy.data_as<bf16>()[1] = to_bf16(6.0f);
  {
    Bf16CopyScope scope({{w, copy}});
    const Tensor r = bf16_weight(w);
    EXPECT_EQ(r.data_as<bf16>(), copy.data_as<bf16>());
    Tensor other = Tensor::empty({1, 2}, DType::bf16);
    {
      Bf16CopyScope inner({{w, other}});
      EXPECT_EQ(bf16_weight(w).data_as<bf16>(), other.data_as<bf16>());  // the newest wins
    }
    EXPECT_EQ(bf16_weight(w).data_as<bf16>(), copy.data_as<bf16>());
    // bf16 training's products read it: x = (1, 1) -> 5 + 6
    GemmPrecisionScope bf16(GemmPrecision::bf16);
    EXPECT_EQ(linear(Tensor::from_vector({1.0f, 1.0f}, {1, 2}), w).item(), 11.0f);
  }
  const Tensor r = bf16_weight(w);  // rounded afresh again
  EXPECT_NE(r.data_as<bf16>(), copy.data_as<bf16>());
  EXPECT_EQ(from_bf16(r.data_as<bf16>()[0]), 1.0f);
}

TEST(Bf16Weights, CopyScopeNamesACopyThatDoesNotFit) {
  Tensor w = Tensor::zeros({2, 3});
  const std::string message = error_of([&] { Bf16CopyScope scope({{w, Tensor::zeros({3, 2}, DType::bf16)}}); });
  EXPECT_NE(message.find("bf16 copies of their shape"), std::string::npos) << message;
  EXPECT_NE(message.find("[3, 2]"), std::string::npos) << message;
}
