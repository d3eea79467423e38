// Global-norm gradient clipping.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/clip.h"
#include "optim_test_util.h"

using namespace attend;
using namespace attend::test;

namespace {

// Two parameters with gradients [3] and [0, 4]: global norm 5.
NamedParams norm5() {
  NamedParams params = {{"a", param({0})}, {"b", param({0, 0})}};
  set_grad(params[0].second, {3});
  set_grad(params[1].second, {0, 4});
  return params;
}

}  // namespace

TEST(ClipGradNorm, ScalesGradientsDownToTheMaxNorm) {
  NamedParams params = norm5();
  EXPECT_FLOAT_EQ(clip_grad_norm(params, 1.0f), 5.0f);  // the norm before clipping
  // scaled by 1 / (5 + 1e-6)
  expect_values(params[0].second.grad(), {0.6f});
  expect_values(params[1].second.grad(), {0, 0.8f});
  EXPECT_NEAR(clip_grad_norm(params, 0), 1.0f, 1e-6f);
}

TEST(ClipGradNorm, LeavesSmallGradientsAlone) {
  NamedParams params = norm5();
  EXPECT_FLOAT_EQ(clip_grad_norm(params, 10.0f), 5.0f);
  EXPECT_EQ(params[0].second.grad().to_vector(), (std::vector<float>{3}));
  EXPECT_EQ(params[1].second.grad().to_vector(), (std::vector<float>{0, 4}));
}

TEST(ClipGradNorm, NonPositiveMaxNormOnlyComputesTheNorm) {
  NamedParams params = norm5();
  EXPECT_FLOAT_EQ(clip_grad_norm(params, 0), 5.0f);
  EXPECT_FLOAT_EQ(clip_grad_norm(params, -1), 5.0f);
  EXPECT_EQ(params[1].second.grad().to_vector(), (std::vector<float>{0, 4}));
}

TEST(ClipGradNorm, SkipsParametersWithoutGradient) {
  NamedParams params = norm5();
  params.emplace_back("frozen", param({100}));
  EXPECT_FLOAT_EQ(clip_grad_norm(params, 0), 5.0f);
  EXPECT_FALSE(params[2].second.grad().defined());
}

TEST(ClipGradNorm, SumsManyBlocksInDouble) {
  // 3 * 2^16 + 5 elements of 0.001 plus one of 1e4: float accumulation would lose the small ones.
  const int64_t n = 3 * 65536 + 5;
  NamedParams params = {{"big", param(std::vector<float>(n, 0.0f))}, {"one", param({0})}};
  set_grad(params[0].second, std::vector<float>(n, 1e-3f));
  set_grad(params[1].second, {1e4f});
  double expected = std::sqrt(double(n) * double(1e-3f) * double(1e-3f) + 1e8);
  EXPECT_FLOAT_EQ(clip_grad_norm(params, 0), float(expected));
}

TEST(ClipGradNorm, NonFiniteNormIsReturnedAndNothingIsScaled) {
  NamedParams params = norm5();
  set_grad(params[0].second, {INFINITY});
  EXPECT_TRUE(std::isinf(clip_grad_norm(params, 1.0f)));
  EXPECT_EQ(params[1].second.grad().to_vector(), (std::vector<float>{0, 4}));
}
