#include "layers/dropout.h"

#include "core/ops.h"

namespace attend {

Dropout::Dropout(const DropoutOptions& options) : options_(options) {
  CHECK(options.p >= 0.0f && options.p < 1.0f, "Dropout: p must be in [0, 1), got {}", options.p);
  CHECK(options.p == 0.0f || options.gen, "Dropout: options.gen is needed when p > 0 (p = {})", options.p);
}

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || options_.p == 0.0f) return x;
  return dropout(x, options_.p, *options_.gen);
}

Tensor Dropout::forward_add(const Tensor& x, const Tensor& y) const {
  if (!is_training() || options_.p == 0.0f) return x + y;
  return dropout_add(x, y, options_.p, *options_.gen);
}

}  // namespace attend
