// NumPy broadcasting helpers shared by elementwise ops and expand.
//
//   Shape out = broadcast_shapes(a.shape(), b.shape(), "add");   // or throws naming both shapes
//   Shape s   = broadcast_strides(a, out);                        // a's strides seen at out's shape (0 = repeated)
//   sum_to_accumulate(da.data(), a.shape(), dy);                   // da += dy summed down to a's shape
#pragma once

#include "core/tensor.h"

namespace attend {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides of x when viewed at shape `out` (x broadcastable to out): 0 for repeated dims.
Shape broadcast_strides(const Tensor& x, const Shape& out);

// dst (contiguous, shape `dst_shape`, which broadcasts to src.shape()) += src
// summed over the broadcast dims. src may have any strides.
void sum_to_accumulate(float* dst, const Shape& dst_shape, const Tensor& src);

}  // namespace attend
