// attend average (one checkpoint reproduces it, the mean of several is their mean, the
// result is a usable model directory) and attend inspect.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "data/files.h"
#include "data/tokenizer.h"
#include "infer/cli_harness.h"
#include "infer/model_fixture.h"
#include "tools/average.h"
#include "tools/checkpoint.h"
#include "tools/inspect.h"
#include "tools/translate.h"

using namespace attend;
using namespace attend::test_util;

namespace {

std::vector<std::string> checkpoint_dirs() {
  std::vector<std::string> out;
  for (int64_t step : list_checkpoints(seq2seq_dir())) out.push_back(checkpoint_dir(seq2seq_dir(), step));
  return out;
}

}  // namespace

TEST(Average, OfOneCheckpointEqualsThatCheckpoint) {
  const std::string out = scratch("avg_one") + "/model";
  const std::string ckpt = checkpoint_dirs().back();
  average_checkpoints({ckpt}, out, {});
  const SafetensorsFile a = load_safetensors(ckpt + "/model.safetensors");
  const SafetensorsFile b = load_safetensors(out + "/model.safetensors");
  ASSERT_EQ(a.names, b.names);
  for (const std::string& n : a.names) EXPECT_EQ(a.at(n).to_vector(), b.at(n).to_vector()) << n;
}

TEST(Average, IsTheElementwiseMeanAndAUsableModelDirectory) {
  const std::vector<std::string> ckpts = checkpoint_dirs();
  ASSERT_EQ(ckpts.size(), 3u);
  const std::string out = scratch("avg_three") + "/model";
  ASSERT_EQ(run_attend({"average", "--out", out, ckpts[0], ckpts[1], ckpts[2]}), 0) << last_error();
  const SafetensorsFile avg = load_safetensors(out + "/model.safetensors");
  std::vector<SafetensorsFile> in;
  for (const auto& c : ckpts) in.push_back(load_safetensors(c + "/model.safetensors"));
  for (const std::string& n : avg.names) {
    const std::vector<float> got = avg.at(n).to_vector();
    const std::vector<float> x = in[0].at(n).to_vector(), y = in[1].at(n).to_vector(), z = in[2].at(n).to_vector();
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], float((double(x[i]) + double(y[i]) + double(z[i])) / 3.0)) << n << "[" << i << "]";
  }
  for (const char* f : {"config.yaml", "vocab.spm"}) EXPECT_TRUE(data::file_exists(out + "/" + f)) << f;
  const LoadedModel m = load_model_dir(out);
  const std::vector<Translation> t = Translator(m, translate_options_from(m.config)).translate({"Ein Hund läuft."});
  EXPECT_FALSE(t[0].nbest[0].text.empty());
}

TEST(Average, RefusesToOverwriteWithoutForce) {
  const std::string out = scratch("avg_exists") + "/model";
  const std::string ckpt = checkpoint_dirs().back();
  average_checkpoints({ckpt}, out, {});
  try {
    average_checkpoints({ckpt}, out, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors already exists"), std::string::npos) << e.what();
  }
  average_checkpoints({ckpt}, out, {.overwrite = true});
}

TEST(Average, MismatchingCheckpointsNameTheTensor) {
  const std::string out = scratch("avg_mismatch") + "/model";
  const std::string other = load_model_dir(classifier_dir()).dir + "/model.safetensors";
  try {
    average_checkpoints({checkpoint_dirs().back(), other}, out, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("average: " + other), std::string::npos) << e.what();
  }
}

TEST(Average, FindsTheModelDirectoryOfACheckpoint) {
  EXPECT_EQ(model_dir_of(checkpoint_dirs().back()), std::filesystem::path(seq2seq_dir()).lexically_normal().string());
  EXPECT_EQ(model_dir_of(checkpoint_dirs().back() + "/model.safetensors"),
            std::filesystem::path(seq2seq_dir()).lexically_normal().string());
  try {
    model_dir_of(scratch("not_a_model"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot find the model directory"), std::string::npos) << e.what();
  }
}

TEST(Inspect, ReportsArchitectureParametersVocabAndTraining) {
  const ModelReport r = inspect_model_dir(seq2seq_dir());
  EXPECT_EQ(r.type, "seq2seq");
  int64_t sum = 0;
  for (const auto& [group, n] : r.parameters_by_module) sum += n;
  EXPECT_EQ(sum, r.parameters);
  EXPECT_EQ(r.parameters_by_module[0].first, "encoder.embed_tokens");
  EXPECT_EQ(r.source_vocab, data::Tokenizer::load(seq2seq_dir() + "/vocab.spm").vocab_size());
  EXPECT_GT(r.source_vocab, 40);
  EXPECT_EQ(r.trained_steps, 100);
  EXPECT_EQ(r.best_metric, "bleu");
  EXPECT_GE(r.best_step, 5);
  EXPECT_EQ(r.weights_metadata.at("step"), std::to_string(r.best_step));
  const std::string text = format_report(r);
  EXPECT_NE(text.find("decoder.layers (x2)"), std::string::npos) << text;
  EXPECT_NE(text.find("training         100 steps | best validation bleu"), std::string::npos) << text;
  EXPECT_NE(text.find("checkpoints      step-90 step-95 step-100"), std::string::npos) << text;
}

TEST(Inspect, ClassifierShowsItsLabels) {
  const ModelReport r = inspect_model_dir(classifier_dir());
  EXPECT_EQ(r.labels, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(report_json(r).at("labels"), nlohmann::json::parse(R"(["neg","pos"])"));
  EXPECT_NE(format_report(r).find("labels           2 (neg, pos)"), std::string::npos);
}
