// Sums whose result depends only on the data, never on the thread count: the
// order of additions is fixed by the sizes alone (fixed chunks, fixed lanes,
// partials combined in index order), whatever runs them in parallel.
//
//   double s = kernels::sum_contiguous(x, n, /*parallel=*/true);  // x: (n)
//   kernels::sum_mid(y, x, O, R, I, 1.0f, /*accumulate=*/true);    // y(O,I) += sum_r x(O,R,I)
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/kernels.h"

namespace attend::kernels {

inline constexpr int64_t kSumChunk = 4096;

// x: (n) -> its largest element; -inf for n == 0. Explicit lanes: GCC leaves a simd max
// reduction scalar.
inline float row_max(const float* x, int64_t n) {
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  float lane[16];
  std::fill(lane, lane + 16, kLowest);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
#pragma omp simd
    for (int l = 0; l < 16; ++l) lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
  }
  float m = kLowest;
  for (; j < n; ++j) m = std::max(m, x[j]);
  for (int l = 0; l < 16; ++l) m = std::max(m, lane[l]);
  return m;
}

// x: (n), n <= kSumChunk -> sum over 16 lanes, combined pairwise.
inline float sum_chunk(const float* x, int64_t n) {
  float lane[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] += x[i + l];
  for (int l = 0; i < n; ++i, ++l) lane[l] += x[i];
  for (int w = 8; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
  return lane[0];
}

// x: (n) -> sum of the chunk sums in chunk order (double). The chunks run in
// parallel when `parallel`; the result is the same either way.
inline double sum_contiguous(const float* x, int64_t n, bool parallel) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  double s = 0;
  if (!parallel || chunks <= 1) {
    for (int64_t c = 0; c < chunks; ++c) s += sum_chunk(x + c * kSumChunk, std::min(kSumChunk, n - c * kSumChunk));
    return s;
  }
  std::vector<double> part(size_t(chunks), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) part[size_t(c)] = sum_chunk(x + c * kSumChunk, std::min(kSumChunk, n - c * kSumChunk));
  for (double p : part) s += p;
  return s;
}

// x: (K,R) contiguous -> y: (K); y[k] = scale * sum_r x[k,r]
inline void sum_rows(float* y, const float* x, int64_t K, int64_t R, float scale) {
  if (K == 1) {
    y[0] = float(scale * sum_contiguous(x, R, R > kParallelMin));
    return;
  }
#pragma omp parallel for schedule(static) if (K * R > kParallelMin)
  for (int64_t k = 0; k < K; ++k) y[k] = float(scale * sum_contiguous(x + k * R, R, false));
}

// x: (O,R,I) contiguous -> y: (O,I); y[o,i] = (accumulate ? y[o,i] : 0) + scale * sum_r x[o,r,i],
// r in order (double). Parallel over (o, block of columns).
inline void sum_mid(float* y, const float* x, int64_t O, int64_t R, int64_t I, float scale, bool accumulate) {
  constexpr int64_t kCols = 64;
  const int64_t blocks = (I + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (O * R * I > kParallelMin)
  for (int64_t u = 0; u < O * blocks; ++u) {
    const int64_t o = u / blocks, c0 = (u % blocks) * kCols, w = std::min(kCols, I - c0);
    double acc[kCols] = {};
    for (int64_t r = 0; r < R; ++r) {
      const float* row = x + (o * R + r) * I + c0;
      for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
    }
    float* out = y + o * I + c0;
    for (int64_t j = 0; j < w; ++j) out[j] = (accumulate ? out[j] : 0.0f) + float(scale * acc[j]);
  }
}

}  // namespace attend::kernels
