// attend evaluate: sacreBLEU-compatible output for translations (with and without a model),
// JSON output, accuracy / macro-F1 / confusion matrix for classifiers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "infer/cli_harness.h"
#include "infer/model_fixture.h"
#include "tools/evaluate.h"
#include "tools/text_io.h"

using namespace attend;
using namespace attend::test_util;

namespace {

// sacreBLEU's README example (also in tests/tools): BLEU 48.53 with two references.
const std::vector<std::string> kHyps = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
const std::vector<std::vector<std::string>> kRefs = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};

// Captures what a command prints on stdout.
std::string stdout_of(const std::vector<std::string>& args, int* rc) {
  testing::internal::CaptureStdout();
  *rc = run_attend(args);
  return testing::internal::GetCapturedStdout();
}

}  // namespace

TEST(EvaluateTranslations, MatchesSacreBleuWithSignatures) {
  const TranslationScores s = score_translations(kHyps, kRefs, {});
  EXPECT_EQ(format_scores(s),
            "BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 82.4/50.0/45.5/37.5 "
            "(BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n" +
                s.chrf.format(2, true) + "\n");
  EXPECT_EQ(s.chrf.signature, "nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0");
}

TEST(EvaluateTranslations, LowercaseAndTokenizeNoneChangeTheSignature) {
  const TranslationScores s = score_translations(kHyps, kRefs, {.lowercase = true, .tokenize = "none"});
  EXPECT_EQ(s.bleu.signature, "nrefs:2|case:lc|eff:no|tok:none|smooth:exp|version:2.6.0");
  EXPECT_NE(s.chrf.signature.find("case:lc"), std::string::npos);
}

TEST(EvaluateTranslations, ReferenceOfAnotherLengthIsAnError) {
  try {
    score_translations(kHyps, {{"a", "b"}}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 hypotheses but reference 1 has 2 lines"), std::string::npos) << e.what();
  }
}

TEST(EvaluateCommand, HypAndRefWithoutAModelPrintsJson) {
  const std::string dir = scratch("eval_hyp");
  write_lines(dir + "/hyp", kHyps);
  write_lines(dir + "/ref1", kRefs[0]);
  write_lines(dir + "/ref2", kRefs[1]);
  int rc = 0;
  const std::string out =
      stdout_of({"evaluate", "--hyp", dir + "/hyp", "--ref", dir + "/ref1", dir + "/ref2", "--json"}, &rc);
  ASSERT_EQ(rc, 0) << last_error();
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_NEAR(j.at("bleu").get<double>(), 48.530827, 1e-5);
  EXPECT_TRUE(j.at("chrf").is_number());
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // one line
}

TEST(EvaluateCommand, TranslatesSourceAndScoresAgainstReference) {
  const std::string dir = scratch("eval_model");
  const ParallelText t = synthetic_parallel();
  const std::vector<std::string> src(t.source.begin(), t.source.begin() + 10);
  const std::vector<std::string> ref(t.target.begin(), t.target.begin() + 10);
  write_lines(dir + "/src", src);
  write_lines(dir + "/ref", ref);
  int rc = 0;
  const std::string out = stdout_of({"evaluate", "--model", seq2seq_dir(), "--src", dir + "/src", "--ref",
                                     dir + "/ref", "-o", dir + "/hyp", "--beam", "3"},
                                    &rc);
  ASSERT_EQ(rc, 0) << last_error();
  EXPECT_EQ(out.rfind("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = ", 0), 0u) << out;
  EXPECT_NE(out.find("\nchrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = "), std::string::npos);
  // The same numbers as scoring the written translation without the model.
  int rc2 = 0;
  const std::string again = stdout_of({"evaluate", "--hyp", dir + "/hyp", "--ref", dir + "/ref"}, &rc2);
  EXPECT_EQ(again, out);
}

TEST(EvaluateCommand, HypWithModelIsRefusedWithAHint) {
  int rc = 0;
  stdout_of({"evaluate", "--hyp", "h", "--ref", "r", "--model", seq2seq_dir()}, &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(last_error().find("does not go with --model"), std::string::npos) << last_error();
}

TEST(EvaluateClassification, AccuracyMacroF1AndConfusion) {
  // gold:      a a a b b c ; predicted: a a b b c c
  const ClassificationScores s = score_classification({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, {"a", "b", "c", "d"});
  EXPECT_EQ(s.correct, 4);
  EXPECT_NEAR(s.accuracy, 100.0 * 4 / 6, 1e-12);
  // F1: a 2*2/(3+2) = 0.8, b 2*1/(2+2) = 0.5, c 2*1/(1+2) = 2/3; d occurs nowhere.
  EXPECT_NEAR(s.macro_f1, 100.0 * (0.8 + 0.5 + 2.0 / 3) / 3, 1e-12);
  EXPECT_EQ(s.confusion[0], (std::vector<int64_t>{2, 1, 0, 0}));
  EXPECT_EQ(s.confusion[1], (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(s.confusion[2], (std::vector<int64_t>{0, 0, 1, 0}));
  const std::string text = format_scores(s);
  EXPECT_NE(text.find("accuracy = 66.67 (4/6)\nmacro-F1 = 65.56\n"), std::string::npos) << text;
  EXPECT_NE(text.find("confusion matrix (rows: gold, columns: predicted)"), std::string::npos);
}

TEST(EvaluateCommand, ClassifierOnALabelledTable) {
  const std::string dir = scratch("eval_cls");
  write_lines(dir + "/test.tsv", {"sentence\tlabel", "the film is good\tpos", "the show was really bad\tneg",
                                  "our trip is bad\tneg"});
  int rc = 0;
  const std::string out = stdout_of({"evaluate", "--model", classifier_dir(), "--data", dir + "/test.tsv", "--json"}, &rc);
  ASSERT_EQ(rc, 0) << last_error();
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j.at("total").get<int64_t>(), 3);
  EXPECT_TRUE(j.at("accuracy").is_number());
  EXPECT_TRUE(j.at("macro_f1").is_number());
  EXPECT_EQ(j.at("labels"), nlohmann::json::parse(R"(["neg","pos"])"));
}
