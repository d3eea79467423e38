// Helpers shared by the training tests: a scratch directory per test, synthetic tasks
// written as corpora (digit sequences and their reversal; sentences labelled by the
// sentiment word they contain), the tiny config pointed at them, and the measures the
// tests check (exact match of greedy translations, classifier accuracy, file bytes).
//
//   DigitTask task = reverse_digits(2000, 3, 7, /*seed=*/1);
//   write_parallel(dir, "train", task);
//   Config c = tiny_config(dir, {"train.max_steps=20"});
//   TrainSummary s = train(c);
//   double em = exact_match(c.output.dir, held_out.source, held_out.target);
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "models/classifier.h"
#include "models/search.h"
#include "tools/config.h"
#include "tools/model_dir.h"
#include "tools/train.h"

#ifndef ATTEND_SOURCE_DIR
#error "tests/train needs ATTEND_SOURCE_DIR (tests/train/CMakeLists.txt defines it)"
#endif

namespace attend::train_test {

namespace fs = std::filesystem;

inline std::string tiny_yaml() { return std::string(ATTEND_SOURCE_DIR) + "/configs/tiny.yaml"; }

// A fresh directory under the system temp dir, removed when the test ends.
class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (fs::temp_directory_path() / (std::string("attend_train_") + info->test_suite_name() + "_" +
                                         info->name() + "_" + std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

inline void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const std::string& l : lines) out << l << '\n';
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct DigitTask {
  std::vector<std::string> source, target;
};

// n sequences of min_len..max_len digits "3 1 4 1", each with its reversal "1 4 1 3".
inline DigitTask reverse_digits(int n, int min_len, int max_len, uint64_t seed) {
  std::mt19937_64 rng(seed);
  DigitTask t;
  for (int i = 0; i < n; ++i) {
    const int len = min_len + int(rng() % uint64_t(max_len - min_len + 1));
    std::vector<std::string> digits;
    for (int k = 0; k < len; ++k) digits.push_back(std::to_string(rng() % 10));
    std::string src, tgt;
    for (int k = 0; k < len; ++k) {
      src += (k ? " " : "") + digits[size_t(k)];
      tgt += (k ? " " : "") + digits[size_t(len - 1 - k)];
    }
    t.source.push_back(src);
    t.target.push_back(tgt);
  }
  return t;
}

// dir/name.src and dir/name.tgt.
inline void write_parallel(const std::string& dir, const std::string& name, const DigitTask& task) {
  write_lines(dir + "/" + name + ".src", task.source);
  write_lines(dir + "/" + name + ".tgt", task.target);
}

struct LabelledTask {
  std::vector<std::string> text, labels;
};

// n sentences of filler words with one sentiment word: label 1 for "good"/"great"/"fine",
// 0 for "bad"/"awful"/"poor" (separable by that one word, wherever it stands).
inline LabelledTask sentiment_words(int n, uint64_t seed) {
  static const std::vector<std::string> filler = {"the", "movie", "was", "a", "story", "with", "some", "plot",
                                                  "and", "acting", "film", "it", "really", "quite", "this"};
  static const std::vector<std::string> positive = {"good", "great", "fine"}, negative = {"bad", "awful", "poor"};
  std::mt19937_64 rng(seed);
  LabelledTask t;
  for (int i = 0; i < n; ++i) {
    const bool pos = rng() % 2 == 0;
    std::vector<std::string> words;
    const int len = 3 + int(rng() % 6);
    for (int k = 0; k < len; ++k) words.push_back(filler[rng() % filler.size()]);
    const std::vector<std::string>& sentiment = pos ? positive : negative;
    words.insert(words.begin() + int64_t(rng() % (words.size() + 1)), sentiment[rng() % sentiment.size()]);
    std::string text;
    for (const std::string& w : words) text += (text.empty() ? "" : " ") + w;
    t.text.push_back(text);
    t.labels.push_back(pos ? "1" : "0");
  }
  return t;
}

// A TSV with the header "sentence<TAB>label".
inline void write_table(const std::string& path, const LabelledTask& task) {
  std::vector<std::string> lines = {"sentence\tlabel"};
  for (size_t i = 0; i < task.text.size(); ++i) lines.push_back(task.text[i] + "\t" + task.labels[i]);
  write_lines(path, lines);
}

// configs/tiny.yaml on dir/train.{src,tgt} and dir/valid.{src,tgt} (no validation data
// when dir/valid.src does not exist), writing into dir/run; `overrides` come last.
inline Config tiny_config(const std::string& dir, const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"data.train.source=" + dir + "/train.src", "data.train.target=" + dir + "/train.tgt",
                                  "output.dir=" + dir + "/run"};
  if (fs::exists(dir + "/valid.src")) {
    all.push_back("data.valid.source=" + dir + "/valid.src");
    all.push_back("data.valid.target=" + dir + "/valid.tgt");
  } else {
    all.push_back("data.valid.source=''");
    all.push_back("data.valid.target=''");
  }
  all.insert(all.end(), overrides.begin(), overrides.end());
  return load_config(tiny_yaml(), all);
}

// configs/tiny.yaml as a classifier of dir/train.tsv (validated on dir/valid.tsv),
// writing into dir/run; `overrides` come last.
inline Config tiny_classifier_config(const std::string& dir, const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"model.type=classifier", "data.train.table=" + dir + "/train.tsv",
                                  "data.valid.table=" + dir + "/valid.tsv", "data.vocab.size=64",
                                  "output.dir=" + dir + "/run"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return load_config(tiny_yaml(), all);
}

// Share of `text` rows the classifier in model_dir labels as `labels` says.
inline double accuracy(const std::string& model_dir, const std::vector<std::string>& text,
                       const std::vector<std::string>& labels) {
  LoadedModel m = load_model_dir(model_dir);
  const Classifier& model = m.model->as<Classifier>();
  auto rows = std::make_shared<data::Dataset>(
      data::make_source_dataset(text, m.vocabs.source, {.max_length = 0, .skip_empty = false}, "held-out"));
  data::Batcher batches(rows, {.max_tokens = 2048, .shuffle = false, .prefetch = 0});
  NoGradGuard no_grad;
  int64_t correct = 0;
  while (auto b = batches.next()) {
    const std::vector<int64_t> predicted = argmax(model.forward(b->src), -1).to_ids();
    for (size_t i = 0; i < predicted.size(); ++i)
      correct += m.labels.name(int32_t(predicted[i])) == labels[size_t(b->indices[i])];
  }
  return double(correct) / double(text.size());
}

// Share of `source` lines that greedy decoding with the model in model_dir (or the
// weights file `weights`) turns into exactly the `target` line; the first few misses
// ("src -> hyp (want tgt)") go to `misses` when given.
inline double exact_match(const std::string& model_dir, const std::vector<std::string>& source,
                          const std::vector<std::string>& target, std::vector<std::string>* misses = nullptr,
                          const std::string& weights = "") {
  LoadedModel m = load_model_dir(model_dir, weights);
  const Seq2Seq& model = m.model->as<Seq2Seq>();
  auto rows = std::make_shared<data::Dataset>(
      data::make_source_dataset(source, m.vocabs.source, {.max_length = 0, .skip_empty = false}, "held-out"));
  data::Batcher batches(rows, {.max_tokens = 2048, .shuffle = false, .prefetch = 0});
  const SearchOptions search{.max_length_a = m.config.decode.max_length_a,
                             .max_length_b = m.config.decode.max_length_b,
                             .bos_id = data::kBosId,
                             .eos_id = data::kEosId};
  int64_t correct = 0;
  while (auto b = batches.next()) {
    const std::vector<Hypothesis> out = greedy_search(model, b->src, search);
    for (size_t i = 0; i < out.size(); ++i) {
      const size_t row = size_t(b->indices[i]);
      const std::string hyp = m.vocabs.target.decode(out[i].tokens);
      if (hyp == target[row]) ++correct;
      else if (misses && misses->size() < 10) misses->push_back(source[row] + " -> " + hyp + " (want " + target[row] + ")");
    }
  }
  return double(correct) / double(source.size());
}

}  // namespace attend::train_test
