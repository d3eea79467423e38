// attend inspect: what a model directory holds: architecture (the model: section of
// config.yaml), parameter count by module, vocabulary sizes, labels, decoding defaults,
// and the training state (step of the weights, best validation score, checkpoints).
//
//   ModelReport r = inspect_model_dir("runs/demo");
//   std::cout << format_report(r);
//   nlohmann::json j = report_json(r);
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace attend {

struct ModelReport {
  std::string dir;
  std::string type;
  std::vector<std::pair<std::string, std::string>> architecture;  // ModelConfig fields
  int64_t parameters = 0;
  std::vector<std::pair<std::string, int64_t>> parameters_by_module;  // "encoder.layers" -> count
  std::map<std::string, int64_t> layer_counts;                       // "encoder.layers" -> 6
  bool shared_vocab = true;
  int64_t source_vocab = 0, target_vocab = 0;
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, std::string>> decode;  // decode: section
  std::map<std::string, std::string> weights_metadata;      // e.g. step, averaged_from
  int64_t weights_bytes = 0;
  // From the newest checkpoint (absent when there is none):
  std::vector<int64_t> checkpoints;
  int64_t trained_steps = -1;
  std::string best_metric;
  double best_score = 0;
  int64_t best_step = -1;
};

ModelReport inspect_model_dir(const std::string& dir);
std::string format_report(const ModelReport& r);
nlohmann::json report_json(const ModelReport& r);

}  // namespace attend
