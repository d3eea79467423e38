#include "tools/config.h"

#include <cstdlib>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "data/files.h"
#include "models/model.h"
#include "tools/config_yaml.h"

namespace attend {

// --- model ------------------------------------------------------------------------
void describe(config::Fields& f, ModelConfig& m) {
  f.choice("type", m.type, registered_models());
  f.field("d_model", m.d_model);
  f.field("heads", m.heads);
  f.field("ffn_dim", m.ffn_dim);
  f.field("encoder_layers", m.encoder_layers);
  f.field("decoder_layers", m.decoder_layers);
  f.field("dropout", m.dropout);
  f.field("attention_dropout", m.attention_dropout);
  f.enumeration("activation", m.activation, activation_names());
  f.enumeration("norm", m.norm, norm_names());
  f.enumeration("positions", m.positions, position_names());
  f.field("max_positions", m.max_positions);
  f.enumeration("tie_embeddings", m.tie_embeddings, tie_names());
  f.field("src_vocab", m.src_vocab);
  f.field("tgt_vocab", m.tgt_vocab);
  f.field("num_classes", m.num_classes);
  f.enumeration("pooling", m.pooling, pooling_names());
  f.field("pad_id", m.pad_id);
}

// --- data -------------------------------------------------------------------------
namespace data {
void describe(config::Fields& f, CorpusPaths& c) {
  f.path("source", c.source);
  f.path("target", c.target);
  f.path("table", c.table);
}

void describe(config::Fields& f, VocabOptions& v) {
  f.field("size", v.size);
  f.check(v.size > 4, "size", "must be more than the 4 special pieces");
  f.choice("type", v.type, {"unigram", "bpe"});
  f.field("shared", v.shared);
  f.field("character_coverage", v.character_coverage);
  f.check(v.character_coverage > 0 && v.character_coverage <= 1, "character_coverage", "must be in (0, 1]");
  f.field("sample_sentences", v.sample_sentences);
  f.choice("normalization", v.normalization, {"nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"});
  f.field("byte_fallback", v.byte_fallback);
  int64_t seed = v.seed;
  f.field("seed", seed);
  v.seed = uint32_t(seed);
  f.field("threads", v.threads);
  f.path("file", v.file);
  f.path("source_file", v.source_file);
  f.path("target_file", v.target_file);
}

void describe(config::Fields& f, TableOptions& t) {
  f.field("text_column", t.text_column);
  f.field("label_column", t.label_column);
  std::string delimiter = t.delimiter ? std::string(1, t.delimiter) : "";
  f.field("delimiter", delimiter);
  f.check(delimiter.size() <= 1, "delimiter", "must be one character, or empty for: from the file name");
  t.delimiter = delimiter.size() == 1 ? delimiter[0] : 0;
  f.field("quoting", t.quoting);
}

void describe(config::Fields& f, DataOptions& d) {
  f.section("train", d.train);
  f.section("valid", d.valid);
  f.section("vocab", d.vocab);
  f.section("table", d.table);
  f.field("max_length", d.max_length);
  f.check(d.max_length >= 0, "max_length", "must be >= 0");
}
}  // namespace data

// --- train ------------------------------------------------------------------------
void describe(config::Fields& f, OptimizerOptions& o) {
  f.choice("name", o.name, optimizer_names());
  f.field("lr", o.lr);
  f.check(o.lr > 0, "lr", "must be > 0");
  std::vector<float> betas{float(o.beta1), float(o.beta2)};
  f.field("betas", betas);
  f.check(betas.size() == 2, "betas", "must be a list of two numbers");
  if (betas.size() == 2) o.beta1 = betas[0], o.beta2 = betas[1];
  f.field("eps", o.eps);
  f.field("weight_decay", o.weight_decay);
  f.field("momentum", o.momentum);
  f.field("dampening", o.dampening);
  f.field("nesterov", o.nesterov);
}

void describe(config::Fields& f, ScheduleOptions& s) {
  f.choice("name", s.name, schedule_names());
  f.field("warmup_steps", s.warmup_steps);
  f.check(s.warmup_steps >= 0, "warmup_steps", "must be >= 0");
  f.check(s.name != "inverse_sqrt" || s.warmup_steps >= 1, "warmup_steps", "must be >= 1 for the inverse_sqrt schedule");
  f.field("warmup_init_lr", s.warmup_init_lr);
  f.field("total_steps", s.total_steps);
  f.check((s.name != "linear" && s.name != "cosine") || s.total_steps > s.warmup_steps, "total_steps",
          "must be greater than warmup_steps for the " + s.name + " schedule (the step where the decay ends)");
  f.field("min_lr", s.min_lr);
}

void describe(config::Fields& f, TrainConfig& t) {
  f.section("optimizer", t.optimizer);
  f.section("schedule", t.schedule);
  f.field("max_tokens", t.max_tokens);
  f.check(t.max_tokens > 0, "max_tokens", "must be > 0");
  f.field("max_sentences", t.max_sentences);
  f.field("accumulate", t.accumulate);
  f.check(t.accumulate >= 1, "accumulate", "must be >= 1");
  f.field("label_smoothing", t.label_smoothing);
  f.check(t.label_smoothing >= 0 && t.label_smoothing < 1, "label_smoothing", "must be in [0, 1)");
  f.field("clip_norm", t.clip_norm);
  f.field("max_steps", t.max_steps);
  f.field("max_epochs", t.max_epochs);
  f.check(t.max_steps > 0 || t.max_epochs > 0, "max_epochs", "must be > 0 when max_steps is 0");
  f.field("max_minutes", t.max_minutes);
  f.check(t.max_minutes >= 0, "max_minutes", "must be >= 0 (0 = no time limit)");
  f.field("valid_every", t.valid_every);
  f.field("log_every", t.log_every);
  f.check(t.log_every > 0, "log_every", "must be > 0");
  f.field("patience", t.patience);
  f.field("keep_last", t.keep_last);
  f.check(t.keep_last >= 1, "keep_last", "must be >= 1");
  f.field("seed", t.seed);
  f.field("threads", t.threads);
  f.check(t.threads >= 0, "threads", "must be >= 0 (0 = all cores)");
  f.choice("precision", t.precision, {"fp32", "bf16"});
  f.choice("gemm", t.gemm, {"auto", "onednn", "openblas"});
  f.field("valid_bleu_max_sentences", t.valid_bleu_max_sentences);
}

void describe(config::Fields& f, DecodeConfig& d) {
  f.field("beam", d.beam);
  f.check(d.beam >= 1, "beam", "must be >= 1");
  f.field("length_penalty", d.length_penalty);
  f.field("max_length_a", d.max_length_a);
  f.field("max_length_b", d.max_length_b);
  f.field("batch_tokens", d.batch_tokens);
  f.check(d.batch_tokens > 0, "batch_tokens", "must be > 0");
  f.choice("precision", d.precision, {"fp32", "bf16"});
}

void describe(config::Fields& f, OutputConfig& o) { f.path("dir", o.dir, config::required); }

void describe(config::Fields& f, Config& c) {
  f.section("model", c.model);
  f.section("data", c.data);
  f.section("train", c.train);
  f.section("decode", c.decode);
  f.section("output", c.output);
}

std::string data_root_default() { return data::data_root(); }

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  config::Document doc = config::Document::load_file(path);
  doc.set_env_default("ATTEND_DATA", data_root_default());
  for (const std::string& o : overrides) doc.set(o);
  Config c;
  doc.read(c);
  return c;
}

