#include "optim/sgd.h"

#include <cmath>

namespace attend {
namespace kernels {

// One SGD update in place. p, g, buf: (n); buf is null when momentum == 0;
// `first`: buf has never been written (it is set to d instead of decayed).
void sgd_update(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float dampening,
                float weight_decay, bool nesterov, bool first) {
#pragma omp parallel for simd schedule(static) if (n >= kOptimParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] + weight_decay * p[i];
    if (buf) {
      float b = first ? d : momentum * buf[i] + (1.0f - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
  }
}

}  // namespace kernels

Sgd::Sgd(NamedParams params, float lr, const SgdOptions& options)
    : Optimizer(std::move(params), lr, "sgd"), options_(options) {
  const SgdOptions& o = options_;
  CHECK(std::isfinite(o.momentum) && o.momentum >= 0, "sgd: momentum must be >= 0, got {}", o.momentum);
  CHECK(std::isfinite(o.dampening) && o.dampening >= 0 && o.dampening <= 1,
        "sgd: dampening must be in [0, 1], got {}", o.dampening);
  CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "sgd: weight_decay must be >= 0, got {}",
        o.weight_decay);
  CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
        "sgd: nesterov needs momentum > 0 and dampening 0, got momentum {} and dampening {}", o.momentum,
        o.dampening);
  if (o.momentum != 0) momentum_ = add_buffers("momentum");
}

void Sgd::update(size_t i, float* p, const float* g, int64_t n, int64_t step) {
  float* buf = momentum_.empty() ? nullptr : momentum_[i].data();
  kernels::sgd_update(p, g, buf, n, lr(), options_.momentum, options_.dampening, options_.weight_decay,
                      options_.nesterov, step == 1);
}

}  // namespace attend
