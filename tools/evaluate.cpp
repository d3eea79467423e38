#include "tools/evaluate.h"

#include <algorithm>

#include "core/error.h"

namespace attend {

TranslationScores score_translations(const std::vector<std::string>& hyps,
                                     const std::vector<std::vector<std::string>>& refs, const MetricOptions& options) {
  CHECK(!refs.empty(), "evaluate: no reference given");
  for (size_t k = 0; k < refs.size(); ++k)
    CHECK(refs[k].size() == hyps.size(), "evaluate: {} hypotheses but reference {} has {} lines", hyps.size(), k + 1,
          refs[k].size());
  TranslationScores s;
  s.bleu = metrics::corpus_bleu(
      hyps, refs, {.tokenizer = metrics::parse_bleu_tokenizer(options.tokenize), .lowercase = options.lowercase});
  s.chrf = metrics::corpus_chrf(hyps, refs, {.lowercase = options.lowercase});
  return s;
}

std::string format_scores(const TranslationScores& s) {
  return s.bleu.format(2, true) + "\n" + s.chrf.format(2, true) + "\n";
}

nlohmann::json scores_json(const TranslationScores& s) {
  return {{"bleu", s.bleu.score},
          {"chrf", s.chrf.score},
          {"bleu_signature", s.bleu.signature},
          {"chrf_signature", s.chrf.signature},
          {"bleu_verbose", s.bleu.format(2, false)},
          {"precisions", s.bleu.precisions},
          {"bp", s.bleu.bp},
          {"sys_len", s.bleu.sys_len},
          {"ref_len", s.bleu.ref_len}};
}

ClassificationScores score_classification(const std::vector<int32_t>& gold, const std::vector<int32_t>& predicted,
                                          const std::vector<std::string>& labels) {
  CHECK(gold.size() == predicted.size(), "evaluate: {} gold labels but {} predictions", gold.size(),
        predicted.size());
  const size_t C = labels.size();
  ClassificationScores s;
  s.labels = labels;
  s.confusion.assign(C, std::vector<int64_t>(C, 0));
  for (size_t i = 0; i < gold.size(); ++i) {
    CHECK(gold[i] >= 0 && size_t(gold[i]) < C && predicted[i] >= 0 && size_t(predicted[i]) < C,
          "evaluate: label ids {} / {} out of range for {} labels", gold[i], predicted[i], C);
    s.confusion[size_t(gold[i])][size_t(predicted[i])] += 1;
  }
  s.total = int64_t(gold.size());
  double f1_sum = 0;
  int64_t present = 0;
  for (size_t c = 0; c < C; ++c) {
    int64_t tp = s.confusion[c][c], gold_c = 0, pred_c = 0;
    for (size_t o = 0; o < C; ++o) {
      gold_c += s.confusion[c][o];
      pred_c += s.confusion[o][c];
    }
    s.correct += tp;
    if (gold_c == 0 && pred_c == 0) continue;  // the label occurs nowhere: not averaged
    ++present;
    f1_sum += 2.0 * double(tp) / double(gold_c + pred_c);  // = 2PR / (P + R); 0 when tp = 0
  }
  s.accuracy = s.total ? 100.0 * double(s.correct) / double(s.total) : 0.0;
  s.macro_f1 = present ? 100.0 * f1_sum / double(present) : 0.0;
  return s;
}

std::string format_scores(const ClassificationScores& s) {
  std::string out = fmt::format("accuracy = {:.2f} ({}/{})\nmacro-F1 = {:.2f}\n", s.accuracy, s.correct, s.total,
                                s.macro_f1);
  size_t width = 5;
  for (const auto& l : s.labels) width = std::max(width, l.size());
  for (const auto& row : s.confusion)
    for (int64_t n : row) width = std::max(width, std::to_string(n).size());
  out += "confusion matrix (rows: gold, columns: predicted)\n";
  out += fmt::format("{:>{}}", "", width);
  for (const auto& l : s.labels) out += fmt::format(" {:>{}}", l, width);
  out += "\n";
  for (size_t g = 0; g < s.labels.size(); ++g) {
    out += fmt::format("{:>{}}", s.labels[g], width);
    for (int64_t n : s.confusion[g]) out += fmt::format(" {:>{}}", n, width);
    out += "\n";
  }
  return out;
}

nlohmann::json scores_json(const ClassificationScores& s) {
  return {{"accuracy", s.accuracy}, {"macro_f1", s.macro_f1}, {"correct", s.correct},
          {"total", s.total},       {"labels", s.labels},     {"confusion", s.confusion}};
}

}  // namespace attend
