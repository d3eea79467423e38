// The vectorisable exp/tanh/erf of kernels_math.h against libm in double, on dense
// grids, and at the special values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/kernels_math.h"

using namespace attend::kernels;

namespace {

// Largest error of f against ref over x = lo, lo+step, ... <= hi (relative unless absolute).
template <typename F, typename R>
double max_error(F f, R ref, double lo, double hi, double step, bool relative, double* where) {
  double worst = 0;
  for (double v = lo; v <= hi; v += step) {
    const float x = float(v);
    const double r = ref(double(x));
    if (relative && r == 0) continue;
    const double e = std::fabs(double(f(x)) - r) / (relative ? std::fabs(r) : 1.0);
    if (e > worst) worst = e, *where = x;
  }
  return worst;
}

}  // namespace

TEST(KernelsMath, ExpRelativeError) {
  double at = 0;
  EXPECT_LE(max_error(exp_fast, [](double x) { return std::exp(x); }, -87.3, 88.7, 1e-3, true, &at), 2e-7)
      << "at " << at;
}

TEST(KernelsMath, ExpSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_fast(0.0f), 1.0f);
  EXPECT_EQ(exp_fast(-100.0f), 0.0f);
  EXPECT_EQ(exp_fast(-inf), 0.0f);
  EXPECT_EQ(exp_fast(100.0f), inf);
  EXPECT_EQ(exp_fast(inf), inf);
  EXPECT_TRUE(std::isnan(exp_fast(std::nanf(""))));
}

TEST(KernelsMath, TanhRelativeError) {
  double at = 0;
  EXPECT_LE(max_error(tanh_fast, [](double x) { return std::tanh(x); }, -12, 12, 1e-4, true, &at), 3e-7)
      << "at " << at;
  EXPECT_LE(max_error(tanh_fast, [](double x) { return std::tanh(x); }, 1e-8, 1e-3, 1e-7, true, &at), 3e-7)
      << "at " << at;
}

TEST(KernelsMath, TanhSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(tanh_fast(inf), 1.0f);
  EXPECT_EQ(tanh_fast(-inf), -1.0f);
  EXPECT_EQ(tanh_fast(1e-20f), 1e-20f);
  EXPECT_TRUE(std::isnan(tanh_fast(std::nanf(""))));
}

TEST(KernelsMath, ErfAbsoluteAndSmallArgumentRelativeError) {
  double at = 0;
  EXPECT_LE(max_error(erf_fast, [](double x) { return std::erf(x); }, -8, 8, 1e-4, false, &at), 3e-7)
      << "at " << at;
  EXPECT_LE(max_error(erf_fast, [](double x) { return std::erf(x); }, 1e-6, 1, 1e-5, true, &at), 3e-7)
      << "at " << at;
  EXPECT_EQ(erf_fast(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(erf_fast(-std::numeric_limits<float>::infinity()), -1.0f);
}
