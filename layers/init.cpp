#include "layers/init.h"

#include <cmath>

namespace attend::init {

Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  fill_uniform(t.data(), t.numel(), lo, hi, gen.seed(), gen.next_stream());
  return t;
}

Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  fill_normal(t.data(), t.numel(), mean, stddev, gen.seed(), gen.next_stream());
  return t;
}

Tensor xavier_uniform(const Shape& shape, Generator& gen) {
  CHECK(shape.size() == 2, "xavier_uniform: expected an (out, in) shape, got {}", shape_str(shape));
  const float a = std::sqrt(6.0f / float(shape[0] + shape[1]));
  return uniform(shape, -a, a, gen);
}

}  // namespace attend::init
