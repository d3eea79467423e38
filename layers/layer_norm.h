// LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * weight + bias
// (biased variance, as torch.nn.LayerNorm). Parameters "weight" (ones), "bias" (zeros).
//
//   LayerNorm norm({.dim = D});
//   Tensor y = norm.forward(x);   // x: (..., D) -> (..., D)
#pragma once

#include "layers/module.h"

namespace attend {

struct LayerNormOptions {
  int64_t dim = 0;
  float eps = 1e-5f;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& options);
  Tensor forward(const Tensor& x) const;  // x: (..., D) -> (..., D)
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  float eps() const { return options_.eps; }

 private:
  LayerNormOptions options_;
  Tensor weight_, bias_;
};

}  // namespace attend
