// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight
// decay, with torch.optim.SGD's semantics:
//
//   d = g + weight_decay * p
//   buf = d on a parameter's first update, else momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf          (when momentum != 0)
//   p -= lr * d
//
// State: "momentum.<param>" (only when momentum != 0).
#pragma once

#include "optim/optimizer.h"

namespace attend {

struct SgdOptions {
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

class Sgd : public Optimizer {
 public:
  Sgd(NamedParams params, float lr, const SgdOptions& options = {});
  const SgdOptions& options() const { return options_; }

 protected:
  void update(size_t i, float* p, const float* g, int64_t n, int64_t step) override;

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_;  // empty when momentum == 0
};

}  // namespace attend
