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
void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);

// Uniform in [0, 1) for element i (24 bits of mantissa).
float uniform(uint64_t seed, uint64_t stream, uint64_t i);
// Standard normal for element i (Box-Muller on two uniforms).
float normal(uint64_t seed, uint64_t stream, uint64_t i);

// Fills f32 arrays; the same (seed, stream) gives the same values on any thread count.
void fill_uniform(float* out, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream);
void fill_normal(float* out, int64_t n, float mean, float stddev, uint64_t seed, uint64_t stream);

}  // namespace attend
