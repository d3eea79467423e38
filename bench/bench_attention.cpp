// Attention forward + backward, the fused op (core/ops.h `attention`) against the composed
// ops layers/attention.cpp used before it (matmul, masked_fill, softmax, dropout, matmul),
// on the attention shapes of a small-preset training step (4 heads of 64): batch 64 of
// 30 and 128 tokens, and batch 8 of 1024 (8192 tokens per batch either way); fused also with
// bf16 products (gemm precision bf16). Causal with
// attention dropout 0.1 (as the decoder's self-attention in training) and without dropout.
//
//   OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 build/bench/bench_core --benchmark_filter='^attention/'
//       --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>

#include "core/gemm_bf16.h"
#include "core/ops.h"

namespace {

using attend::Tensor;

// (B,L,H*Dh) -> (B,H,L,Dh)
Tensor split(const Tensor& x, int64_t H) {
  return x.reshape({x.size(0), x.size(1), H, x.size(2) / H}).permute({0, 2, 1, 3});
}

Tensor composed(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, int64_t H, const Tensor& causal,
                float scale, float p, attend::Generator& gen) {
  const Tensor q = split(q_in, H), k = split(k_in, H), v = split(v_in, H);
  Tensor scores = attend::masked_fill(attend::matmul(q * scale, k.transpose(2, 3)), causal, -1e30f);
  Tensor probs = attend::softmax(scores);
  Tensor y = attend::matmul(p > 0.0f ? attend::dropout(probs, p, gen) : probs, v);
  return y.permute({0, 2, 1, 3}).reshape({q_in.size(0), q_in.size(1), q_in.size(2)});
}

void run(benchmark::State& state, bool fused, bool bf16, int64_t B, int64_t L, float p) {
  attend::GemmPrecisionScope precision(bf16 ? attend::GemmPrecision::bf16 : attend::GemmPrecision::fp32);
  const int64_t H = 4, Dh = 64;
  const float scale = 1.0f / std::sqrt(float(Dh));
  Tensor q = Tensor::empty({B, L, H * Dh}), k = Tensor::empty({B, L, H * Dh}), v = Tensor::empty({B, L, H * Dh});
  for (uint64_t i = 0; Tensor* t : {&q, &k, &v}) {
    attend::fill_uniform(t->data(), t->numel(), -1, 1, 1, i++);
    t->set_requires_grad(true);
  }
  std::vector<float> m(size_t(L * L));
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < L; ++j) m[size_t(i * L + j)] = j > i ? 1.0f : 0.0f;
  const Tensor causal = Tensor::from_vector(m, {L, L});
  const Tensor dy = Tensor::ones({B, L, H * Dh});
  attend::Generator gen(1);
  for (auto _ : state) {
    Tensor y = fused ? attend::attention(q, k, v, H, Tensor(), true, scale, p, &gen)
                     : composed(q, k, v, H, causal, scale, p, gen);
    y.backward(dy);
    for (Tensor* t : {&q, &k, &v}) t->zero_grad();
  }
  state.counters["tokens"] = benchmark::Counter(double(B * L), benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  for (auto [B, L] : {std::pair<int64_t, int64_t>{64, 30}, {64, 128}, {8, 1024}})
    for (float p : {0.1f, 0.0f})
      for (int variant = 0; variant < 3; ++variant) {
        const bool fused = variant < 2, bf16 = variant == 1;
        benchmark::RegisterBenchmark(("attention/" + std::string(bf16 ? "fused-bf16" : fused ? "fused" : "composed") + "/B" +
                                      std::to_string(B) + "xL" + std::to_string(L) + (p > 0 ? "/dropout" : ""))
                                         .c_str(),
                                     [=](benchmark::State& st) { run(st, fused, bf16, B, L, p); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
}

const int registered = (register_all(), 0);

}  // namespace
