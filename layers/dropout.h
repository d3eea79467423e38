// Dropout: in training mode zeroes each element with probability p and scales the rest
// by 1/(1-p) (inverted dropout); in eval mode, or with p = 0, returns x unchanged.
// Masks come from the Generator the model owns, so runs are reproducible from its seed.
//
//   Dropout drop({.p = 0.1f, .gen = &gen});
//   Tensor y = drop.forward(x);
//   Tensor h = drop.forward_add(x, f(x));  // x + drop.forward(f(x)), fused
#pragma once

#include "core/rng.h"
#include "layers/module.h"

namespace attend {

struct DropoutOptions {
  float p = 0.0f;
  Generator* gen = nullptr;  // needed when p > 0
};

class Dropout : public Module {
 public:
  explicit Dropout(const DropoutOptions& options);
  Tensor forward(const Tensor& x) const;  // any shape -> same shape
  // x + forward(y) in one pass (the residual connection); x, y: same shape -> same shape
  Tensor forward_add(const Tensor& x, const Tensor& y) const;
  float p() const { return options_.p; }
  float active_p() const { return is_training() ? options_.p : 0.0f; }  // p in training, else 0
  Generator* gen() const { return options_.gen; }

 private:
  DropoutOptions options_;
};

}  // namespace attend
