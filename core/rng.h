// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
//
// A Generator holds a seed and a stream counter. Each random op takes the next
// stream (one integer) and draws element i as philox(seed, stream, i), so the
// values do not depend on how many threads compute them, and the whole state is
// two integers to save in a checkpoint.
//
//   Generator gen(1);
//   uint64_t stream = gen.next_stream();
//   float u = uniform(gen.seed(), stream, i);   // in [0, 1)
#pragma once

#include <cstdint>

namespace attend {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t next_stream() { return counter_++; }
  uint64_t counter() const { return counter_; }
  void set_state(uint64_t seed, uint64_t counter) {
    seed_ = seed;
    counter_ = counter;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t counter_ = 0;
};

// Four 32-bit random words for counter `index` of `stream` under key `seed`.
// Inline so that loops drawing one number per element vectorise.
inline void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
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

// Uniform in [0, 1) for element i (24 bits of mantissa).
inline float uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t r[4];
  philox4x32(seed, stream, i, r);
  return float(r[0] >> 8) * (1.0f / 16777216.0f);
}
// Standard normal for element i (Box-Muller on two uniforms).
float normal(uint64_t seed, uint64_t stream, uint64_t i);

// Fills f32 arrays; the same (seed, stream) gives the same values on any thread count.
void fill_uniform(float* out, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream);
void fill_normal(float* out, int64_t n, float mean, float stddev, uint64_t seed, uint64_t stream);

}  // namespace attend
