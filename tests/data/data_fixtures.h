// Helpers shared by the data tests: a scratch directory per test, small files written
// plain or gzipped, the shared data root (tests that need it skip naming the missing
// path), and a tiny SentencePiece vocabulary trained on an inline corpus.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/files.h"
#include "data/tokenizer.h"

namespace attend::data::test_util {

// A fresh directory under the system temp dir, removed when the test ends.
class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("attend_data_") + info->test_suite_name() + "_" + info->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  std::string write_gz(const std::string& name, const std::string& bytes) const {
    gzFile f = gzopen(path(name).c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(f);
    return path(name);
  }

  std::filesystem::path dir_;
};

// The shared data file `relative` (e.g. "multi30k/train.de.gz"), or "" when missing.
inline std::string shared_file(const std::string& relative) {
  const std::string p = (std::filesystem::path(data_root()) / relative).string();
  return file_exists(p) ? p : std::string();
}

#define SKIP_WITHOUT_SHARED_FILE(var, relative)                                                  \
  const std::string var = ::attend::data::test_util::shared_file(relative);                        \
  if (var.empty())                                                                               \
    GTEST_SKIP() << "shared data file missing: "                                                 \
                 << (std::filesystem::path(::attend::data::data_root()) / (relative)).string()  \
                 << " (set ATTEND_DATA to the data root)"

// 240 short German/English lines with umlauts and punctuation, from a fixed pattern.
inline std::vector<std::string> tiny_corpus() {
  const std::vector<std::string> who = {"Ein Mädchen", "Zwei Männer", "Der Hund", "A woman",
                                        "Three boys", "Ein älterer Herr"};
  const std::vector<std::string> what = {"läuft über die Straße", "spielt Fußball",
                                         "is riding a bike", "sitzt am Ufer",
                                         "looks at the camera", "trägt eine grüne Mütze"};
  const std::vector<std::string> end = {".", "!", ", während es regnet.", " in the park."};
  std::vector<std::string> lines;
  for (size_t i = 0; i < 240; ++i)
    lines.push_back(who[i % who.size()] + " " + what[(i / who.size()) % what.size()] +
                    end[(i / 36) % end.size()]);
  return lines;
}

inline Tokenizer tiny_tokenizer(int size = 64, const std::string& type = "unigram") {
  VocabOptions options;
  options.size = size;
  options.type = type;
  const auto lines = tiny_corpus();
  return Tokenizer::train({lines}, options, "");
}

}  // namespace attend::data::test_util
