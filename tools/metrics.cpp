// BLEU and chrF as sacreBLEU 2.x computes them; see metrics.h. Comments name the sacreBLEU
// function each piece reproduces (sacrebleu/metrics/bleu.py, chrf.py, tokenizers/).
#include "tools/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace attend::metrics {

// ---- names ----------------------------------------------------------------------------

std::string_view name(BleuTokenizer tokenizer) { return tokenizer == BleuTokenizer::k13a ? "13a" : "none"; }

std::string_view name(BleuSmooth smooth) {
  switch (smooth) {
    case BleuSmooth::kExp: return "exp";
    case BleuSmooth::kFloor: return "floor";
    case BleuSmooth::kAddK: return "add-k";
    case BleuSmooth::kNone: return "none";
  }
  return "?";
}

BleuTokenizer parse_bleu_tokenizer(std::string_view s) {
  if (s == "13a") return BleuTokenizer::k13a;
  if (s == "none") return BleuTokenizer::kNone;
  ATTEND_ERROR("unknown BLEU tokenizer '{}' (valid: 13a, none)", s);
}

BleuSmooth parse_bleu_smooth(std::string_view s) {
  for (BleuSmooth m : {BleuSmooth::kExp, BleuSmooth::kFloor, BleuSmooth::kAddK, BleuSmooth::kNone})
    if (s == name(m)) return m;
  ATTEND_ERROR("unknown BLEU smoothing '{}' (valid: exp, floor, add-k, none)", s);
}

// ---- 13a tokenizer (Tokenizer13a + TokenizerRegexp) -------------------------------------

namespace {

// Python's str.replace: all non-overlapping occurrences, left to right, in one pass.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(s.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(s.substr(pos));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_comma(char c) { return c == '.' || c == ','; }

// [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation and symbols except ' , - . and space too.
bool is_13a_symbol(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}

// The four regular expressions are applied to bytes: every class is ASCII and [^0-9]
// matching one byte of a multi-byte character leaves the output unchanged.
std::string regexp_13a(const std::string& in) {
  std::string a;  // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
  a.reserve(in.size() * 2);
  for (char c : in) {
    if (is_13a_symbol(c)) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  std::string b;  // ([^0-9])([\.,]) -> "\1 \2 "
  b.reserve(a.size() * 2);
  for (size_t i = 0; i < a.size(); ++i) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      ++i;
    } else {
      b += a[i];
    }
  }
  std::string c;  // ([\.,])([^0-9]) -> " \1 \2"
  c.reserve(b.size() * 2);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      c += ' ';
      c += b[i];
      c += ' ';
      c += b[i + 1];
      ++i;
    } else {
      c += b[i];
    }
  }
  std::string d;  // ([0-9])(-) -> "\1 \2 "
  d.reserve(c.size() * 2);
  for (size_t i = 0; i < c.size(); ++i) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i];
      d += " - ";
      ++i;
    } else {
      d += c[i];
    }
  }
  return d;
}

std::string join_words(const std::vector<std::string_view>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ' ';
    out.append(words[i]);
  }
  return out;
}

}  // namespace

std::string tokenize_13a(std::string_view line) {
  std::string s = replace_all(line, "<skipped>", "");
  s = replace_all(s, "-\n", "");
  s = replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    s = replace_all(s, "&quot;", "\"");
    s = replace_all(s, "&amp;", "&");
    s = replace_all(s, "&lt;", "<");
    s = replace_all(s, "&gt;", ">");
  }
  std::string tokenized = regexp_13a(" " + s + " ");
  return join_words(python_split(tokenized));
}

// ---- BLEU -----------------------------------------------------------------------------

