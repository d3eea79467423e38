#include "tools/inspect.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "data/files.h"
#include "tools/checkpoint.h"
#include "tools/model_dir.h"

namespace fs = std::filesystem;

namespace attend {
namespace {

// "encoder.layers.3.fc1.weight" -> "encoder.layers"; "encoder.embed_tokens.weight" -> "encoder.embed_tokens".
std::string module_group(const std::string& name) {
  const size_t first = name.find('.');
  if (first == std::string::npos) return name;
  const size_t second = name.find('.', first + 1);
  return second == std::string::npos ? name.substr(0, first) : name.substr(0, second);
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

ModelReport inspect_model_dir(const std::string& dir) {
  const LoadedModel m = load_model_dir(dir);
  ModelReport r;
  r.dir = dir;
  r.type = m.config.model.type;
  // The model: and decode: sections as config.yaml spells them; of model:, the fields that
  // apply to this type (ModelConfig marks "seq2seq only" / "classifier only").
  const YAML::Node yaml = YAML::Load(config_to_yaml(m.config));
  const std::vector<std::string> skip = r.type == "classifier"
                                            ? std::vector<std::string>{"decoder_layers", "tie_embeddings", "tgt_vocab"}
                                            : std::vector<std::string>{"num_classes", "pooling"};
  for (const auto& kv : yaml["model"]) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(skip.begin(), skip.end(), key) == skip.end())
      r.architecture.emplace_back(key, kv.second.as<std::string>());
  }
  for (const auto& kv : yaml["decode"]) r.decode.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  r.parameters = m.model->num_parameters();
  for (const auto& [name, t] : m.model->named_parameters()) {
    const std::string group = module_group(name);
    auto it = std::find_if(r.parameters_by_module.begin(), r.parameters_by_module.end(),
                           [&](const auto& e) { return e.first == group; });
    if (it == r.parameters_by_module.end()) {
      r.parameters_by_module.emplace_back(group, 0);
      it = r.parameters_by_module.end() - 1;
    }
    it->second += t.numel();
  }
  r.layer_counts["encoder.layers"] = m.config.model.encoder_layers;
  if (r.type == "seq2seq") r.layer_counts["decoder.layers"] = m.config.model.decoder_layers;
  r.shared_vocab = m.vocabs.shared;
  r.source_vocab = m.vocabs.source.vocab_size();
  r.target_vocab = m.vocabs.target.loaded() ? m.vocabs.target.vocab_size() : 0;
  r.labels = m.labels.names();
  r.weights_metadata = m.metadata;
  r.weights_bytes = int64_t(fs::file_size(fs::path(dir) / "model.safetensors"));
  r.checkpoints = list_checkpoints(dir);
  if (!r.checkpoints.empty()) {
    const std::string path = checkpoint_dir(dir, r.checkpoints.back()) + "/trainer.json";
    try {
      const nlohmann::json j = nlohmann::json::parse(data::read_file(path));
      r.trained_steps = j.at("step").get<int64_t>();
      r.best_metric = j.at("best_metric").get<std::string>();
      r.best_score = j.at("best_score").get<double>();
      r.best_step = j.at("best_step").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      ATTEND_ERROR("{}: corrupt trainer state: {}", path, e.what());
    }
  }
  return r;
}

std::string format_report(const ModelReport& r) {
  std::string out = fmt::format("model directory  {}\ntype             {}\narchitecture    ", r.dir, r.type);
  for (const auto& [k, v] : r.architecture) out += fmt::format(" {}={}", k, v);
  out += fmt::format("\nparameters       {} ({:.1f} MiB as f32 on disk)\n", with_commas(r.parameters),
                     double(r.weights_bytes) / (1024.0 * 1024.0));
  for (const auto& [group, n] : r.parameters_by_module) {
    auto layers = r.layer_counts.find(group);
    const std::string name = layers == r.layer_counts.end() ? group : fmt::format("{} (x{})", group, layers->second);
    out += fmt::format("  {:<28} {:>14}  {:5.1f}%\n", name, with_commas(n), 100.0 * double(n) / double(r.parameters));
  }
  if (r.shared_vocab) {
    out += fmt::format("vocabulary       {} pieces, shared (vocab.spm)\n", r.source_vocab);
  } else {
    out += fmt::format("vocabulary       source {} pieces (source.spm), target {} pieces (target.spm)\n", r.source_vocab,
                       r.target_vocab);
  }
  if (!r.labels.empty()) out += fmt::format("labels           {} ({})\n", r.labels.size(), fmt::join(r.labels, ", "));
  if (r.type == "seq2seq") {
    out += "decoding        ";
    for (const auto& [k, v] : r.decode) out += fmt::format(" {}={}", k, v);
    out += "\n";
  }
  auto meta = r.weights_metadata.find("step");
  if (meta != r.weights_metadata.end()) out += fmt::format("weights          from step {}\n", meta->second);
  meta = r.weights_metadata.find("averaged_from");
  if (meta != r.weights_metadata.end()) out += fmt::format("weights          average of {}\n", meta->second);
  if (r.trained_steps >= 0) {
    out += fmt::format("training         {} steps", r.trained_steps);
    if (r.best_step >= 0) out += fmt::format(" | best validation {} {:.2f} at step {}", r.best_metric, r.best_score, r.best_step);
    out += "\n";
  }
  if (!r.checkpoints.empty()) {
    out += "checkpoints     ";
    for (int64_t s : r.checkpoints) out += fmt::format(" step-{}", s);
    out += "\n";
  }
  return out;
}

nlohmann::json report_json(const ModelReport& r) {
  nlohmann::json arch = nlohmann::json::object(), by_module = nlohmann::json::object(),
                 decode = nlohmann::json::object();
  for (const auto& [k, v] : r.architecture) arch[k] = v;
  for (const auto& [k, v] : r.parameters_by_module) by_module[k] = v;
  for (const auto& [k, v] : r.decode) decode[k] = v;
  nlohmann::json j = {{"dir", r.dir},
                      {"type", r.type},
                      {"architecture", arch},
                      {"parameters", r.parameters},
                      {"parameters_by_module", by_module},
                      {"shared_vocab", r.shared_vocab},
                      {"source_vocab", r.source_vocab},
                      {"target_vocab", r.target_vocab},
                      {"labels", r.labels},
                      {"decode", decode},
                      {"weights_metadata", r.weights_metadata},
                      {"checkpoints", r.checkpoints}};
  if (r.trained_steps >= 0) j["trained_steps"] = r.trained_steps;
  if (r.best_step >= 0) {
    j["best_metric"] = r.best_metric;
    j["best_score"] = r.best_score;
    j["best_step"] = r.best_step;
  }
  return j;
}

}  // namespace attend

// --- attend inspect -------------------------------------------------------------------
#include <cstdio>

#include "tools/cli.h"

namespace attend {

Command add_inspect_command(CLI::App& app) {
  struct Args {
    std::string model;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("inspect", "show a model directory: architecture, parameters, vocabulary, training");
  cmd->add_option("--model", args->model, "the model directory")->required();
  cmd->add_flag("--json", args->json, "print one JSON object");
  return {cmd, [args] {
            const ModelReport r = inspect_model_dir(args->model);
            const std::string text = args->json ? report_json(r).dump(2) + "\n" : format_report(r);
            std::fputs(text.c_str(), stdout);
            std::fflush(stdout);
            return 0;
          }};
}

}  // namespace attend
