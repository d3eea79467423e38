#include "core/rng.h"

#include <cmath>

namespace attend {

void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
  uint32_t c0 = uint32_t(index), c1 = uint32_t(index >> 32), c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n1 = uint32_t(p1);
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1, n3 = uint32_t(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += W0, k1 += W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

float uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t r[4];
  philox4x32(seed, stream, i, r);
  return float(r[0] >> 8) * (1.0f / 16777216.0f);
}

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
