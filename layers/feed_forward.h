// Position-wise feed-forward block: fc2(activation(fc1(x))).
// Parameters fc1.{weight [F, D], bias [F]} and fc2.{weight [D, F], bias [D]}; GELU is
// the exact (erf) form, as torch.nn.functional.gelu.
//
//   FeedForward ffn({.d_model = D, .ffn_dim = F, .activation = Activation::relu, .gen = &gen});
//   Tensor y = ffn.forward(x);   // (..., D) -> (..., D)
// Layers register it under the empty name, so fc1/fc2 sit directly under the layer
// as in fairseq (encoder.layers.0.fc1.weight).
#pragma once

#include <string_view>

#include "core/rng.h"
#include "layers/linear.h"

namespace attend {

enum class Activation { relu, gelu };
std::string_view activation_name(Activation a);

struct FeedForwardOptions {
  int64_t d_model = 0;
  int64_t ffn_dim = 0;
  Activation activation = Activation::relu;
  Generator* gen = nullptr;
};

class FeedForward : public Module {
 public:
  explicit FeedForward(const FeedForwardOptions& options);
  Tensor forward(const Tensor& x) const;  // (..., D) -> (..., D)
  Linear& fc1() { return fc1_; }
  Linear& fc2() { return fc2_; }

 private:
  FeedForwardOptions options_;
  Linear fc1_, fc2_;
};

}  // namespace attend
