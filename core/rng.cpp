#include "core/rng.h"

#include <cmath>

namespace attend {

float normal(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t r[4];
  philox4x32(seed, stream, i, r);
  const double u1 = (double(r[0] >> 8) + 1.0) / 16777217.0;  // (0, 1]
  const double u2 = double(r[1] >> 8) / 16777216.0;
  return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
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
