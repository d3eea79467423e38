#include "optim/adam.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/gemm_bf16.h"

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
#pragma omp simd
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

namespace {

// One parameter's part of a fused step: its pointers and its own step's scalars.
struct AdamSegment {
  float* p;
  const float* g;
  float *m, *v;
  bf16* p16;  // p's bf16 copy, or null
  int64_t n;
  float step_size, bc2_sqrt;
};

// Elements updated before they are rounded into the bf16 copy: still in L1.
constexpr int64_t kRoundBlock = 2048;

}  // namespace

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

void Adam::update(size_t i, float* p, const float* g, int64_t n, int64_t step) { update_all({{i, p, g, n, step}}); }

void Adam::update_all(const std::vector<Update>& updates) {
  const AdamOptions& o = options_;
  std::vector<AdamSegment> segments;
  std::vector<int64_t> starts{0};  // segment s covers elements [starts[s], starts[s+1]) of the step
  segments.reserve(updates.size());
  for (const Update& u : updates) {
    // Bias corrections in double: 1 - beta^t loses digits in float for beta near 1.
    const double bias_correction1 = 1.0 - std::pow(o.beta1, double(u.step));
    const double bias_correction2 = 1.0 - std::pow(o.beta2, double(u.step));
    segments.push_back({u.p, u.g, exp_avg_[u.index].data(), exp_avg_sq_[u.index].data(), u.p16, u.n,
                        float(double(lr()) / bias_correction1), float(std::sqrt(bias_correction2))});
    starts.push_back(starts.back() + u.n);
  }
  const int64_t total = starts.back();
  const float l2 = decoupled_ ? 0.0f : o.weight_decay;
  const float decay = decoupled_ ? 1.0f - lr() * o.weight_decay : 1.0f;
  const float beta1 = float(o.beta1), one_minus_beta1 = float(1.0 - o.beta1);
  const float beta2 = float(o.beta2), one_minus_beta2 = float(1.0 - o.beta2);
  // Each thread takes an even share of the step's elements (rounded to 16), across
  // segment boundaries; every element's arithmetic is the same as a per-parameter loop's.
#pragma omp parallel if (total >= kOptimParallelMin)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t share = (total + threads - 1) / threads;
    const int64_t lo = std::min(total, (share * t + 15) / 16 * 16);
    const int64_t hi = t + 1 == threads ? total : std::min(total, (share * (t + 1) + 15) / 16 * 16);
    size_t s = size_t(std::upper_bound(starts.begin(), starts.end(), lo) - starts.begin()) - 1;
    for (int64_t at = lo; at < hi && s < segments.size(); ++s) {
      const AdamSegment& seg = segments[s];
      const int64_t from = at - starts[s], to = std::min(seg.n, hi - starts[s]);
      for (int64_t b = from; b < to; b += kRoundBlock) {
        const int64_t n = std::min(kRoundBlock, to - b);
        kernels::adam_update(seg.p + b, seg.g + b, seg.m + b, seg.v + b, n, beta1, one_minus_beta1, beta2,
                             one_minus_beta2, o.eps, l2, decay, seg.step_size, seg.bc2_sqrt);
        if (seg.p16 != nullptr) convert_to_bf16(seg.p16 + b, seg.p + b, 1, n, n);
      }
      at = starts[s + 1];
    }
  }
}

AdamW::AdamW(NamedParams params, float lr, const AdamOptions& options)
    : Adam(std::move(params), lr, options, true, "adamw") {}

}  // namespace attend
