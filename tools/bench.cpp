#include "tools/bench.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "core/allocator.h"
#include "core/bf16_weights.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/profile.h"
#include "core/threads.h"
#include "models/search.h"
#include "optim/factory.h"
#include "tools/train.h"

namespace attend {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;
}

// CPU seconds of this process (all threads, user + system).
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double round_to(double x, int digits) {
  const double p = std::pow(10.0, digits);
  return std::round(x * p) / p;
}

struct Sizes {
  int64_t d_model, heads, ffn_dim, encoder_layers, decoder_layers;
};

Sizes preset_sizes(const BenchOptions& o) {
  Sizes s{};
  if (o.preset == "base")
    s = {512, 8, 2048, 6, 6};
  else if (o.preset == "small")
    s = {256, 4, 1024, 3, 3};
  else
    ATTEND_ERROR("bench: unknown preset '{}'; valid: small, base", o.preset);
  if (o.d_model > 0) s.d_model = o.d_model;
  if (o.heads > 0) s.heads = o.heads;
  if (o.ffn_dim > 0) s.ffn_dim = o.ffn_dim;
  if (o.encoder_layers > 0) s.encoder_layers = o.encoder_layers;
  if (o.decoder_layers > 0) s.decoder_layers = o.decoder_layers;
  return s;
}

BenchOptions resolved(BenchOptions o) {
  CHECK(o.mode == "train" || o.mode == "infer", "bench: unknown mode '{}'; valid: train, infer", o.mode);
  if (o.batch == 0) o.batch = o.mode == "train" ? 64 : 32;
  if (o.steps == 0) o.steps = o.mode == "train" ? 10 : 5;
  CHECK(o.batch > 0 && o.src_len > 0 && o.tgt_len > 0 && o.steps > 0 && o.warmup >= 0,
        "bench: batch {}, src-len {}, tgt-len {}, steps {} must be positive and warmup {} >= 0", o.batch, o.src_len,
        o.tgt_len, o.steps, o.warmup);
  CHECK(o.vocab > 3, "bench: vocab {} must be > 3 (ids 0-2 are special)", o.vocab);
  CHECK(o.beam >= 1, "bench: beam {} must be >= 1", o.beam);
  return o;
}

ModelConfig model_config(const BenchOptions& o) {
  const Sizes s = preset_sizes(o);
  ModelConfig c;
  c.d_model = s.d_model;
  c.heads = s.heads;
  c.ffn_dim = s.ffn_dim;
  c.encoder_layers = s.encoder_layers;
  c.decoder_layers = s.decoder_layers;
  c.dropout = o.dropout;
  c.attention_dropout = o.dropout;  // nn.Transformer drops attention probabilities too
  c.norm = NormPlacement::post;
  c.positions = PositionKind::sinusoidal;
  c.tie_embeddings = TieEmbeddings::all;
  c.src_vocab = c.tgt_vocab = o.vocab;
  c.max_positions = std::max<int64_t>(1024, std::max(o.src_len, o.tgt_len + 1));
  c.pad_id = 0;
  return c;
}

// (rows, cols) i32 ids uniform in [3, vocab), like torch.randint(3, vocab).
Tensor random_ids(std::mt19937_64& rng, int64_t rows, int64_t cols, int64_t vocab) {
  std::uniform_int_distribution<int32_t> dist(3, int32_t(vocab - 1));
  std::vector<int32_t> ids(size_t(rows * cols));
  for (int32_t& id : ids) id = dist(rng);
  return Tensor::from_ids(ids, {rows, cols});
}

// Like the peer: tgt = randint(3, vocab, (B, T+1)), tgt_in = tgt[:, :-1], tgt_out = tgt[:, 1:].
data::Batch random_batch(std::mt19937_64& rng, const BenchOptions& o) {
  data::Batch b;
  b.src = random_ids(rng, o.batch, o.src_len, o.vocab);
  const std::vector<int64_t> tgt = random_ids(rng, o.batch, o.tgt_len + 1, o.vocab).to_ids();
  std::vector<int32_t> in(size_t(o.batch * o.tgt_len)), out(in.size());
  for (int64_t r = 0; r < o.batch; ++r)
    for (int64_t t = 0; t < o.tgt_len; ++t) {
      in[size_t(r * o.tgt_len + t)] = int32_t(tgt[size_t(r * (o.tgt_len + 1) + t)]);
      out[size_t(r * o.tgt_len + t)] = int32_t(tgt[size_t(r * (o.tgt_len + 1) + t + 1)]);
    }
  b.tgt_in = Tensor::from_ids(in, {o.batch, o.tgt_len});
  b.tgt_out = Tensor::from_ids(out, {o.batch, o.tgt_len});
  b.indices.resize(size_t(o.batch));
  for (int64_t i = 0; i < o.batch; ++i) b.indices[size_t(i)] = i;
  b.src_tokens = o.batch * o.src_len;
  b.tgt_tokens = o.batch * o.tgt_len;
  return b;
}

