// Small shared kernels on raw pointers, used by several ops.
#pragma once

#include <cstdint>

namespace attend::kernels {

// dst[i] += src[i]
inline void accumulate(float* dst, const float* src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace attend::kernels
