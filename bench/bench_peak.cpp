// The arithmetic peak of this CPU on the current OpenMP threads, the ceiling the products'
// GFLOP/s are read against: independent chains of fp32 FMAs (vfmadd, 32 FLOP per
// instruction) and, with AVX512-BF16, of bf16 dot products (vdpbf16ps, 64 FLOP), twelve
// accumulators per thread so that latency does not bound them. No memory traffic.
//
//   OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 build/bench/bench_core --benchmark_filter='^peak/' --benchmark_repetitions=3
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

namespace {

#if defined(__AVX512F__)
constexpr int kChains = 12;
constexpr int64_t kIterations = 1 << 20;  // per thread and benchmark iteration

// The lanes of the accumulators summed (through memory: GCC 12's _mm512_reduce_add_ps trips
// -Wuninitialized inside the intrinsic).
float total(const __m512* acc) {
  alignas(64) float lanes[16];
  float sum = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm512_store_ps(lanes, acc[i]);
    for (float v : lanes) sum += v;
  }
  return sum;
}

// kChains accumulators per thread, each stepped kIterations times by `step` (one
// instruction of kFlop FLOP).
template <int kFlop, typename Step>
void run_chains(benchmark::State& state, Step step) {
  float sink = 0;
  for (auto _ : state) {
#pragma omp parallel reduction(+ : sink)
    {
      __m512 acc[kChains];
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
      for (int64_t it = 0; it < kIterations; ++it)
        for (int i = 0; i < kChains; ++i) acc[i] = step(acc[i]);
      sink += total(acc);
    }
  }
  benchmark::DoNotOptimize(sink);
  state.counters["FLOP"] = benchmark::Counter(double(omp_get_max_threads()) * kIterations * kChains * kFlop,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void fma_f32(benchmark::State& state) {
  const __m512 a = _mm512_set1_ps(1.0001f), b = _mm512_set1_ps(0.9999f);
  run_chains<32>(state, [=](__m512 c) { return _mm512_fmadd_ps(a, b, c); });
}
BENCHMARK(fma_f32)->Name("peak/fma_f32")->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

#if defined(__AVX512BF16__)
void dot_bf16(benchmark::State& state) {
  const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3f80);  // bf16 1.0 in every lane
  run_chains<64>(state, [=](__m512 c) { return _mm512_dpbf16_ps(c, one, one); });
}
BENCHMARK(dot_bf16)->Name("peak/dot_bf16")->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

}  // namespace