Config parse_config(const std::string& text, const std::string& source, const std::string& base_dir) {
  config::Document doc = config::Document::parse(text, source, base_dir);
  doc.set_env_default("ATTEND_DATA", data_root_default());
  Config c;
  doc.read(c);
  return c;
}

std::string config_to_yaml(const Config& config) { return config::to_yaml(config); }

void save_config(const Config& config, const std::string& path) {
  data::write_file_atomic(path, config_to_yaml(config));
}

namespace {

// Every scalar of a YAML tree by its dotted path; a sequence is one value, in flow style.
void flatten(const YAML::Node& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
  } else if (node.IsSequence()) {
    YAML::Emitter e;
    e << YAML::Flow << node;
    out[prefix] = e.c_str();
  } else {
    out[prefix] = node.IsNull() ? "" : node.as<std::string>();
  }
}

}  // namespace

std::string ConfigDifference::str() const { return fmt::format("{}: {} -> {}", key, before, after); }

std::vector<ConfigDifference> config_differences(const std::string& old_yaml, const std::string& new_yaml) {
  std::map<std::string, std::string> a, b;
  flatten(YAML::Load(old_yaml), "", a);
  flatten(YAML::Load(new_yaml), "", b);
  std::vector<ConfigDifference> diffs;
  for (const auto& [key, value] : b) {
    auto it = a.find(key);
    const std::string before = it == a.end() ? "(absent)" : it->second;
    if (before != value) diffs.push_back({key, before, value});
  }
  return diffs;
}

}  // namespace attend