namespace {

using NgramCounts = std::unordered_map<std::string_view, int64_t>;

// A tokenized segment: words single-space joined, so every n-gram is a substring of text.
struct Segment {
  std::string text;
  int64_t length = 0;
};

Segment bleu_preprocess(std::string_view line, const BleuOptions& o) {
  std::string lowered;
  if (o.lowercase) {
    lowered = python_lower(line);
    line = lowered;
  }
  line = python_rstrip(line);
  Segment seg;
  seg.text = o.tokenizer == BleuTokenizer::k13a ? tokenize_13a(line) : join_words(python_split(line));
  seg.length = static_cast<int64_t>(python_split(seg.text).size());
  return seg;
}

// extract_all_word_ngrams: counts[n-1] holds the n-grams of order n.
std::vector<NgramCounts> word_ngrams(const std::string& text, int max_order) {
  std::vector<size_t> starts;  // word starts, plus text.size()+1 as a sentinel
  for (size_t i = 0; i < text.size(); ++i)
    if (i == 0 || text[i - 1] == ' ') starts.push_back(i);
  const size_t words = starts.size();
  starts.push_back(text.size() + 1);
  std::vector<NgramCounts> counts(static_cast<size_t>(max_order));
  for (size_t n = 1; n <= static_cast<size_t>(max_order); ++n)
    for (size_t i = 0; i + n <= words; ++i)
      ++counts[n - 1][std::string_view(text).substr(starts[i], starts[i + n] - 1 - starts[i])];
  return counts;
}

// _get_closest_ref_len: the nearest length, the shorter one on a tie.
int64_t closest_ref_len(int64_t hyp_len, const std::vector<int64_t>& ref_lens) {
  int64_t best_diff = -1, best_len = -1;
  for (int64_t len : ref_lens) {
    int64_t diff = std::abs(hyp_len - len);
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best_len = len;
    } else if (diff == best_diff && len < best_len) {
      best_len = len;
    }
  }
  return best_len;
}

// _extract_reference_info + _compute_segment_statistics, added into `stats`.
void add_segment_stats(const std::string& hyp, const std::vector<std::string_view>& refs, const BleuOptions& o,
                       BleuStats& stats) {
  const int N = o.max_ngram_order;
  std::vector<Segment> ref_segs;
  std::vector<int64_t> ref_lens;
  for (std::string_view r : refs) {
    ref_segs.push_back(bleu_preprocess(r, o));
    ref_lens.push_back(ref_segs.back().length);
  }
  std::vector<NgramCounts> ref_max(static_cast<size_t>(N));  // clipped counts: max over references
  for (const Segment& seg : ref_segs) {
    std::vector<NgramCounts> c = word_ngrams(seg.text, N);
    for (int n = 0; n < N; ++n)
      for (const auto& [ngram, count] : c[n]) ref_max[n][ngram] = std::max(ref_max[n][ngram], count);
  }
  Segment h = bleu_preprocess(hyp, o);
  std::vector<NgramCounts> hyp_counts = word_ngrams(h.text, N);
  stats.sys_len += h.length;
  stats.ref_len += closest_ref_len(h.length, ref_lens);
  for (int n = 0; n < N; ++n) {
    for (const auto& [ngram, count] : hyp_counts[n]) {
      stats.totals[n] += count;
      auto it = ref_max[n].find(ngram);
      if (it != ref_max[n].end()) stats.counts[n] += std::min(count, it->second);
    }
  }
}

// utils.my_log: log with log(0) floored at a large negative number.
double floored_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

std::string bleu_signature(const BleuOptions& o, size_t nrefs) {
  std::string smooth(name(o.smooth));
  if (o.smooth == BleuSmooth::kFloor || o.smooth == BleuSmooth::kAddK) {
    double value = o.smooth_value.value_or(o.smooth == BleuSmooth::kFloor ? 0.1 : 1.0);
    smooth += fmt::format("[{:.2f}]", value);
  }
  return fmt::format("nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:{}", nrefs, o.lowercase ? "lc" : "mixed",
                     o.effective_order ? "yes" : "no", name(o.tokenizer), smooth, kSacrebleuVersion);
}

void check_bleu_options(const BleuOptions& o) {
  CHECK(o.max_ngram_order >= 1, "BLEU: max_ngram_order must be >= 1, got {}", o.max_ngram_order);
}

}  // namespace