void train_steps(Model& model, const BenchOptions& o, BenchResult& r) {
  model.train();
  // The peer's optimizer: torch.optim.Adam(lr=1e-4, betas=(0.9, 0.98), eps=1e-9).
  auto optimizer = make_optimizer(model.named_parameters(),
                                  {.name = "adam", .lr = 1e-4f, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-9f});
  std::mt19937_64 rng(o.seed);
  std::vector<data::Batch> group(1);
  for (int64_t step = 0; step < o.warmup + o.steps; ++step) {
    group[0] = random_batch(rng, o);
    if (step == o.warmup && profile::enabled()) profile::reset();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    if (profile::enabled()) profile::mark();
    const UpdateResult u = training_update(model, *optimizer, group, o.label_smoothing, 0.0f, 1e-4f);
    const double dt = seconds_since(t0);
    if (step >= o.warmup) r.seconds.push_back(dt), r.cpu_seconds.push_back(cpu_seconds() - c0);
    r.losses.push_back(u.loss);
    spdlog::info("step {} loss {:.3f} {:.0f} ms", step, u.loss, dt * 1e3);
  }
}

void infer_steps(Model& model, const BenchOptions& o, BenchResult& r) {
  model.eval();
  const Seq2Seq& s2s = model.as<Seq2Seq>();
  std::mt19937_64 rng(o.seed);
  const Tensor src = random_ids(rng, o.batch, o.src_len, o.vocab);
  // Exactly tgt_len tokens per row, like the peer: no id is </s>, the limit is tgt_len.
  const SearchOptions search{.beam = o.beam, .max_length_a = 0.0f, .max_length_b = int(o.tgt_len), .bos_id = 1,
                             .eos_id = -1};
  // bf16: each weight rounded once, like the peer's model.to(bfloat16) before timing.
  Bf16WeightCache bf16_weights;
  for (int64_t step = 0; step < o.warmup + o.steps; ++step) {
    if (step == o.warmup && profile::enabled()) profile::reset();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    if (profile::enabled()) profile::mark();
    std::vector<Hypothesis> out;
    if (o.beam == 1) {
      out = greedy_search(s2s, src, search);
    } else {
      for (std::vector<Hypothesis>& nbest : beam_search(s2s, src, search)) out.push_back(std::move(nbest.at(0)));
    }
    const double dt = seconds_since(t0);
    if (step >= o.warmup) r.cpu_seconds.push_back(cpu_seconds() - c0);
    for (const Hypothesis& h : out)
      CHECK(int64_t(h.tokens.size()) == o.tgt_len, "bench: a row decoded {} tokens, expected {}", h.tokens.size(),
            o.tgt_len);
    if (step >= o.warmup) r.seconds.push_back(dt);
    spdlog::info("decode {} {:.0f} ms", step, dt * 1e3);
  }
}

}  // namespace

double bench_train_flops(const BenchOptions& o_in) {
  const BenchOptions o = resolved(o_in);
  const Sizes s = preset_sizes(o);
  const double d = double(s.d_model), f = double(s.ffn_dim), V = double(o.vocab);
  const double S = double(o.src_len), T = double(o.tgt_len), Ns = double(o.batch) * S, Nt = double(o.batch) * T;
  const double gemm_params = Ns * double(s.encoder_layers) * (4 * d * d + 2 * d * f)  // enc: QKVO + FFN
                             + Nt * double(s.decoder_layers) * (6 * d * d + 2 * d * f)  // dec: self QKVO, cross QO, FFN
                             + Ns * double(s.decoder_layers) * 2 * d * d                // dec: cross K,V over memory
                             + Nt * V * d;                                              // tied output projection
  const double attn = 4 * d * (double(s.encoder_layers) * Ns * S + double(s.decoder_layers) * Nt * (T + S));
  return 6 * gemm_params + 3 * attn;
}

