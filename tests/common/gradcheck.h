// Central-difference gradient check for any differentiable op (ggml's
// test-backend-ops, flashlight's jacobian tests).
//
//   Tensor x = test::random_tensor({3, 4}, -2, 2, /*seed=*/1);
//   EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {x}));
//
// The inputs are leaves; f may view them (transpose, slice, expand) to test an op on
// non-contiguous or broadcast inputs. The harness reduces f's output to a scalar with
// fixed random weights w (loss = sum(w * f(x)), so every output element matters),
// runs backward for the analytic gradient, and compares it with
// (loss(x + eps) - loss(x - eps)) / (2 eps) for every element of every f32 input,
// passing when |analytic - numeric| <= atol + rtol * |numeric|.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/autograd.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace attend::test {

struct GradCheckOptions {
  float eps = 1e-2f;
  float atol = 2e-3f;
  float rtol = 2e-2f;
  uint64_t seed = 7;
};

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

// A leaf tensor with uniform values in [lo, hi), reproducible from seed.
inline Tensor random_tensor(const Shape& shape, float lo, float hi, uint64_t seed) {
  Tensor t = Tensor::empty(shape);
  fill_uniform(t.data(), t.numel(), lo, hi, seed, /*stream=*/0);
  return t;
}

namespace detail {
inline double weighted_sum(const Tensor& y, const Tensor& w) {
  std::vector<float> yv = y.to_vector(), wv = w.to_vector();
  double s = 0;
  for (size_t i = 0; i < yv.size(); ++i) s += double(yv[i]) * double(wv[i]);
  return s;
}
}  // namespace detail

inline ::testing::AssertionResult gradcheck(const OpFn& f, std::vector<Tensor> inputs,
                                            const GradCheckOptions& opt = {}) {
  for (Tensor& x : inputs)
    if (x.dtype() == DType::f32) {
      x.zero_grad();
      x.set_requires_grad(true);
    }
  Tensor y = f(inputs);
  if (!y.requires_grad()) return ::testing::AssertionFailure() << "output does not require grad";
  Tensor w = random_tensor(y.shape(), -1.0f, 1.0f, opt.seed);
  y.backward(w);

  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (x.dtype() != DType::f32) continue;
    Tensor analytic = x.grad();
    if (!analytic.defined()) analytic = Tensor::zeros(x.shape());
    std::vector<float> a = analytic.to_vector();
    float* data = x.data();  // leaves are contiguous
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float saved = data[i];
      double plus, minus;
      {
        NoGradGuard no_grad;
        data[i] = saved + opt.eps;
        plus = detail::weighted_sum(f(inputs), w);
        data[i] = saved - opt.eps;
        minus = detail::weighted_sum(f(inputs), w);
      }
      data[i] = saved;
      const double numeric = (plus - minus) / (2.0 * double(opt.eps));
      const double diff = std::fabs(double(a[size_t(i)]) - numeric);
      if (!(diff <= opt.atol + opt.rtol * std::fabs(numeric)))
        return ::testing::AssertionFailure() << "input " << k << " " << x.str() << " element " << i
                                             << ": analytic " << a[size_t(i)] << " vs numeric " << numeric;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace attend::test
