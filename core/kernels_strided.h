// Loops over a contiguous output with K strided (possibly broadcast, stride 0)
// operands, the engine of the elementwise ops.
//
//   RunLayout<2> L = coalesce<2>(out_shape, {broadcast_strides(a, out_shape), broadcast_strides(b, out_shape)});
//   for_each_run(L, [&](int64_t o, const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
//     for (int64_t j = 0; j < n; ++j) y[o + j] = pa[off[0] + j * st[0]] + pb[off[1] + j * st[1]];
//   });
//
// coalesce() drops size-1 dims and merges dims that are contiguous in every
// operand, so (B,T,D)+(D) becomes (B*T, D) rows and equal-shape contiguous
// operands become one flat run. for_each_run() cuts the output into runs of at
// most kRunBlock elements along the last dim and hands them out in parallel when
// the output is large; each output element is written by exactly one run.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "core/kernels.h"
#include "core/tensor.h"

namespace attend::kernels {

template <size_t K> using Offsets = std::array<int64_t, K>;

template <size_t K> struct RunLayout {
  Shape shape;                   // output shape after coalescing (row-major, contiguous output)
  std::array<Shape, K> strides;  // each operand's strides at that shape, in elements
};

inline constexpr int64_t kRunBlock = 4096;

template <size_t K> RunLayout<K> coalesce(const Shape& shape, const std::array<Shape, K>& strides) {
  RunLayout<K> L;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !L.shape.empty();
    for (size_t k = 0; k < K && merge; ++k) merge = L.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      L.shape.back() *= shape[d];
      for (size_t k = 0; k < K; ++k) L.strides[k].back() = strides[k][d];
    } else {
      L.shape.push_back(shape[d]);
      for (size_t k = 0; k < K; ++k) L.strides[k].push_back(strides[k][d]);
    }
  }
  return L;
}

// body(out_offset, operand_offsets, n, operand_inner_strides) for every run.
template <size_t K, typename Body> void for_each_run(const RunLayout<K>& L, Body body) {
  const size_t nd = L.shape.size();
  Offsets<K> zero{};
  if (nd == 0) {  // a single element (every dim had size 1)
    body(int64_t(0), zero, int64_t(1), zero);
    return;
  }
  const int64_t inner = L.shape[nd - 1];
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < nd; ++d) rows *= L.shape[d];
  if (rows == 0 || inner == 0) return;
  Offsets<K> inner_stride;
  for (size_t k = 0; k < K; ++k) inner_stride[k] = L.strides[k][nd - 1];
  const int64_t blocks = (inner + kRunBlock - 1) / kRunBlock;
  const int64_t units = rows * blocks;
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t row = u / blocks, c0 = (u % blocks) * kRunBlock;
    Offsets<K> off;
    for (size_t k = 0; k < K; ++k) off[k] = c0 * inner_stride[k];
    int64_t r = row;
    for (size_t d = nd - 1; d-- > 0;) {
      const int64_t i = r % L.shape[d];
      r /= L.shape[d];
      for (size_t k = 0; k < K; ++k) off[k] += i * L.strides[k][d];
    }
    body(row * inner + c0, off, std::min(kRunBlock, inner - c0), inner_stride);
  }
}

// Calls f(s0, s1) with the strides as compile-time constants in the common cases
// (both unit, one broadcast), so the loop in f vectorises.
template <typename F> inline void with_strides(int64_t s0, int64_t s1, F f) {
  using One = std::integral_constant<int64_t, 1>;
  using Zero = std::integral_constant<int64_t, 0>;
  if (s0 == 1 && s1 == 1) {
    f(One{}, One{});
  } else if (s0 == 1 && s1 == 0) {
    f(One{}, Zero{});
  } else if (s0 == 0 && s1 == 1) {
    f(Zero{}, One{});
  } else {
    f(s0, s1);
  }
}

}  // namespace attend::kernels
