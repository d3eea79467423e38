// gemm in fp32 and bf16 (operands rounded on the fly, f32 accumulation; core/gemm_bf16.h)
// on the products of a training step of the base preset (1920 tokens, d 512, ffn 2048,
// vocab 8000): forward y = x w^T, backward dx = dy w and dw = dy^T x, plus a decode-
// step product (32 rows). FLOP/s counts 2*M*N*K per call, rounding included.
//
//   OMP_NUM_THREADS=2 build/bench/bench_core --benchmark_filter='^gemm_precision/' --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>

#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace {

using attend::GemmPrecision;

// C: (M,N) = op(A) @ op(B); A stored (M,K) or (K,M) when ta, B stored (K,N) or (N,K) when tb.
void run(benchmark::State& state, GemmPrecision precision, bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  attend::GemmPrecisionScope scope(precision);
  attend::Tensor a = attend::Tensor::empty({M * K}), b = attend::Tensor::empty({K * N});
  attend::Tensor c = attend::Tensor::empty({M * N});
  attend::fill_uniform(a.data(), a.numel(), -1, 1, 1, 0);
  attend::fill_uniform(b.data(), b.numel(), -1, 1, 1, 1);
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  for (auto _ : state) {
    attend::gemm(ta, tb, M, N, K, 1.0f, a.data(), lda, 0, b.data(), ldb, 0, 0.0f, c.data(), N, 0);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP"] = benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::OneK::kIs1000);
}

void register_all() {
  struct Case {
    const char* name;
    bool ta, tb;
    int64_t M, N, K;
  };
  const Case cases[] = {{"fwd_1920x512->2048", false, true, 1920, 2048, 512},
                        {"dx_1920x2048->512", false, false, 1920, 512, 2048},
                        {"dw_2048x512(1920)", true, false, 2048, 512, 1920},
                        {"fwd_1920x512->8000", false, true, 1920, 8000, 512},
                        {"decode_32x512->2048", false, true, 32, 2048, 512}};
  for (GemmPrecision p : {GemmPrecision::fp32, GemmPrecision::bf16})
    for (const Case& c : cases)
      benchmark::RegisterBenchmark(
          (std::string("gemm_precision/") + attend::gemm_precision_name(p) + "/" + c.name).c_str(),
          [=](benchmark::State& st) { run(st, p, c.ta, c.tb, c.M, c.N, c.K); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

const int registered = (register_all(), 0);

}  // namespace
