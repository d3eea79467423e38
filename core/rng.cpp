#include "core/rng.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace attend {

float normal(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t r[4];
  philox4x32(seed, stream, i, r);
  const double u1 = (double(r[0] >> 8) + 1.0) / 16777217.0;  // (0, 1]
  const double u2 = double(r[1] >> 8) / 16777216.0;
  return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

void dropout_uniforms(float* u, uint64_t seed, uint64_t stream, uint64_t i0, int64_t n) {
  // Counters g0 .. cover the elements, eight half-words each; the first `skip` half-words
  // of the first counter belong to elements before i0. Each chunk's words go to w (so its
  // half-words in element order: little-endian), then to u.
  constexpr int64_t kChunk = 64;  // counters per vectorised loop
  const uint64_t g0 = i0 / 8;
  const int64_t skip = int64_t(i0 % 8), groups = (skip + n + 7) / 8;
  const uint32_t s0 = uint32_t(stream), s1 = uint32_t(stream >> 32);
  alignas(64) uint32_t w[4 * kChunk];
  static_assert(std::endian::native == std::endian::little, "half-word k of a chunk is the k-th uint16 of w");
  for (int64_t c = 0; c < groups; c += kChunk) {
    const int64_t m = std::min(kChunk, groups - c);
#pragma omp simd
    for (int64_t g = 0; g < m; ++g) {
      const uint64_t counter = g0 + uint64_t(c + g);
      uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = s0, c3 = s1;
      philox4x32_unrolled(seed, c0, c1, c2, c3);
      w[4 * g] = c0, w[4 * g + 1] = c1, w[4 * g + 2] = c2, w[4 * g + 3] = c3;
    }
    // half-word k of this chunk is element first + k
    const int64_t first = 8 * c - skip, j0 = std::max<int64_t>(0, first), j1 = std::min(n, first + 8 * m);
    uint16_t halves[8 * kChunk];
    std::memcpy(halves, w, sizeof(w));
    const uint16_t* h = halves + (j0 - first);
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) u[j] = half_word_uniform(h[j - j0]);
  }
}

void fill_uniform(float* out, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = lo + (hi - lo) * uniform(seed, stream, uint64_t(i));
}

void fill_normal(float* out, int64_t n, float mean, float stddev, uint64_t seed, uint64_t stream) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = mean + stddev * normal(seed, stream, uint64_t(i));
}

}  // namespace attend