BenchResult run_bench(const BenchOptions& options) {
  const BenchOptions o = resolved(options);
  set_num_threads(o.threads);
  set_gemm_precision(parse_gemm_precision(o.precision));
  std::unique_ptr<Model> model = make_model(model_config(o), o.seed + 1);
  const int64_t params = model->num_parameters();
  const int64_t embedding = o.vocab * model->config().d_model;
  spdlog::info("attend bench: {} {} {} | {} threads | gemm {} | params {} (embedding {}, non-embedding {})",
               o.preset, o.mode, o.precision, num_threads(), gemm_backend_name(gemm_backend()), params, embedding,
               params - embedding);

  BenchResult r;
  if (o.mode == "train")
    train_steps(*model, o, r);
  else
    infer_steps(*model, o, r);
  set_gemm_precision(GemmPrecision::fp32);

  r.median_s = median(r.seconds);
  const double tokens = double(o.batch * o.tgt_len);
  r.tgt_tokens_per_s = tokens / r.median_s;
  r.peak_rss_mib = peak_rss_mib();
  nlohmann::ordered_json j;
  j["mode"] = o.mode;
  j["preset"] = o.preset;
  j["decode"] = o.mode == "infer" ? nlohmann::ordered_json("cached") : nlohmann::ordered_json();
  j["bf16"] = o.precision == "bf16";
  j["precision"] = o.precision;
  j["threads"] = o.threads;
  j["gemm"] = gemm_backend_name(gemm_backend());
  j["batch"] = o.batch;
  j["src_len"] = o.src_len;
  j["tgt_len"] = o.tgt_len;
  if (o.mode == "infer") j["beam"] = o.beam;
  j["params"] = params;
  j["nonemb_params"] = params - embedding;
  j["median_s"] = round_to(r.median_s, 4);
  j["min_s"] = round_to(*std::min_element(r.seconds.begin(), r.seconds.end()), 4);
  j["max_s"] = round_to(*std::max_element(r.seconds.begin(), r.seconds.end()), 4);
  j["tgt_tokens_per_s"] = round_to(r.tgt_tokens_per_s, 1);
  j["peak_rss_mib"] = round_to(r.peak_rss_mib, 1);
  j["median_cpu_s"] = round_to(median(r.cpu_seconds), 4);  // all threads: a load-independent cost measure
  if (o.mode == "train") {
    const double flops = bench_train_flops(o);
    r.achieved_gflops = flops / r.median_s / 1e9;
    j["gflop_per_step"] = round_to(flops / 1e9, 1);
    j["mflop_per_tgt_token"] = round_to(flops / tokens / 1e6, 1);
    j["achieved_gflops"] = round_to(r.achieved_gflops, 1);
  }
  r.json = j.dump();
  const AllocatorStats a = allocator().stats();
  spdlog::info("tensor memory: peak in use {:.0f} MiB, now in use {:.0f} MiB + cached {:.0f} MiB",
               double(a.peak_bytes_in_use) / 1048576.0, double(a.bytes_in_use) / 1048576.0,
               double(a.bytes_cached) / 1048576.0);
  if (profile::enabled()) {
    double timed = 0;
    for (double s : r.seconds) timed += s;
    const double ops = profile::forward_seconds() + profile::backward_seconds();
    std::fputs(fmt::format("profile of the {} timed {}:\n{}{:.1f} ms per {} in all; {:.1f} ms outside the ops ({})\n",
                           o.steps, o.mode == "train" ? "steps" : "decodes", profile::report(o.steps),
                           1e3 * timed / double(o.steps), o.mode == "train" ? "step" : "decode",
                           1e3 * (timed - ops) / double(o.steps),
                           o.mode == "train" ? "optimizer step, gradient norm, zero_grad, graph bookkeeping"
                                             : "search bookkeeping")
                   .c_str(),
               stderr);
  }
  return r;
}

}  // namespace attend

// --- attend bench -------------------------------------------------------------------
#include "tools/cli.h"

namespace attend {

Command add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "training or decoding throughput on the PyTorch peer's workloads (../shared/bench); one JSON line");
  cmd->add_option("--preset", o->preset, "small (d 256, 3+3 layers) or base (d 512, 6+6 layers)")
      ->check(CLI::IsMember({"small", "base"}))
      ->capture_default_str();
  cmd->add_option("--mode", o->mode, "train (training steps) or infer (greedy or beam decoding)")
      ->check(CLI::IsMember({"train", "infer"}))
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "sentences per batch (default: train 64, infer 32)");
  cmd->add_option("--src-len", o->src_len, "source tokens per sentence")->capture_default_str();
  cmd->add_option("--tgt-len", o->tgt_len, "train target length / decoded tokens per sentence")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "timed steps (default: train 10) or decodes (infer 5)");
  cmd->add_option("--warmup", o->warmup, "untimed steps first")->capture_default_str();
  cmd->add_option("--threads", o->threads, "threads (0 = every core)")->capture_default_str();
  cmd->add_option("--beam", o->beam,
                  "beam size for infer (1 = greedy); tok/s counts the output sentences' tokens, not every beam's")
      ->capture_default_str();
  cmd->add_option("--precision", o->precision, "fp32, or bf16 matrix products with fp32 accumulation")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--vocab", o->vocab, "shared vocabulary size")->capture_default_str();
  cmd->add_option("--d-model", o->d_model, "overrides the preset");
  cmd->add_option("--heads", o->heads, "overrides the preset");
  cmd->add_option("--ffn", o->ffn_dim, "overrides the preset");
  cmd->add_option("--enc-layers", o->encoder_layers, "overrides the preset");
  cmd->add_option("--dec-layers", o->decoder_layers, "overrides the preset");
  cmd->add_option("--dropout", o->dropout, "dropout (train)")->capture_default_str();
  cmd->add_option("--label-smoothing", o->label_smoothing, "label smoothing (train)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "weights and random tokens")->capture_default_str();
  return {cmd, [o] {
            const BenchResult r = run_bench(*o);
            std::fputs((r.json + "\n").c_str(), stdout);
            std::fflush(stdout);
            return 0;
          }};
}

}  // namespace attend
