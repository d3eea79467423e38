#include "core/kernels_linear.h"

#include <algorithm>
#include <vector>

#include "core/gemm_bf16.h"
#include "core/kernels.h"

namespace attend::kernels {
namespace {

// Rows per partial sum of the bias gradient.
constexpr int64_t kRowChunk = 32;

// dbias += the column sums of `chunks` partial rows of N (in order).
void add_partials(float* dbias, const std::vector<float>& part, int64_t chunks, int64_t N) {
  for (int64_t c = 0; c < chunks; ++c) kernels::accumulate(dbias, part.data() + c * N, N);
}

}  // namespace

void linear_bias_forward(float* y, const float* bias, int64_t R, int64_t N) {
#pragma omp parallel for schedule(static) if (R * N >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) std::copy(bias, bias + N, y + r * N);
}

void linear_bias_backward(float* dbias, const float* dy, int64_t R, int64_t N) {
  const int64_t chunks = (R + kRowChunk - 1) / kRowChunk;
  std::vector<float> part(size_t(chunks * N), 0.0f);
#pragma omp parallel for schedule(static) if (R * N >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    float* __restrict pc = part.data() + c * N;
    for (int64_t r = c * kRowChunk; r < std::min(R, (c + 1) * kRowChunk); ++r) {
      const float* __restrict row = dy + r * N;
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) pc[j] += row[j];
    }
  }
  add_partials(dbias, part, chunks, N);
}

void bias_relu_forward(float* y, const float* bias, int64_t R, int64_t N) {
#pragma omp parallel for schedule(static) if (R * N >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    float* __restrict yr = y + r * N;
    if (bias) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) yr[j] = std::max(yr[j] + bias[j], 0.0f);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) yr[j] = std::max(yr[j], 0.0f);
    }
  }
}

void linear_output_backward(float* dz, bf16* dz16, float* dbias, const float* dy, const float* y, int64_t R,
                            int64_t N) {
  const int64_t chunks = (R + kRowChunk - 1) / kRowChunk;
  std::vector<float> part(dbias ? size_t(chunks * N) : 0, 0.0f);
#pragma omp parallel for schedule(static) if (R * N >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    std::vector<float> scratch(dz || !y ? 0 : size_t(N));  // one row of dz before rounding
    float* __restrict pc = dbias ? part.data() + c * N : nullptr;
    for (int64_t r = c * kRowChunk; r < std::min(R, (c + 1) * kRowChunk); ++r) {
      const float* __restrict dyr = dy + r * N;
      const float* dzr = dyr;
      if (y) {
        const float* __restrict yr = y + r * N;
        float* __restrict out = dz ? dz + r * N : scratch.data();
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) out[j] = yr[j] > 0.0f ? dyr[j] : 0.0f;
        dzr = out;
      } else if (dz) {
        std::copy(dyr, dyr + N, dz + r * N);
      }
      if (pc) {
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) pc[j] += dzr[j];
      }
      if (dz16) convert_to_bf16(dz16 + r * N, dzr, 1, N, N);
    }
  }
  if (dbias) add_partials(dbias, part, chunks, N);
}

}  // namespace attend::kernels
