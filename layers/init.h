// Parameter initialisers. Each draws from a Generator (one stream per call), so a
// model built twice from the same seed has the same weights on any thread count.
//
//   Tensor w = init::xavier_uniform({out, in}, gen);   // Glorot & Bengio 2010
//   Tensor e = init::normal({V, D}, 0, std::pow(D, -0.5), gen);
#pragma once

#include "core/rng.h"
#include "core/tensor.h"

namespace attend::init {

// U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); shape (out, in).
Tensor xavier_uniform(const Shape& shape, Generator& gen);
Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen);
Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen);

}  // namespace attend::init