// BLEU.compute_bleu, operation for operation.
BleuScore compute_bleu(const BleuStats& stats, const BleuOptions& o) {
  check_bleu_options(o);
  const int N = o.max_ngram_order;
  CHECK(stats.counts.size() == static_cast<size_t>(N) && stats.totals.size() == static_cast<size_t>(N),
        "compute_bleu: expected {} counts and totals, got {} and {}", N, stats.counts.size(), stats.totals.size());
  BleuScore r;
  r.counts = stats.counts;
  r.totals = stats.totals;
  r.sys_len = stats.sys_len;
  r.ref_len = stats.ref_len;
  r.precisions.assign(static_cast<size_t>(N), 0.0);
  r.bp = 1.0;
  if (stats.sys_len < stats.ref_len)
    r.bp = stats.sys_len > 0 ? std::exp(1.0 - static_cast<double>(stats.ref_len) / static_cast<double>(stats.sys_len))
                             : 0.0;
  bool any_match = false;
  for (int64_t c : stats.counts) any_match = any_match || c != 0;
  if (!any_match) return r;  // score 0 (sacreBLEU #141)

  const double k = o.smooth_value.value_or(o.smooth == BleuSmooth::kFloor ? 0.1 : 1.0);
  double smooth_mteval = 1.0;
  int eff_order = N;
  for (int n = 1; n <= N; ++n) {
    double correct = static_cast<double>(stats.counts[n - 1]);
    double total = static_cast<double>(stats.totals[n - 1]);
    if (o.smooth == BleuSmooth::kAddK && n > 1) {
      correct += k;
      total += k;
    }
    if (total == 0) break;
    if (o.effective_order) eff_order = n;
    if (correct == 0) {
      if (o.smooth == BleuSmooth::kExp) {
        smooth_mteval *= 2;
        r.precisions[n - 1] = 100. / (smooth_mteval * total);
      } else if (o.smooth == BleuSmooth::kFloor) {
        r.precisions[n - 1] = 100. * k / total;
      }
    } else {
      r.precisions[n - 1] = 100. * correct / total;
    }
  }
  double log_sum = 0;
  for (int n = 0; n < eff_order; ++n) log_sum += floored_log(r.precisions[n]);
  r.score = r.bp * std::exp(log_sum / eff_order);
  return r;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
                      const BleuOptions& o) {
  check_bleu_options(o);
  CHECK(!hyps.empty(), "BLEU: no hypotheses to score");
  CHECK(!refs.empty(), "BLEU: no references given for {} hypotheses", hyps.size());
  for (size_t k = 0; k < refs.size(); ++k)
    CHECK(refs[k].size() == hyps.size(), "BLEU: {} hypotheses but {} references in reference set {}", hyps.size(),
          refs[k].size(), k + 1);
  BleuStats stats;
  stats.counts.assign(static_cast<size_t>(o.max_ngram_order), 0);
  stats.totals.assign(static_cast<size_t>(o.max_ngram_order), 0);
  std::vector<std::string_view> seg_refs(refs.size());
  for (size_t i = 0; i < hyps.size(); ++i) {
    for (size_t k = 0; k < refs.size(); ++k) seg_refs[k] = refs[k][i];
    add_segment_stats(hyps[i], seg_refs, o, stats);
  }
  BleuScore r = compute_bleu(stats, o);
  r.signature = bleu_signature(o, refs.size());
  return r;
}

BleuScore sentence_bleu(const std::string& hyp, const std::vector<std::string>& refs, const BleuOptions& o) {
  std::vector<std::vector<std::string>> streams;
  for (const std::string& r : refs) streams.push_back({r});
  return corpus_bleu({hyp}, streams, o);
}

std::string BleuScore::format(int width, bool with_signature) const {
  std::string prec;
  for (size_t i = 0; i < precisions.size(); ++i) prec += fmt::format("{}{:.1f}", i ? "/" : "", precisions[i]);
  double ratio = ref_len ? static_cast<double>(sys_len) / static_cast<double>(ref_len) : 0.0;
  return fmt::format("BLEU{} = {:.{}f} {} (BP = {:.3f} ratio = {:.3f} hyp_len = {} ref_len = {})",
                     with_signature ? "|" + signature : "", score, width, prec, bp, ratio, sys_len, ref_len);
}

}  // namespace attend::metrics
