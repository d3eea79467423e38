// The run configuration: the five sections of a YAML config (DESIGN.md "Config"),
// each a plain struct with in-class defaults, read once and written back whole.
//
//   Config c = load_config("configs/demo.yaml", {"train.optimizer.lr=3e-4"});
//   save_config(c, "runs/demo/config.yaml");   // every field spelled out
//
// Relative paths resolve against the config file's folder; ${ATTEND_DATA} expands to
// the data root (env ATTEND_DATA, default ../shared/data beside the source tree).
// Unknown keys, wrong types and broken rules fail naming the key, line and column.
#pragma once

#include <string>
#include <vector>

#include "data/options.h"
#include "models/model_config.h"
#include "optim/factory.h"
#include "optim/schedule.h"

namespace attend {

struct TrainConfig {
  OptimizerOptions optimizer{.name = "adam", .lr = 5e-4f, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-9f};
  ScheduleOptions schedule{.name = "inverse_sqrt", .warmup_steps = 4000};  // lr comes from optimizer.lr
  int64_t max_tokens = 4096;     // padded tokens per batch (data/batcher.h)
  int64_t max_sentences = 0;     // 0 = no cap
  int64_t accumulate = 1;        // batches per update
  float label_smoothing = 0.1f;
  float clip_norm = 0.0f;        // 0 = no clipping
  int64_t max_steps = 0;         // 0 = until max_epochs
  int64_t max_epochs = 20;
  double max_minutes = 0;        // stop after this much training time (summed over resumes); 0 = no limit
  int64_t valid_every = 1000;    // steps; validation also runs at each epoch end
  int64_t log_every = 100;       // steps
  int64_t patience = 10;         // validations without improvement before stopping; 0 = never
  int64_t keep_last = 3;         // checkpoints kept
  int64_t seed = 1;
  int threads = 0;               // 0 = all cores
  std::string precision = "fp32";
  std::string gemm = "auto";     // auto | onednn | openblas
  int64_t valid_bleu_max_sentences = 0;  // greedy-decode at most this many for validation BLEU; 0 = all
};

struct DecodeConfig {
  int beam = 4;
  float length_penalty = 0.6f;  // GNMT alpha
  float max_length_a = 1.2f;    // max target length = a * source length + b
  int max_length_b = 10;
  int64_t batch_tokens = 4096;  // decoder rows x source tokens per decoding batch (a sentence counts beam times)
  std::string precision = "fp32";  // fp32 | bf16 matrix products (weights rounded to bf16 once)
};

struct OutputConfig {
  std::string dir = "runs/model";
};

struct Config {
  ModelConfig model;
  data::DataOptions data;
  TrainConfig train;
  DecodeConfig decode;
  OutputConfig output;
};

// The data root: $ATTEND_DATA, else ../shared/data beside the source tree.
std::string data_root_default();

Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
Config parse_config(const std::string& text, const std::string& source, const std::string& base_dir);
std::string config_to_yaml(const Config& config);
void save_config(const Config& config, const std::string& path);  // atomic

// One key whose value differs between two configs (as YAML text): `str()` is
// "key: before -> after"; a key the old one lacks is "(absent)" there.
struct ConfigDifference {
  std::string key, before, after;
  std::string str() const;
};
// The keys of new_yaml (dotted paths, in order) whose values differ from old_yaml's.
std::vector<ConfigDifference> config_differences(const std::string& old_yaml, const std::string& new_yaml);

}  // namespace attend
