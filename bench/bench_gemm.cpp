// gemm through each backend on the products of a Transformer layer (d 512, ffn 2048):
// M = 4096 tokens through the attention projections and both FFN layers, and a batch
// of 64 attention-sized products. Reports FLOP/s (2*M*N*K*batch per call).
//
//   OMP_NUM_THREADS=2 build/bench/bench_core --benchmark_filter='^gemm/' --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// (docs/benchmarks.md has the figures.)
#include <benchmark/benchmark.h>

#include <string>

#include "core/gemm.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace {

using attend::GemmBackend;

// y: (batch,M,N) = x: (batch,M,K) @ w^T, w: (batch,N,K), nn.Linear layout (trans_b).
void run(benchmark::State& state, GemmBackend backend, int64_t batch, int64_t M, int64_t K, int64_t N) {
  attend::set_gemm_backend(backend);
  // Tensors for their 64-byte aligned storage, as the ops pass it.
  attend::Tensor x = attend::Tensor::empty({batch, M, K}), w = attend::Tensor::empty({batch, N, K});
  attend::Tensor y = attend::Tensor::empty({batch, M, N});
  attend::fill_uniform(x.data(), x.numel(), -1, 1, 1, 0);
  attend::fill_uniform(w.data(), w.numel(), -1, 1, 1, 1);
  for (auto _ : state) {
    attend::gemm(false, true, M, N, K, 1.0f, x.data(), K, M * K, w.data(), K, N * K, 0.0f, y.data(), N, M * N,
                 batch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(batch * M * N * K);
  // Shown as e.g. "FLOP=380G/s": floating-point operations per second, SI prefix.
  state.counters["FLOP"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::OneK::kIs1000);
}

void register_all() {
  struct Shape {
    const char* name;
    int64_t batch, M, K, N;
  };
  const Shape shapes[] = {{"4096x512->512", 1, 4096, 512, 512},
                          {"4096x512->2048", 1, 4096, 512, 2048},
                          {"4096x2048->512", 1, 4096, 2048, 512},
                          {"64x(32x64@64x32)", 64, 32, 64, 32}};
  for (GemmBackend backend : {GemmBackend::onednn, GemmBackend::openblas})
    for (const Shape& s : shapes)
      benchmark::RegisterBenchmark(
          (std::string("gemm/") + attend::gemm_backend_name(backend) + "/" + s.name).c_str(),
          [=](benchmark::State& st) { run(st, backend, s.batch, s.M, s.K, s.N); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

const int registered = (register_all(), 0);

}  // namespace
