#include "core/kernels_linear.h"

#include <algorithm>
#include <bit>
#include <vector>

#include "core/gemm_bf16.h"
#include "core/kernels.h"

namespace attend::kernels {
namespace {

// Rows per partial sum of the bias gradient.
constexpr int64_t kRowChunk = 32;

// acc[j] += row[j], j < N
inline void row_add(float* __restrict acc, const float* __restrict row, int64_t N) {
#pragma omp simd
  for (int64_t j = 0; j < N; ++j) acc[j] += row[j];
}

// dbias += the column sums of `chunks` partial rows of N (in order).
void add_partials(float* dbias, const std::vector<float>& part, int64_t chunks, int64_t N) {
  for (int64_t c = 0; c < chunks; ++c) kernels::accumulate(dbias, part.data() + c * N, N);
}

// y > 0, for relu's mask kept in f32 or in bf16 (the sign and exponent of a bf16 are a float's)
inline bool positive(float y) { return y > 0.0f; }
inline bool positive(bf16 y) { return std::bit_cast<float>(uint32_t(y.bits) << 16) > 0.0f; }

template <typename Y>
void output_backward(float* dz, bf16* dz16, float* dbias, const float* dy, const Y* y, int64_t R, int64_t N) {
  const int64_t chunks = (R + kRowChunk - 1) / kRowChunk;
  std::vector<float> part(dbias ? size_t(chunks * N) : 0, 0.0f);
#pragma omp parallel if (R * N >= kParallelMin)
  {
    // dz of one chunk of rows before rounding, when it has nowhere else to go
    std::vector<float> scratch(y && !dz && dz16 ? size_t(kRowChunk * N) : 0);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * kRowChunk, rows = std::min(R, r0 + kRowChunk) - r0;
      float* __restrict pc = dbias ? part.data() + c * N : nullptr;
      // where this chunk's dz is: dy itself without relu, else dz or the scratch
      const float* const chunk_dz = !y ? dy + r0 * N : dz ? dz + r0 * N : scratch.data();
      for (int64_t k = 0; k < rows; ++k) {
        const float* __restrict dyr = dy + (r0 + k) * N;
        if (!y) {
          if (dz) std::copy(dyr, dyr + N, dz + (r0 + k) * N);
          if (pc) row_add(pc, dyr, N);
          continue;
        }
        const Y* __restrict yr = y + (r0 + k) * N;
        if (dz || dz16) {
          float* __restrict out = dz ? dz + (r0 + k) * N : scratch.data() + k * N;
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) out[j] = positive(yr[j]) ? dyr[j] : 0.0f;
          if (pc) row_add(pc, out, N);
        } else if (pc) {  // only the bias gradient
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) pc[j] += positive(yr[j]) ? dyr[j] : 0.0f;
        }
      }
      // One call per chunk (inside this parallel region it runs on the calling thread).
      if (dz16) convert_to_bf16(dz16 + r0 * N, chunk_dz, rows, N, N);
    }
  }
  if (dbias) add_partials(dbias, part, chunks, N);
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
    for (int64_t r = c * kRowChunk; r < std::min(R, (c + 1) * kRowChunk); ++r) row_add(part.data() + c * N, dy + r * N, N);
  }
  add_partials(dbias, part, chunks, N);
}

void bias_add_forward(float* y, const float* bias, int64_t R, int64_t N) {
#pragma omp parallel for schedule(static) if (R * N >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) row_add(y + r * N, bias, N);
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
  output_backward(dz, dz16, dbias, dy, y, R, N);
}

void linear_output_backward(float* dz, bf16* dz16, float* dbias, const float* dy, const bf16* y16, int64_t R,
                            int64_t N) {
  output_backward(dz, dz16, dbias, dy, y16, R, N);
}

}  // namespace attend::kernels
