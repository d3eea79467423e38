// attend evaluate: quality of a model (or of an existing translation) on a test set.
//  - translations: BLEU and chrF exactly as sacreBLEU 2.x computes them by default (13a
//    tokenization, exponential smoothing; chrF n=6, beta=2), each printed with its
//    sacreBLEU signature; --lowercase and --tokenize none|13a as in sacreBLEU.
//  - classifiers: accuracy, macro-F1 (percent, as scikit-learn's f1_score(average="macro"):
//    the mean F1 over the labels that occur in the gold or predicted labels) and the
//    confusion matrix (rows gold, columns predicted).
//
//   TranslationScores s = score_translations(hyps, {refs}, {.lowercase = false, .tokenize = "13a"});
//   std::cout << format_scores(s);    // "BLEU|nrefs:1|...|version:2.6.0 = 32.26 ...\nchrF2|... = 59.73\n"
//   ClassificationScores c = score_classification(gold, predicted, labels.names());
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/metrics.h"

namespace attend {

struct MetricOptions {
  bool lowercase = false;        // BLEU and chrF
  std::string tokenize = "13a";  // BLEU: 13a | none
};

struct TranslationScores {
  metrics::BleuScore bleu;
  metrics::ChrfScore chrf;
};

// refs[k][i]: the k-th reference of hypothesis i (sacreBLEU's layout).
TranslationScores score_translations(const std::vector<std::string>& hyps,
                                     const std::vector<std::vector<std::string>>& refs, const MetricOptions& options);
std::string format_scores(const TranslationScores& s);  // two lines, as `sacrebleu -f text -m bleu chrf`
nlohmann::json scores_json(const TranslationScores& s);  // {"bleu": 32.26..., "chrf": ..., signatures, details}

struct ClassificationScores {
  std::vector<std::string> labels;
  std::vector<std::vector<int64_t>> confusion;  // [gold][predicted]
  int64_t correct = 0, total = 0;
  double accuracy = 0;  // percent
  double macro_f1 = 0;  // percent
};

ClassificationScores score_classification(const std::vector<int32_t>& gold, const std::vector<int32_t>& predicted,
                                          const std::vector<std::string>& labels);
std::string format_scores(const ClassificationScores& s);  // accuracy, macro-F1, the confusion matrix
nlohmann::json scores_json(const ClassificationScores& s);

}  // namespace attend
