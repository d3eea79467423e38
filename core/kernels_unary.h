// Unary elementwise kernels on contiguous f32 arrays: name_forward writes y from x,
// name_backward ACCUMULATES dx += dy * y'(x). Every argument is an (n) array.
// exp, tanh, sigmoid and gelu use the vectorisable functions of kernels_math.h.
// Used by ops_elementwise.cpp; usable by fused ops and benchmarks directly.
//
//   kernels::gelu_erf_forward(y, x, n);
//   kernels::gelu_erf_backward(dx, x, dy, n);
#pragma once

#include <cmath>
#include <cstdint>

#include "core/kernels.h"
#include "core/kernels_math.h"

namespace attend::kernels {

inline void scale_add_forward(float* y, const float* x, float s, float b, int64_t n) {  // y = s*x + b
  parallel_for_each(n, [=](int64_t i) { y[i] = s * x[i] + b; });
}

inline void exp_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { y[i] = exp_fast(x[i]); });
}
inline void exp_backward(float* dx, const float* y, const float* dy, int64_t n) {  // dx += dy*y
  parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] * y[i]; });
}

inline void log_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { y[i] = std::log(x[i]); });
}
inline void log_backward(float* dx, const float* x, const float* dy, int64_t n) {  // dx += dy/x
  parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] / x[i]; });
}

inline void sqrt_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { y[i] = std::sqrt(x[i]); });
}
inline void sqrt_backward(float* dx, const float* y, const float* dy, int64_t n) {  // dx += dy/(2y)
  parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] / (2.0f * y[i]); });
}

inline void pow_forward(float* y, const float* x, float p, int64_t n) {
  if (p == 2.0f) {
    parallel_for_each(n, [=](int64_t i) { y[i] = x[i] * x[i]; });
  } else {
    parallel_for_each(n, [=](int64_t i) { y[i] = std::pow(x[i], p); });
  }
}
inline void pow_backward(float* dx, const float* x, float p, const float* dy, int64_t n) {  // dx += dy*p*x^(p-1)
  if (p == 2.0f) {
    parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] * 2.0f * x[i]; });
  } else {
    parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] * p * std::pow(x[i], p - 1.0f); });
  }
}

inline void tanh_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { y[i] = tanh_fast(x[i]); });
}
inline void tanh_backward(float* dx, const float* y, const float* dy, int64_t n) {  // dx += dy*(1-y^2)
  parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] * (1.0f - y[i] * y[i]); });
}

// Stable on both sides: never exponentiates a large positive number.
inline void sigmoid_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) {
    const float e = exp_fast(-std::fabs(x[i]));
    y[i] = x[i] >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
  });
}
inline void sigmoid_backward(float* dx, const float* y, const float* dy, int64_t n) {  // dx += dy*y*(1-y)
  parallel_for_each(n, [=](int64_t i) { dx[i] += dy[i] * y[i] * (1.0f - y[i]); });
}

inline void relu_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { y[i] = x[i] > 0 ? x[i] : 0.0f; });
}
inline void relu_backward(float* dx, const float* y, const float* dy, int64_t n) {  // dx += dy*[y>0]
  parallel_for_each(n, [=](int64_t i) { dx[i] += y[i] > 0 ? dy[i] : 0.0f; });
}

// gelu(x) = x*Phi(x), Phi the standard normal CDF.
inline void gelu_erf_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { y[i] = 0.5f * x[i] * (1.0f + erf_fast(x[i] * float(M_SQRT1_2))); });
}
inline void gelu_erf_backward(float* dx, const float* x, const float* dy, int64_t n) {  // dy*(Phi + x*phi)
  constexpr float inv_sqrt_2pi = 0.3989422804014327f;
  parallel_for_each(n, [=](int64_t i) {
    const float cdf = 0.5f * (1.0f + erf_fast(x[i] * float(M_SQRT1_2)));
    const float pdf = inv_sqrt_2pi * exp_fast(-0.5f * x[i] * x[i]);
    dx[i] += dy[i] * (cdf + x[i] * pdf);
  });
}

// gelu(x) ~= 0.5x(1 + tanh(k(x + c x^3))), k = sqrt(2/pi) (Hendrycks & Gimpel 2016).
inline constexpr float kGeluK = 0.7978845608028654f, kGeluC = 0.044715f;
inline void gelu_tanh_forward(float* y, const float* x, int64_t n) {
  parallel_for_each(n, [=](int64_t i) {
    const float t = tanh_fast(kGeluK * (x[i] + kGeluC * x[i] * x[i] * x[i]));
    y[i] = 0.5f * x[i] * (1.0f + t);
  });
}
// d/dx = 0.5(1+t) + 0.5x(1-t^2) k(1 + 3c x^2)
inline void gelu_tanh_backward(float* dx, const float* x, const float* dy, int64_t n) {
  parallel_for_each(n, [=](int64_t i) {
    const float x2 = x[i] * x[i];
    const float t = tanh_fast(kGeluK * (x[i] + kGeluC * x2 * x[i]));
    const float d = 0.5f * (1.0f + t) + 0.5f * x[i] * (1.0f - t * t) * kGeluK * (1.0f + 3.0f * kGeluC * x2);
    dx[i] += dy[i] * d;
  });
}

}  // namespace attend::kernels
