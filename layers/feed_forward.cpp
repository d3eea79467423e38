#include "layers/feed_forward.h"

#include "core/gemm_bf16.h"
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
  // bf16 training keeps the hidden layer in bf16, as autocast would: fc2, its one reader,
  // rounds it anyway, and neither an f32 copy nor a rounding pass is made.
  const Tensor h = options_.activation == Activation::relu
                       ? fc1_.forward_relu(x, activation_dtype())  // fused bias + relu
                       : gelu(fc1_.forward(x), GeluApprox::none);
  return fc2_.forward(h);
}

}  // namespace attend
