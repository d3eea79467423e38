#include "optim/adam.h"

#include <cmath>

namespace attend {
namespace kernels {

// One Adam/AdamW update in place. p, g, m, v: (n).
// l2: weight decay added to the gradient (Adam); decay: factor p is scaled by
// first (AdamW, 1 - lr*wd); step_size = lr / (1 - beta1^t); bc2_sqrt = sqrt(1 - beta2^t).
// The order of operations follows PyTorch's single-tensor Adam.
// one_minus_beta1/2 = 1 - beta1/2, rounded from double.
void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float one_minus_beta1,
                 float beta2, float one_minus_beta2, float eps, float l2, float decay, float step_size,
                 float bc2_sqrt) {
#pragma omp parallel for simd schedule(static) if (n >= kOptimParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float w = p[i] * decay;
    float d = g[i] + l2 * w;
    float mi = beta1 * m[i] + one_minus_beta1 * d;
    float vi = beta2 * v[i] + one_minus_beta2 * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] = w - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
  }
}

}  // namespace kernels

Adam::Adam(NamedParams params, float lr, const AdamOptions& options) : Adam(std::move(params), lr, options, false, "adam") {}

Adam::Adam(NamedParams params, float lr, const AdamOptions& options, bool decoupled, const char* name)
    : Optimizer(std::move(params), lr, name), options_(options), decoupled_(decoupled) {
  const AdamOptions& o = options_;
  CHECK(o.beta1 >= 0 && o.beta1 < 1, "{}: beta1 must be in [0, 1), got {}", name, o.beta1);
  CHECK(o.beta2 >= 0 && o.beta2 < 1, "{}: beta2 must be in [0, 1), got {}", name, o.beta2);
  CHECK(std::isfinite(o.eps) && o.eps >= 0, "{}: eps must be >= 0, got {}", name, o.eps);
  CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "{}: weight_decay must be >= 0, got {}", name,
        o.weight_decay);
  exp_avg_ = add_buffers("exp_avg");
  exp_avg_sq_ = add_buffers("exp_avg_sq");
}

void Adam::update(size_t i, float* p, const float* g, int64_t n, int64_t step) {
  const AdamOptions& o = options_;
  // Bias corrections in double: 1 - beta^t loses digits in float for beta near 1.
  double bias_correction1 = 1.0 - std::pow(o.beta1, double(step));
  double bias_correction2 = 1.0 - std::pow(o.beta2, double(step));
  float step_size = float(double(lr()) / bias_correction1);
  float bc2_sqrt = float(std::sqrt(bias_correction2));
  float l2 = decoupled_ ? 0.0f : o.weight_decay;
  float decay = decoupled_ ? 1.0f - lr() * o.weight_decay : 1.0f;
  kernels::adam_update(p, g, exp_avg_[i].data(), exp_avg_sq_[i].data(), n, float(o.beta1), float(1.0 - o.beta1),
                       float(o.beta2), float(1.0 - o.beta2), o.eps, l2, decay, step_size, bc2_sqrt);
}

AdamW::AdamW(NamedParams params, float lr, const AdamOptions& options)
    : Adam(std::move(params), lr, options, true, "adamw") {}

}  // namespace attend
