// attend score (log-probabilities equal the training loss on the same data) and attend
// classify (labels, probabilities, order and line counts kept).
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "core/ops.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "infer/cli_harness.h"
#include "infer/model_fixture.h"
#include "models/seq2seq.h"
#include "tools/classify.h"
#include "tools/score.h"
#include "tools/text_io.h"

using namespace attend;
using namespace attend::test_util;

namespace {

const std::vector<std::string> kSrc = {"Ein Hund läuft.", "Die Frau isst.", "", "Zwei Männer spielt im Park.",
                                       "Der Junge sieht uns an."};
const std::vector<std::string> kTgt = {"A dog runs.", "The woman eats.", "", "Two men play in the park.",
                                       "A cat sleeps."};

}  // namespace

TEST(Score, SumEqualsTheModelsLossOnTheSameData) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  const std::vector<double> scores = score_pairs(m, kSrc, kTgt, {});
  ASSERT_EQ(scores.size(), kSrc.size());
  // The loss as training computes it: batches of the dataset, summed cross-entropy.
  data::Dataset ds = data::make_translation_dataset({kSrc, kTgt}, m.vocabs.source, m.vocabs.target,
                                                    {.max_length = 0, .skip_empty = false}, "loss");
  data::Batcher batches(std::make_shared<data::Dataset>(std::move(ds)), {.shuffle = false, .prefetch = 0});
  double loss = 0;
  NoGradGuard no_grad;
  while (auto b = batches.next()) {
    Tensor logits = m.model->as<Seq2Seq>().forward(b->src, b->tgt_in);
    loss += cross_entropy(logits.reshape({-1, logits.size(-1)}), b->tgt_out.reshape({-1}),
                          {.ignore_index = data::kPadId, .reduction = Reduction::sum})
                .item();
  }
  double total = 0;
  for (double s : scores) {
    EXPECT_LT(s, 0.0);
    total += s;
  }
  EXPECT_NEAR(total, -loss, 1e-4 * std::abs(loss));
}

TEST(Score, EachLineIsItsOwnSumInInputOrder) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  const std::vector<double> together = score_pairs(m, kSrc, kTgt, {});
  for (size_t i = 0; i < kSrc.size(); ++i) {
    const std::vector<double> alone = score_pairs(m, {kSrc[i]}, {kTgt[i]}, {.batch_tokens = 1});
    EXPECT_NEAR(alone[0], together[i], 1e-4) << i;
  }
  EXPECT_GT(together[0], together[4]);  // a training pair beats a wrong translation
}

TEST(Score, NormalizeDividesByTargetTokensIncludingEos) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  const std::vector<double> sum = score_pairs(m, kSrc, kTgt, {});
  const std::vector<double> per_token = score_pairs(m, kSrc, kTgt, {.normalize = true});
  for (size_t i = 0; i < kSrc.size(); ++i) {
    const double tokens = double(m.vocabs.target.encode(kTgt[i]).size() + 1);
    EXPECT_NEAR(per_token[i], sum[i] / tokens, 1e-9) << i;
  }
}

TEST(Score, DifferentLineCountsNameBoth) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  try {
    score_pairs(m, kSrc, {"x"}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5 source lines but 1 target lines"), std::string::npos) << e.what();
  }
}

TEST(ScoreCommand, OneNumberPerLine) {
  const std::string dir = scratch("score_cmd");
  write_lines(dir + "/src", kSrc);
  write_lines(dir + "/tgt", kTgt);
  ASSERT_EQ(run_attend({"score", "--model", seq2seq_dir(), "--src", dir + "/src", "--tgt", dir + "/tgt", "-o",
                        dir + "/out"}),
            0)
      << last_error();
  const std::vector<std::string> out = read_text_lines(dir + "/out");
  ASSERT_EQ(out.size(), kSrc.size());
  const LoadedModel m = load_model_dir(seq2seq_dir());
  const std::vector<double> scores = score_pairs(m, kSrc, kTgt, {});
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(std::stod(out[i]), scores[i], 1e-6);
}

TEST(Classify, LabelsAndProbabilitiesInInputOrder) {
  const LoadedModel m = load_model_dir(classifier_dir());
  const std::vector<std::string> lines = {"the film is good", "", "this book was really bad", "our trip is good"};
  const std::vector<Classification> out = classify_lines(m, lines, 4096);
  ASSERT_EQ(out.size(), lines.size());
  EXPECT_EQ(m.labels.name(out[0].label), "pos");
  EXPECT_EQ(m.labels.name(out[2].label), "neg");
  EXPECT_EQ(m.labels.name(out[3].label), "pos");
  for (const Classification& c : out) {
    ASSERT_EQ(c.probs.size(), 2u);
    EXPECT_NEAR(c.probs[0] + c.probs[1], 1.0f, 1e-5f);
    EXPECT_EQ(c.label, c.probs[1] > c.probs[0] ? 1 : 0);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const Classification alone = classify_lines(m, {lines[i]}, 1)[0];
    EXPECT_EQ(alone.label, out[i].label);
    EXPECT_NEAR(alone.probs[0], out[i].probs[0], 1e-5f);
  }
}

TEST(Classify, TranslationModelIsRefused) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  try {
    classify_lines(m, {"x"}, 4096);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a classifier"), std::string::npos) << e.what();
  }
}

TEST(ClassifyCommand, ProbsPrintsLabelThenOneProbabilityPerLabel) {
  const std::string dir = scratch("classify_cmd");
  std::string long_line;
  while (long_line.size() < 10000) long_line += "the film is good ";
  write_lines(dir + "/in", {"the food is bad", "", long_line});
  ASSERT_EQ(run_attend({"classify", "--model", classifier_dir(), "-i", dir + "/in", "-o", dir + "/out", "--probs"}), 0)
      << last_error();
  const std::vector<std::string> out = read_text_lines(dir + "/out");
  ASSERT_EQ(out.size(), 3u);
  const std::regex line(R"((neg|pos)\t(0\.\d{4}|1\.0000)\t(0\.\d{4}|1\.0000))");
  for (const std::string& l : out) EXPECT_TRUE(std::regex_match(l, line)) << l;
  EXPECT_EQ(out[0].substr(0, 3), "neg");
}
