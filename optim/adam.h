// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019) with
// torch.optim.Adam / AdamW semantics. At a parameter's update t (from 1):
//
//   Adam:  g = g + weight_decay * p            (L2 penalty folded into the gradient)
//   AdamW: p = p * (1 - lr * weight_decay)     (decoupled decay, before the moments)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// State: "exp_avg.<param>" (m) and "exp_avg_sq.<param>" (v). A step updates every
// parameter in one OpenMP pass over the flat buffers (optim/optimizer.h). Unlike PyTorch, AdamW
// has no hidden default decay: set weight_decay (PyTorch's default is 0.01).
#pragma once

#include "optim/optimizer.h"

namespace attend {

struct AdamOptions {
  double beta1 = 0.9;  // double like PyTorch's Python floats: 1 - beta and
  double beta2 = 0.999;  // 1 - beta^t stay accurate (0.999f is 0.99900001)
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

class Adam : public Optimizer {
 public:
  Adam(NamedParams params, float lr, const AdamOptions& options = {});
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(NamedParams params, float lr, const AdamOptions& options, bool decoupled, const char* name);
  void update(size_t i, float* p, const float* g, int64_t n, int64_t step) override;
  // Every parameter in one parallel pass: the threads split the step's elements evenly.
  void update_all(const std::vector<Update>& updates) override;

 private:
  AdamOptions options_;
  bool decoupled_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

class AdamW : public Adam {
 public:
  AdamW(NamedParams params, float lr, const AdamOptions& options = {});
};

}  // namespace attend
