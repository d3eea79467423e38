#include "layers/feed_forward.h"

#include "core/ops.h"

namespace attend {

std::string_view activation_name(Activation a) { return a == Activation::relu ? "relu" : "gelu"; }

FeedForward::FeedForward(const FeedForwardOptions& options)
    : options_(options),
      fc1_({.in = options.d_model, .out = options.ffn_dim, .gen = options.gen}),
      fc2_({.in = options.ffn_dim, .out = options.d_model, .gen = options.gen}) {
  register_module("fc1", fc1_);
  register_module("fc2", fc2_);
}

Tensor FeedForward::forward(const Tensor& x) const {
  Tensor h = fc1_.forward(x);
  h = options_.activation == Activation::relu ? relu(h) : gelu(h, GeluApprox::none);
  return fc2_.forward(h);
}

}  // namespace attend
