#include "tools/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "data/files.h"
#include "layers/weights.h"

namespace fs = std::filesystem;

namespace attend {
namespace {

constexpr const char* kTempPrefix = ".incomplete-step-";

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string state_to_json(const TrainerState& s) {
  nlohmann::json j = {{"step", s.step},
                      {"batcher", nlohmann::json::parse(s.batcher.empty() ? "{}" : s.batcher)},
                      {"rng_seed", s.rng_seed},
                      {"rng_counter", s.rng_counter},
                      {"best_score", s.best_score},
                      {"best_step", s.best_step},
                      {"best_metric", s.best_metric},
                      {"bad_validations", s.bad_validations},
                      {"elapsed_seconds", s.elapsed_seconds}};
  return j.dump(2) + "\n";
}

TrainerState state_from_json(const std::string& text, const std::string& path) {
  TrainerState s;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    s.step = j.at("step").get<int64_t>();
    s.batcher = j.at("batcher").dump();
    s.rng_seed = j.at("rng_seed").get<uint64_t>();
    s.rng_counter = j.at("rng_counter").get<uint64_t>();
    s.best_score = j.at("best_score").get<double>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.best_metric = j.at("best_metric").get<std::string>();
    s.bad_validations = j.at("bad_validations").get<int64_t>();
    s.elapsed_seconds = j.at("elapsed_seconds").get<double>();
  } catch (const nlohmann::json::exception& e) {
    ATTEND_ERROR("{}: corrupt trainer state: {}", path, e.what());
  }
  return s;
}

}  // namespace

std::string checkpoint_dir(const std::string& model_dir, int64_t step) {
  return (fs::path(model_dir) / "checkpoints" / ("step-" + std::to_string(step))).string();
}

std::vector<int64_t> list_checkpoints(const std::string& model_dir) {
  std::vector<int64_t> steps;
  const fs::path dir = fs::path(model_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return steps;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("step-", 0) != 0) continue;
    try {
      size_t used = 0;
      const int64_t step = std::stoll(name.substr(5), &used);
      if (used == name.size() - 5 && fs::exists(entry.path() / "trainer.json")) steps.push_back(step);
    } catch (const std::exception&) {
    }
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

int clean_incomplete_checkpoints(const std::string& model_dir) {
  int removed = 0;
  const fs::path dir = fs::path(model_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind(kTempPrefix, 0) == 0) {
      fs::remove_all(entry.path());
      ++removed;
    }
  }
  return removed;
}

void save_checkpoint(const std::string& model_dir, const Module& model, const Optimizer& optimizer,
                     const TrainerState& state, int64_t keep_last) {
  const fs::path root = fs::path(model_dir) / "checkpoints";
  fs::create_directories(root);
  const fs::path tmp = root / (kTempPrefix + std::to_string(state.step) + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  save_weights(model, (tmp / "model.safetensors").string());
  // Test-only hook (tests/train): ATTEND_TEST_CRASH_IN_CHECKPOINT=N kills the process while
  // checkpoint step-N is half written, as a power cut or the OOM killer would.
  if (const char* crash = std::getenv("ATTEND_TEST_CRASH_IN_CHECKPOINT"); crash && std::to_string(state.step) == crash)
    ::raise(SIGKILL);
  OptimizerState opt = optimizer.state();
  std::vector<std::pair<std::string, Tensor>> tensors(opt.tensors.begin(), opt.tensors.end());
  std::map<std::string, std::string> meta{{"optimizer", optimizer.name()}};
  for (const auto& [name, value] : opt.scalars) meta["scalar." + name] = fmt::format("{}", value);
  save_safetensors((tmp / "optimizer.safetensors").string(), tensors, meta);
  data::write_file_atomic((tmp / "trainer.json").string(), state_to_json(state));
  fsync_path(tmp.string());

  const fs::path final_dir = checkpoint_dir(model_dir, state.step);
  fs::remove_all(final_dir);  // a re-run of the same step replaces it
  fs::rename(tmp, final_dir);
  fsync_path(root.string());

  std::vector<int64_t> steps = list_checkpoints(model_dir);
  for (size_t i = 0; i + size_t(keep_last) < steps.size(); ++i) fs::remove_all(checkpoint_dir(model_dir, steps[i]));
}

TrainerState load_checkpoint(const std::string& model_dir, int64_t step, Module& model, Optimizer& optimizer) {
  const std::string dir = checkpoint_dir(model_dir, step);
  const std::string trainer_path = dir + "/trainer.json";
  CHECK(data::file_exists(trainer_path), "checkpoint {} is incomplete: {} is missing", dir, trainer_path);
  TrainerState state = state_from_json(data::read_file(trainer_path), trainer_path);
  load_weights(model, dir + "/model.safetensors");

  SafetensorsFile f = load_safetensors(dir + "/optimizer.safetensors");
  CHECK(f.metadata.count("optimizer") && f.metadata.at("optimizer") == optimizer.name(),
        "{}/optimizer.safetensors holds the state of optimizer '{}', but the config uses '{}'", dir,
        f.metadata.count("optimizer") ? f.metadata.at("optimizer") : "?", optimizer.name());
  OptimizerState opt;
  for (const std::string& name : f.names) opt.tensors[name] = f.at(name);
  for (const auto& [key, value] : f.metadata) {
    if (key.rfind("scalar.", 0) != 0) continue;
    try {
      opt.scalars[key.substr(7)] = std::stod(value);
    } catch (const std::exception&) {
      ATTEND_ERROR("{}/optimizer.safetensors: scalar '{}' is not a number: '{}'", dir, key.substr(7), value);
    }
  }
  optimizer.load_state(opt);
  return state;
}

}  // namespace attend
