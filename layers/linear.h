// Linear: y = x W^T + b, PyTorch's nn.Linear layout (weight [out, in], bias [out]).
// Parameters "weight" (Xavier/Glorot-uniform) and, unless bias = false, "bias" (zeros).
//
//   Linear proj({.in = 512, .out = 512, .gen = &gen});
//   Tensor y = proj.forward(x);            // x: (..., in) -> (..., out)
//   Tensor h = proj.forward_relu(x);       // relu(proj.forward(x)), fused
//   Linear out({.in = D, .out = V, .bias = false}, embedding.weight());  // tied weight
#pragma once

#include "core/rng.h"
#include "layers/module.h"

namespace attend {

struct LinearOptions {
  int64_t in = 0;
  int64_t out = 0;
  bool bias = true;
  Generator* gen = nullptr;  // initialisation; not needed with a shared weight
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options);
  // Uses `shared_weight` ([out, in], owned elsewhere) as its weight: weight tying.
  Linear(const LinearOptions& options, const Tensor& shared_weight);

  Tensor forward(const Tensor& x, DType out = DType::f32) const;  // x: (..., in) -> (..., out), f32 or bf16
  // relu(forward(x)) in one op (linear_relu), its result f32 or bf16 (`out`)
  Tensor forward_relu(const Tensor& x, DType out = DType::f32) const;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  const LinearOptions& options() const { return options_; }

 private:
  void init_bias();
  LinearOptions options_;
  Tensor weight_, bias_;
};

}  // namespace attend
