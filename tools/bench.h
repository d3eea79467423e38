// attend bench: training and decoding throughput on this machine, on the workloads of
// the PyTorch peer (../shared/bench/torch_transformer.py): a Transformer preset (small:
// d 256, 4 heads, ffn 1024, 3+3 layers; base: d 512, 8 heads, ffn 2048, 6+6 layers),
// shared vocabulary 8000 with tied embeddings, post-norm, random tokens of fixed shape.
// train times the real training step (tools/train.h training_update: forward, label-
// smoothed loss, backward, Adam); infer times the real greedy decoder (models/search.h)
// producing exactly tgt_len tokens per row with the K/V cache.
//
//   BenchResult r = run_bench({.preset = "small", .mode = "train", .steps = 3});
//   std::cout << r.json << "\n";   // the peer's keys: tgt_tokens_per_s, achieved_gflops, ...
//
// With ATTEND_PROFILE=1 (core/profile.h) the timed steps are profiled by op and the
// table goes to stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attend {

struct BenchOptions {
  std::string preset = "base";  // small | base
  std::string mode = "train";   // train | infer
  int64_t batch = 0;            // 0: 64 (train) or 32 (infer)
  int64_t src_len = 30;
  int64_t tgt_len = 30;         // train target length / decoded tokens per row
  int64_t steps = 0;            // timed steps; 0: 10 (train) or 5 (infer)
  int64_t warmup = 2;
  int threads = 2;
  int beam = 1;
  std::string precision = "fp32";  // fp32 | bf16
  int64_t vocab = 8000;
  // Overrides of the preset (0: the preset's value), for tests and experiments.
  int64_t d_model = 0, heads = 0, ffn_dim = 0, encoder_layers = 0, decoder_layers = 0;
  float dropout = 0.1f;
  float label_smoothing = 0.1f;
  uint64_t seed = 0;
};

struct BenchResult {
  std::vector<double> seconds;      // every timed step, wall clock
  std::vector<double> cpu_seconds;  // every timed step, CPU time of all threads
  double median_s = 0;
  double tgt_tokens_per_s = 0;
  double achieved_gflops = 0;  // train only (0 for infer)
  double peak_rss_mib = 0;
  std::vector<double> losses;  // train: the loss of every step, warm-up included
  std::string json;            // one line
};

// Training FLOPs of one step (forward + backward = 3x forward), counted as the peer
// counts them: the products of the projections, FFN and output layer, and QK^T, PV.
double bench_train_flops(const BenchOptions& options);

BenchResult run_bench(const BenchOptions& options);

}  // namespace attend
