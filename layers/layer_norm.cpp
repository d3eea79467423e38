#include "layers/layer_norm.h"

#include "core/ops.h"

namespace attend {

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options) {
  CHECK(options.dim > 0, "LayerNorm: dim must be positive, got {}", options.dim);
  weight_ = register_parameter("weight", Tensor::ones({options.dim}));
  bias_ = register_parameter("bias", Tensor::zeros({options.dim}));
}

Tensor LayerNorm::forward(const Tensor& x) const {
  CHECK(x.dim() >= 1 && x.size(-1) == options_.dim, "LayerNorm: input {} does not end in dim {}", x.str(),
        options_.dim);
  return layer_norm(x, weight_, bias_, options_.eps);
}

}  // namespace attend
