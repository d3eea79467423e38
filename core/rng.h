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

// One Philox round on the counter (c0..c3) and key (k0, k1).
inline void philox_round(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t& k0, uint32_t& k1) {
  const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
  const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n1 = uint32_t(p1);
  const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1, n3 = uint32_t(p0);
  c0 = n0, c1 = n1, c2 = n2, c3 = n3;
  k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
}

// philox4x32 with the ten rounds unrolled, so that a `#pragma omp simd` loop over counters
// vectorises (GCC does not vectorise the round loop): c0..c3 in: counter, out: the words.
inline void philox4x32_unrolled(uint64_t seed, uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3) {
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  philox_round(c0, c1, c2, c3, k0, k1), philox_round(c0, c1, c2, c3, k0, k1);
  philox_round(c0, c1, c2, c3, k0, k1), philox_round(c0, c1, c2, c3, k0, k1);
  philox_round(c0, c1, c2, c3, k0, k1), philox_round(c0, c1, c2, c3, k0, k1);
  philox_round(c0, c1, c2, c3, k0, k1), philox_round(c0, c1, c2, c3, k0, k1);
  philox_round(c0, c1, c2, c3, k0, k1), philox_round(c0, c1, c2, c3, k0, k1);
}

// Four 32-bit random words for counter `index` of `stream` under key `seed`.
inline void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
  uint32_t c0 = uint32_t(index), c1 = uint32_t(index >> 32), c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  philox4x32_unrolled(seed, c0, c1, c2, c3);
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

// A 32-bit word as a uniform in [0, 1) (its top 24 bits).
inline float word_uniform(uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }

// Uniform in [0, 1) for element i: the first word of philox4x32(seed, stream, i)
// (parameter initialisation draws these).
inline float uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t c0 = uint32_t(i), c1 = uint32_t(i >> 32), c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  philox4x32_unrolled(seed, c0, c1, c2, c3);
  return word_uniform(c0);
}

// A 16-bit half-word as a uniform in [0, 1) (a multiple of 2^-16).
inline float half_word_uniform(uint16_t h) { return float(h) * (1.0f / 65536.0f); }

// Dropout's uniform for element i: half-word i % 8 of philox4x32(seed, stream, i / 8) (the
// low half of word k is half-word 2k), each evaluation serving eight consecutive elements.
// 16 bits resolve a keep probability to 2^-16, finer than any dropout rate is set.
inline float dropout_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t w[4];
  philox4x32(seed, stream, i / 8, w);
  const uint32_t word = w[(i % 8) / 2];
  return half_word_uniform(uint16_t(i % 2 ? word >> 16 : word & 0xffffu));
}
// u[j] = dropout_uniform(seed, stream, i0 + j) for j < n, vectorised.
void dropout_uniforms(float* u, uint64_t seed, uint64_t stream, uint64_t i0, int64_t n);
// Standard normal for element i (Box-Muller on two uniforms).
float normal(uint64_t seed, uint64_t stream, uint64_t i);

// Fills f32 arrays; the same (seed, stream) gives the same values on any thread count.
void fill_uniform(float* out, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream);
void fill_normal(float* out, int64_t n, float mean, float stddev, uint64_t seed, uint64_t stream);

}  // namespace attend
