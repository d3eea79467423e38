// Small checks shared by the op tests:
//
//   expect_near(y.to_vector(), {0.5f, 0.25f});                          // element by element, 1e-5
//   expect_error([&] { cross_entropy(x, bad); }, {"target 3", "row 1"});  // message has each part
//   auto [one, two] = on_one_and_two_threads([&] { return softmax(x).to_vector(); });
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/error_of.h"

namespace attend::test {

// Element-wise EXPECT_NEAR of two vectors of the same size.
inline void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Expects f to throw an attend::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  const std::string msg = error_of(f);
  for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// Runs f once on 1 thread and once on 2, returning both results.
template <typename F>
std::pair<std::vector<float>, std::vector<float>> on_one_and_two_threads(F f) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<float> one = f();
  omp_set_num_threads(2);
  std::vector<float> two = f();
  omp_set_num_threads(saved);
  return {one, two};
}

}  // namespace attend::test
