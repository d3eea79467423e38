// Helpers shared by the optim tests: parameters with hand-set gradients.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "optim/optimizer.h"

namespace attend::test {

inline Tensor param(const std::vector<float>& values) {
  return Tensor::from_vector(values, {int64_t(values.size())}).set_requires_grad();
}

// Sets p's accumulated gradient as backward() would leave it.
inline void set_grad(const Tensor& p, const std::vector<float>& values) {
  p.impl()->grad = Tensor::from_vector(values, p.shape()).impl_ptr();
}

// A parameter list of fresh copies of `params` (same names, same values, no gradients).
inline NamedParams copy_params(const NamedParams& params) {
  NamedParams out;
  for (const auto& [name, p] : params)
    out.emplace_back(name, Tensor::from_vector(p.to_vector(), p.shape()).set_requires_grad());
  return out;
}

inline void expect_values(const Tensor& t, const std::vector<float>& expected, float tol = 1e-6f) {
  std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
}

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace attend::test

// Expects `text` to contain `part`; prints text otherwise.
#define EXPECT_CONTAINS(text, part)                                   \
  do {                                                                \
    const std::string text_ = (text);                                 \
    EXPECT_NE(text_.find(part), std::string::npos) << "in: " << text_; \
  } while (0)
