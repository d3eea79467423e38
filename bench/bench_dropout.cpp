// Dropout's random draws (core/rng.h dropout_uniforms: 16-bit uniforms, eight elements per
// Philox4x32-10 evaluation) and the keep mask of a training step's residual dropout (1920 tokens x 512),
// one thread: elements per second.
//
//   OMP_NUM_THREADS=1 build/bench/bench_core --benchmark_filter='^dropout/' --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/kernels_fused.h"
#include "core/rng.h"

namespace {

// Rows of 512 from an odd offset, as add_layer_norm draws them.
void uniforms(benchmark::State& state) {
  std::vector<float> u(512);
  uint64_t row = 0;
  for (auto _ : state) {
    attend::dropout_uniforms(u.data(), 7, 3, 3 + 512 * row++, 512);
    benchmark::DoNotOptimize(u.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 512);
}

void keep_mask(benchmark::State& state) {
  const int64_t n = 1920 * 512;
  std::vector<uint8_t> mask(static_cast<size_t>(n));
  for (auto _ : state) {
    attend::kernels::dropout_keep_mask(mask.data(), n, 0.1f, 7, 3);
    benchmark::DoNotOptimize(mask.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}

BENCHMARK(uniforms)->Name("dropout/uniforms_rows_of_512");
BENCHMARK(keep_mask)->Name("dropout/keep_mask_1920x512")->Unit(benchmark::kMicrosecond);

}  // namespace
