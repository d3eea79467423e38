// Small shared kernels on raw pointers, used by several ops, and the one rule for
// when a loop goes parallel: more than kParallelMin elements (OpenMP, static
// schedule). Elementwise loops give the same result on any thread count; sums
// that must too use core/kernels_reduce.h.
#pragma once

#include <cstdint>

namespace attend::kernels {

// Loops over more elements than this run on the OpenMP thread pool.
inline constexpr int64_t kParallelMin = 1 << 15;

// f(i) for i in [0, n), in parallel when n is large; f must only touch element i.
template <typename F> inline void parallel_for_each(int64_t n, F f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin) firstprivate(f)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// dst[i] += src[i]
inline void accumulate(float* dst, const float* src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// dst[i] += s * src[i]; dst, src: (n)
inline void axpy(float* dst, float s, const float* src, int64_t n) {
  parallel_for_each(n, [=](int64_t i) { dst[i] += s * src[i]; });
}

}  // namespace attend::kernels
