#include "layers/linear.h"

#include "core/ops.h"
#include "layers/init.h"

namespace attend {

Linear::Linear(const LinearOptions& options) : options_(options) {
  CHECK(options.in > 0 && options.out > 0, "Linear: sizes must be positive, got in {} out {}", options.in,
        options.out);
  CHECK(options.gen, "Linear: options.gen is needed to initialise the weight");
  weight_ = register_parameter("weight", init::xavier_uniform({options.out, options.in}, *options.gen));
  init_bias();
}

Linear::Linear(const LinearOptions& options, const Tensor& shared_weight) : options_(options) {
  CHECK(shared_weight.defined() && shared_weight.shape() == Shape({options.out, options.in}),
        "Linear: shared weight has shape {}, expected [{}, {}] (out, in)",
        shared_weight.defined() ? shape_str(shared_weight.shape()) : "undefined", options.out, options.in);
  weight_ = register_parameter("weight", shared_weight);
  init_bias();
}

void Linear::init_bias() {
  if (options_.bias) bias_ = register_parameter("bias", Tensor::zeros({options_.out}));
}

Tensor Linear::forward(const Tensor& x, DType out) const {
  CHECK(x.dim() >= 1 && x.size(-1) == options_.in, "Linear: input {} does not end in the input size {}", x.str(),
        options_.in);
  return linear(x, weight_, bias_, out);
}

Tensor Linear::forward_relu(const Tensor& x, DType out) const {
  CHECK(x.dim() >= 1 && x.size(-1) == options_.in, "Linear: input {} does not end in the input size {}", x.str(),
        options_.in);
  return linear_relu(x, weight_, bias_, out);
}

}  // namespace attend
