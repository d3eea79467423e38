// chrF and chrF++ as sacreBLEU 2.x's CHRF computes them (sacrebleu/metrics/chrf.py):
// per segment, hyp/ref/match n-gram counts against the best-scoring reference; counts are
// summed over the corpus and turned into one F-score.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "tools/metrics.h"

namespace attend::metrics {

namespace {

// One counter per order: character orders 1..char_order, then word orders 1..word_order.
// Character n-grams are keyed by code points; word n-grams by their space-joined UTF-8.
struct Ngrams {
  std::u32string chars;  // storage the character keys point into
  std::vector<std::unordered_map<std::u32string_view, int64_t>> char_counts;
  std::vector<std::unordered_map<std::string, int64_t>> word_counts;
};

bool is_ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

// CHRF._remove_punctuation: split one punctuation mark off the end, else off the start.
// (A one-character word stays whole; punctuation is ASCII, so bytes suffice.)
std::vector<std::string> chrf_words(std::string_view sent) {
  std::vector<std::string> out;
  for (std::string_view w : python_split(sent)) {
    if (utf8_to_u32(w).size() == 1) {
      out.emplace_back(w);
    } else if (is_ascii_punct(w.back())) {
      out.emplace_back(w.substr(0, w.size() - 1));
      out.emplace_back(w.substr(w.size() - 1));
    } else if (is_ascii_punct(w.front())) {
      out.emplace_back(w.substr(0, 1));
      out.emplace_back(w.substr(1));
    } else {
      out.emplace_back(w);
    }
  }
  return out;
}

// extract_all_char_ngrams + extract_word_ngrams. Returned by pointer: keys view `chars`.
std::unique_ptr<Ngrams> extract(std::string_view sent, const ChrfOptions& o) {
  auto g = std::make_unique<Ngrams>();
  if (o.whitespace) {
    g->chars = utf8_to_u32(sent);
  } else {
    for (std::string_view w : python_split(sent)) g->chars += utf8_to_u32(w);
  }
  std::u32string_view chars(g->chars);
  g->char_counts.resize(static_cast<size_t>(o.char_order));
  for (size_t n = 1; n <= static_cast<size_t>(o.char_order); ++n)
    for (size_t i = 0; i + n <= chars.size(); ++i) ++g->char_counts[n - 1][chars.substr(i, n)];
  if (o.word_order > 0) {
    std::vector<std::string> words = chrf_words(sent);
    g->word_counts.resize(static_cast<size_t>(o.word_order));
    for (size_t n = 1; n <= static_cast<size_t>(o.word_order); ++n) {
      for (size_t i = 0; i + n <= words.size(); ++i) {
        std::string key = words[i];
        for (size_t j = i + 1; j < i + n; ++j) key += ' ' + words[j];
        ++g->word_counts[n - 1][key];
      }
    }
  }
  return g;
}

// CHRF._get_match_statistics for one order, appended as hyp, ref, match.
template <typename Map>
void match_stats(const Map& hyp, const Map& ref, std::vector<int64_t>& out) {
  int64_t hyp_count = 0, ref_count = 0, match = 0;
  for (const auto& [ngram, count] : hyp) {
    hyp_count += count;
    auto it = ref.find(ngram);
    if (it != ref.end()) match += std::min(count, it->second);
  }
  for (const auto& entry : ref) ref_count += entry.second;
  out.push_back(ref.empty() ? 0 : hyp_count);  // no hits counted where the reference has none
  out.push_back(ref_count);
  out.push_back(match);
}

// CHRF._compute_f_score, operation for operation.
double f_score(const std::vector<int64_t>& stats, const ChrfOptions& o) {
  const double eps = 1e-16;
  const int order = o.char_order + o.word_order;
  const double factor = static_cast<double>(o.beta) * o.beta;
  double score = 0, avg_prec = 0, avg_rec = 0;
  int effective_order = 0;
  for (int i = 0; i < order; ++i) {
    const int64_t n_hyp = stats[3 * i], n_ref = stats[3 * i + 1], n_match = stats[3 * i + 2];
    const double prec = n_hyp > 0 ? static_cast<double>(n_match) / static_cast<double>(n_hyp) : eps;
    const double rec = n_ref > 0 ? static_cast<double>(n_match) / static_cast<double>(n_ref) : eps;
    const double denom = factor * prec + rec;
    score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (o.eps_smoothing) return 100 * score / order;
  if (effective_order == 0) {
    avg_prec = avg_rec = 0.0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec == 0) return 0.0;
  score = (1 + factor) * avg_prec * avg_rec;
  score /= factor * avg_prec + avg_rec;
  return 100 * score;
}

std::string preprocess(const std::string& s, const ChrfOptions& o) { return o.lowercase ? python_lower(s) : s; }

}  // namespace

ChrfScore corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
                      const ChrfOptions& o) {
  CHECK(o.char_order >= 0 && o.word_order >= 0 && o.char_order + o.word_order > 0,
        "chrF: need a positive n-gram order, got char_order {} and word_order {}", o.char_order, o.word_order);
  CHECK(o.beta >= 0, "chrF: beta must be >= 0, got {}", o.beta);
  CHECK(!hyps.empty(), "chrF: no hypotheses to score");
  CHECK(!refs.empty(), "chrF: no references given for {} hypotheses", hyps.size());
  for (size_t k = 0; k < refs.size(); ++k)
    CHECK(refs[k].size() == hyps.size(), "chrF: {} hypotheses but {} references in reference set {}", hyps.size(),
          refs[k].size(), k + 1);
  const size_t order = static_cast<size_t>(o.char_order + o.word_order);
  std::vector<int64_t> total(3 * order, 0);
  std::vector<int64_t> stats;
  for (size_t i = 0; i < hyps.size(); ++i) {
    std::unique_ptr<Ngrams> h = extract(preprocess(hyps[i], o), o);
    std::vector<int64_t> best;
    double best_f = -1.0;
    for (const auto& stream : refs) {  // the reference with the best F-score; first on ties
      std::unique_ptr<Ngrams> r = extract(preprocess(stream[i], o), o);
      stats.clear();
      for (int n = 0; n < o.char_order; ++n) match_stats(h->char_counts[n], r->char_counts[n], stats);
      for (int n = 0; n < o.word_order; ++n) match_stats(h->word_counts[n], r->word_counts[n], stats);
      double f = f_score(stats, o);
      if (f > best_f) {
        best_f = f;
        best = stats;
      }
    }
    for (size_t j = 0; j < total.size(); ++j) total[j] += best[j];
  }
  ChrfScore r;
  r.score = f_score(total, o);
  r.stats = total;
  r.name = fmt::format("chrF{}{}", o.beta, std::string(static_cast<size_t>(o.word_order), '+'));
  r.signature = fmt::format("nrefs:{}|case:{}|eff:{}|nc:{}|nw:{}|space:{}|version:{}", refs.size(),
                            o.lowercase ? "lc" : "mixed", o.eps_smoothing ? "no" : "yes", o.char_order, o.word_order,
                            o.whitespace ? "yes" : "no", kSacrebleuVersion);
  return r;
}

ChrfScore sentence_chrf(const std::string& hyp, const std::vector<std::string>& refs, const ChrfOptions& o) {
  std::vector<std::vector<std::string>> streams;
  for (const std::string& r : refs) streams.push_back({r});
  return corpus_chrf({hyp}, streams, o);
}

std::string ChrfScore::format(int width, bool with_signature) const {
  return fmt::format("{}{} = {:.{}f}", name, with_signature ? "|" + signature : "", score, width);
}

}  // namespace attend::metrics
