// BLEU and chrF exactly as sacreBLEU 2.x computes them (written against sacreBLEU 2.6.0;
// BLEU, chrF and 13a behave the same throughout 2.2-2.6), for `attend evaluate`. Pure text: no
// model code. Strings are UTF-8; chrF counts code points.
//
//   using namespace attend::metrics;
//   BleuScore b = corpus_bleu(hyps, {refs});          // refs: one stream per reference set
//   std::cout << b.format(2, true);                   // "BLEU|nrefs:1|...|version:2.6.0 = 32.26 63.6/..."
//   ChrfScore c = corpus_chrf(hyps, {refs});           // chrF2, c.format() == "chrF2 = 59.73"
//   BleuScore s = sentence_bleu(hyp, {ref1, ref2});    // effective order on, as sacrebleu.sentence_bleu
//
// Corpus functions take references as sacreBLEU does: refs[k][i] is the k-th reference of
// segment i; every stream must have as many segments as there are hypotheses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attend::metrics {

// The sacreBLEU release whose behaviour this file reproduces; written into signatures.
inline constexpr std::string_view kSacrebleuVersion = "2.6.0";

enum class BleuTokenizer { k13a, kNone };
enum class BleuSmooth { kExp, kFloor, kAddK, kNone };

// Names as sacreBLEU spells them ("13a", "none"; "exp", "floor", "add-k", "none"); parse_*
// throws attend::Error listing the valid names.
std::string_view name(BleuTokenizer tokenizer);
std::string_view name(BleuSmooth smooth);
BleuTokenizer parse_bleu_tokenizer(std::string_view name);
BleuSmooth parse_bleu_smooth(std::string_view name);

struct BleuOptions {
  BleuTokenizer tokenizer = BleuTokenizer::k13a;
  bool lowercase = false;
  BleuSmooth smooth = BleuSmooth::kExp;
  std::optional<double> smooth_value = std::nullopt;  // unset: floor 0.1, add-k 1 (sacreBLEU's defaults)
  int max_ngram_order = 4;
  bool effective_order = false;  // sentence_bleu's default turns it on
};

// Sufficient statistics of BLEU, summed over segments.
struct BleuStats {
  int64_t sys_len = 0, ref_len = 0;
  std::vector<int64_t> counts, totals;  // matched / hypothesis n-grams, order 1..N
};

struct BleuScore {
  double score = 0;                     // 0..100
  std::vector<int64_t> counts, totals;  // as in BleuStats (before add-k smoothing)
  std::vector<double> precisions;       // percent, order 1..N
  double bp = 0;
  int64_t sys_len = 0, ref_len = 0;
  std::string signature;  // "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
  // "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)";
  // with_signature puts "|<signature>" after the name, as the sacrebleu CLI prints.
  std::string format(int width = 2, bool with_signature = false) const;
};

BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, const BleuOptions& options = {});
BleuScore sentence_bleu(const std::string& hyp, const std::vector<std::string>& refs,
                        const BleuOptions& options = {.effective_order = true});
// The score from already summed statistics (sacreBLEU's BLEU.compute_bleu).
BleuScore compute_bleu(const BleuStats& stats, const BleuOptions& options = {});

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;  // 2 gives chrF++
  int beta = 2;
  bool lowercase = false;
  bool whitespace = false;     // keep whitespace inside character n-grams
  bool eps_smoothing = false;  // false: sacreBLEU's default effective-order averaging
};

struct ChrfScore {
  double score = 0;            // 0..100
  std::vector<int64_t> stats;  // per order (chars then words): hyp, ref, match n-gram counts
  std::string name;            // "chrF2", "chrF2++"
  std::string signature;       // "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"
  std::string format(int width = 2, bool with_signature = false) const;  // "chrF2 = 59.73"
};

ChrfScore corpus_chrf(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, const ChrfOptions& options = {});
ChrfScore sentence_chrf(const std::string& hyp, const std::vector<std::string>& refs,
                        const ChrfOptions& options = {});

// The text steps above, exposed for tests and reuse; all follow Python 3 semantics.
std::string tokenize_13a(std::string_view line);                     // mteval-v13a as sacreBLEU
std::string python_lower(std::string_view text);                     // str.lower()
std::vector<std::string_view> python_split(std::string_view text);  // str.split()
std::string_view python_rstrip(std::string_view text);              // str.rstrip()
bool python_isspace(char32_t c);
std::u32string utf8_to_u32(std::string_view text);  // an invalid byte becomes one code point
std::string u32_to_utf8(std::u32string_view text);

}  // namespace attend::metrics
