// Model directories for the inference tests, trained through the real `attend train`
// path: a tiny seq2seq on a synthetic German->English corpus and a tiny classifier on a
// synthetic TSV. ctest runs every test case in its own process, so the models are
// trained once per build of the test binary into a shared temp folder (keyed by the
// binary's modification time, guarded by a file lock) and reused; tests only read them.
#pragma once

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/train.h"

namespace attend::test_util {

inline const std::filesystem::path& temp_root() {
  static const std::filesystem::path root = [] {
    auto p = std::filesystem::temp_directory_path() / ("attend_infer_" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    std::atexit([] { std::filesystem::remove_all(temp_root()); });
    return p;
  }();
  return root;
}

// A fresh empty folder under the temp root.
inline std::string scratch(const std::string& name) {
  const auto p = temp_root() / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

inline std::string write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << "\n";
  return path;
}

struct ParallelText {
  std::vector<std::string> source, target;
};

// 25 sentence pairs, each 4 times.
inline ParallelText synthetic_parallel() {
  const std::vector<std::pair<std::string, std::string>> who = {
      {"Ein Hund", "A dog"}, {"Eine Katze", "A cat"}, {"Zwei Männer", "Two men"}, {"Der Junge", "The boy"},
      {"Die Frau", "The woman"}};
  const std::vector<std::pair<std::string, std::string>> what = {
      {"läuft.", "runs."}, {"schläft.", "sleeps."}, {"spielt im Park.", "plays in the park."},
      {"isst.", "eats."}, {"sieht uns an.", "looks at us."}};
  ParallelText t;
  for (int rep = 0; rep < 4; ++rep)
    for (const auto& w : who)
      for (const auto& v : what) {
        t.source.push_back(w.first + " " + v.first);
        t.target.push_back(w.second + " " + v.second);
      }
  return t;
}

// The shared folder of trained models for this build of the test binary; older ones are removed.
inline std::filesystem::path model_cache() {
  struct stat st{};
  CHECK(::stat("/proc/self/exe", &st) == 0, "cannot stat /proc/self/exe");
  const std::string prefix = "attend_infer_models_" + std::to_string(::getuid()) + "_";
  const std::string key = std::to_string(st.st_mtim.tv_sec) + "_" + std::to_string(st.st_mtim.tv_nsec);
  const auto tmp = std::filesystem::temp_directory_path();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tmp, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name != prefix + key && name != prefix + key + ".lock")
      std::filesystem::remove_all(entry.path(), ec);
  }
  return tmp / (prefix + key);
}

// Trains `name` unless a complete copy is cached; returns its model directory.
inline std::string train_model(const std::string& name, const std::string& data_dir,
                               const std::function<void(const std::string&)>& write_data, const std::string& yaml) {
  const std::filesystem::path cache = model_cache();
  const int lock = ::open((cache.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  CHECK(lock >= 0, "cannot create {}.lock", cache.string());
  ::flock(lock, LOCK_EX);
  const std::string dir = (cache / name).string();
  if (!std::filesystem::exists(cache / (name + ".complete"))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(cache / data_dir);
    write_data((cache / data_dir).string());
    const auto level = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);
    train(parse_config(yaml + "output: {dir: " + dir + "}\n", name + ".yaml", (cache / data_dir).string()));
    spdlog::set_level(level);
    std::ofstream(cache / (name + ".complete")) << "ok\n";
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return dir;
}

// Seq2seq, 100 steps, validation and a checkpoint every epoch (5 steps; the last 3 kept), decode beam 2.
inline const std::string& seq2seq_dir() {
  static const std::string dir = train_model(
      "seq2seq", "seq2seq_data",
      [](const std::string& data) {
        const ParallelText t = synthetic_parallel();
        write_lines(data + "/train.de", t.source);
        write_lines(data + "/train.en", t.target);
        write_lines(data + "/valid.de", {t.source[0], t.source[7], t.source[13]});
        write_lines(data + "/valid.en", {t.target[0], t.target[7], t.target[13]});
      },
      "model: {type: seq2seq, d_model: 32, heads: 2, ffn_dim: 64, encoder_layers: 1,\n"
      "        decoder_layers: 2, dropout: 0.0, max_positions: 48}\n"
      "data: {train: {source: train.de, target: train.en}, valid: {source: valid.de, target: valid.en},\n"
      "       vocab: {size: 60, shared: true, threads: 1}, max_length: 40}\n"
      "train: {optimizer: {name: adam, lr: 0.005}, schedule: {name: constant, warmup_steps: 0},\n"
      "        max_tokens: 400, max_steps: 100, valid_every: 10, keep_last: 3,\n"
      "        label_smoothing: 0.0, threads: 1, log_every: 10}\n"
      "decode: {beam: 2, length_penalty: 0.6, max_length_a: 1.2, max_length_b: 5}\n");
  return dir;
}

// Classifier: label "pos" for sentences with "good", "neg" with "bad"; 30 steps.
inline std::vector<std::string> synthetic_table() {
  const std::vector<std::string> subjects = {"the film", "this book", "the food", "our trip", "the show"};
  const std::vector<std::pair<std::string, std::string>> verdicts = {
      {"is good", "pos"}, {"was really good", "pos"}, {"is bad", "neg"}, {"was really bad", "neg"}};
  std::vector<std::string> rows = {"sentence\tlabel"};
  for (int rep = 0; rep < 3; ++rep)
    for (const auto& s : subjects)
      for (const auto& v : verdicts) rows.push_back(s + " " + v.first + "\t" + v.second);
  return rows;
}

inline const std::string& classifier_dir() {
  static const std::string dir = train_model(
      "classifier", "classifier_data",
      [](const std::string& data) {
        const std::vector<std::string> rows = synthetic_table();
        write_lines(data + "/train.tsv", rows);
        write_lines(data + "/valid.tsv", {rows[0], rows[1], rows[3], rows[6], rows[8]});
      },
      "model: {type: classifier, d_model: 32, heads: 2, ffn_dim: 64, encoder_layers: 1,\n"
      "        dropout: 0.0, max_positions: 48}\n"
      "data: {train: {table: train.tsv}, valid: {table: valid.tsv},\n"
      "       vocab: {size: 40, shared: true, threads: 1}, max_length: 40}\n"
      "train: {optimizer: {name: adam, lr: 0.005}, schedule: {name: constant, warmup_steps: 0},\n"
      "        max_tokens: 400, max_steps: 30, valid_every: 10, keep_last: 3,\n"
      "        label_smoothing: 0.0, threads: 1, log_every: 10}\n");
  return dir;
}

}  // namespace attend::test_util
