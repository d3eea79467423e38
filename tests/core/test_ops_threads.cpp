// Results must not depend on the thread count: the same ops on inputs large
// enough to run in parallel give the same values with 1 and with 2 threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "common/gradcheck.h"
#include "core/ops.h"

using namespace attend;

namespace {

// Runs f with n OpenMP threads, restoring the previous setting.
template <typename F> auto with_threads(int n, F f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(n);
  auto result = f();
  omp_set_num_threads(before);
  return result;
}

void expect_same(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= 1e-6f * std::fabs(a[i]))) ++bad;
  EXPECT_EQ(bad, 0u) << "elements that differ between 1 and 2 threads";
}

}  // namespace

TEST(ThreadCount, ResultsDoNotDependOnIt) {
  Tensor x = test::random_tensor({300, 517}, -3, 3, 11);  // 155100 elements
  Tensor bias = test::random_tensor({517}, -1, 1, 12);
  // Large positive values: a float sum whose order follows the thread count differs
  // here by ~1e-5 relative, far beyond the tolerance.
  Tensor big = test::random_tensor({300, 517}, 0, 100, 15);
  auto run = [&] {
    std::vector<std::vector<float>> out;
    out.push_back(sum(big).to_vector());
    out.push_back(mean(big).to_vector());
    out.push_back(sum(big, {0}).to_vector());
    out.push_back(mean(big, {1}).to_vector());
    out.push_back(mean(big.reshape({-1}), {0}).to_vector());
    out.push_back(gelu(x).to_vector());
    out.push_back(gelu(x, GeluApprox::tanh).to_vector());
    out.push_back(mul(add(x, bias), x.transpose(0, 1).contiguous().transpose(0, 1)).to_vector());
    out.push_back(max(x, 0).to_vector());
    return out;
  };
  const auto one = with_threads(1, run);
  const auto two = with_threads(2, run);
  ASSERT_EQ(one.size(), two.size());
  for (size_t k = 0; k < one.size(); ++k) {
    SCOPED_TRACE(k);
    expect_same(one[k], two[k]);
  }
}

TEST(ThreadCount, GradientsDoNotDependOnIt) {
  auto run = [] {
    Tensor x = test::random_tensor({400, 300}, -2, 2, 13).set_requires_grad();
    Tensor b = test::random_tensor({300}, -1, 1, 14).set_requires_grad();
    sum(gelu(add(x, b))).backward();
    return std::vector<std::vector<float>>{x.grad().to_vector(), b.grad().to_vector()};
  };
  const auto one = with_threads(1, run);
  const auto two = with_threads(2, run);
  expect_same(one[0], two[0]);
  expect_same(one[1], two[1]);
}
