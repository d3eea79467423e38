// BLEU and chrF against sacreBLEU. Vectors marked "published" are the inputs and expected
// scores of sacreBLEU's own test suite (test/test_bleu.py, test_sentence_bleu.py,
// test_chrf.py); the others, and full-precision values where the published ones are
// rounded, were computed with sacreBLEU 2.6.0 under Python 3.11 (the expression is noted).
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/metrics.h"

using namespace attend::metrics;
using Refs = std::vector<std::vector<std::string>>;

namespace {

constexpr double kTol = 5e-5;  // agreement to 4 decimals

// The README example of sacreBLEU (test_bleu.py: _hyps, _refs): two reference streams.
const std::vector<std::string> kHyps = {"The dog bit the man.", "It wasn't surprising.",
                                        "The man had just bitten him."};
const Refs kRefs = {{"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
                    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};

// test_sentence_bleu.py (sacreBLEU issue #98).
const std::string kRef98 = "producţia de zahăr brut se exprimă în zahăr alb;";
const std::string kSys98 = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";

// Mixed case, including German and Greek, where lowercasing changes the score.
const std::vector<std::string> kCaseHyps = {"THE Dog bit the MAN.", "Straße in MÜNCHEN ist groß.",
                                            "ΟΔΥΣΣΕΑΣ ΚΑΙ Η ΘΑΛΑΣΣΑ"};
const Refs kCaseRefs = {{"the dog bit the man.", "Die STRASSE in München ist groß.", "ο οδυσσεας και η θαλασσα"}};

// sacrebleu.raw_corpus_bleu(hyps, refs, smooth_value): no tokenizer, floor, effective order.
BleuOptions raw_options(double floor_value) {
  return {.tokenizer = BleuTokenizer::kNone, .smooth = BleuSmooth::kFloor, .smooth_value = floor_value,
          .effective_order = true};
}

BleuOptions sentence_options(BleuSmooth smooth, std::optional<double> value, BleuTokenizer tok, bool lowercase) {
  return {.tokenizer = tok, .lowercase = lowercase, .smooth = smooth, .smooth_value = value, .effective_order = true};
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const attend::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// ---- Python string semantics -----------------------------------------------------------

TEST(Tokenizer13a, SplitsPunctuationAndSymbols) {
  EXPECT_EQ(tokenize_13a("Hello, world!"), "Hello , world !");
  EXPECT_EQ(tokenize_13a("It wasn't surprising."), "It wasn't surprising .");
  EXPECT_EQ(tokenize_13a("$5 (50%) @home #1 ~x {y} [z] a/b a\\b a_b a^b a`b a|b a+b a=b a*b a;b a:b a?b"),
            "$ 5 ( 50 % ) @ home # 1 ~ x { y } [ z ] a / b a \\ b a _ b a ^ b a ` b a | b a + b a = b a * b a ; b "
            "a : b a ? b");
  EXPECT_EQ(tokenize_13a("zahăr alb;"), "zahăr alb ;");
}

TEST(Tokenizer13a, PeriodCommaAndDashFollowDigitRules) {
  EXPECT_EQ(tokenize_13a("3.5 and 1,000 but end.5 and 5. and ,5"), "3.5 and 1,000 but end . 5 and 5 . and , 5");
  EXPECT_EQ(tokenize_13a("U.S.A. 1.2.3"), "U . S . A . 1.2.3");
  EXPECT_EQ(tokenize_13a("x.,y"), "x . , y");
  EXPECT_EQ(tokenize_13a("e-mail 12-3 -4 a-"), "e-mail 12 - 3 -4 a-");
}

TEST(Tokenizer13a, UnescapesEntitiesInOrderAndDropsSkippedAndHyphenBreaks) {
  EXPECT_EQ(tokenize_13a("&quot;Hi&quot; &amp; &lt;b&gt; &amp;lt;"), "\" Hi \" & < b > <");
  EXPECT_EQ(tokenize_13a("a<skipped>b hyph-\nen\nline"), "ab hyphen line");
}

TEST(Tokenizer13a, CollapsesUnicodeWhitespace) {
  EXPECT_EQ(tokenize_13a("  multiple   spaces\u00a0and\u3000wide\u2009thin "), "multiple spaces and wide thin");
}

TEST(PythonText, SplitUsesPythonWhitespaceNotZeroWidthSpace) {
  std::vector<std::string_view> words = python_split("\u00a0a\u2009b\x1c" "c\u200bd\u0085");
  EXPECT_EQ(words, (std::vector<std::string_view>{"a", "b", "c\u200bd"}));
  EXPECT_EQ(python_rstrip("a b \u3000\n"), "a b");
}

TEST(PythonText, LowerCoversNonAsciiDottedIAndFinalSigma) {
  EXPECT_EQ(python_lower("ÄÖÜ ẞ ЯЖ ǅ"), "äöü ß яж ǆ");
  EXPECT_EQ(python_lower("İ"), "i\u0307");
  EXPECT_EQ(python_lower("ΣΟΦΟΣ ΣΑΣ. Σ"), "σοφος σας. σ");
}

TEST(PythonText, InvalidUtf8BytesSurviveRoundTrip) {
  const std::string bad = "A\xff\xc3(";
  EXPECT_EQ(utf8_to_u32(bad).size(), 4u);
  EXPECT_EQ(python_lower(bad + "Ä"), "a\xff\xc3(ä");
}

// ---- corpus BLEU -----------------------------------------------------------------------

TEST(CorpusBleu, ReadmeExampleMatchesPublishedScore) {
  BleuScore b = corpus_bleu(kHyps, kRefs);  // published: 48.530827
  EXPECT_NEAR(b.score, 48.530827, kTol);
  EXPECT_EQ(b.counts, (std::vector<int64_t>{14, 7, 5, 3}));
  EXPECT_EQ(b.totals, (std::vector<int64_t>{17, 14, 11, 8}));
  EXPECT_EQ(b.sys_len, 17);
  EXPECT_EQ(b.ref_len, 18);  // closest reference length per segment
  EXPECT_EQ(b.format(), "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
  EXPECT_EQ(b.signature, "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
  EXPECT_EQ(b.format(1, true),
            "BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.5 82.4/50.0/45.5/37.5 "
            "(BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
}

TEST(CorpusBleu, PublishedTokenizerAndSmoothingVariants) {
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, {.tokenizer = BleuTokenizer::kNone}).score, 49.1919566, kTol);
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, {.tokenizer = BleuTokenizer::k13a}).score, 48.530827, kTol);
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, {.smooth = BleuSmooth::kNone}).score, 48.530827, kTol);
}

TEST(CorpusBleu, SingleReferenceStream) {
  // BLEU(tokenize=...).corpus_score(_hyps, _refs[:1])
  EXPECT_NEAR(corpus_bleu(kHyps, {kRefs[0]}).score, 45.06750632106114, kTol);
  EXPECT_NEAR(corpus_bleu(kHyps, {kRefs[0]}, {.tokenizer = BleuTokenizer::kNone}).score, 44.428088917702794, kTol);
}

TEST(CorpusBleu, PublishedMaxNgramOrders) {
  const char* expected[] = {"77.65", "60.50", "53.93", "48.53", "46.14", "43.28"};
  for (int order = 1; order <= 6; ++order)
    EXPECT_EQ(fmt::format("{:.2f}", corpus_bleu(kHyps, kRefs, {.max_ngram_order = order}).score),
              expected[order - 1])
        << "order " << order;
}

TEST(CorpusBleu, LowercaseWith13aAndNone) {
  // BLEU(lowercase=lc, tokenize=tok).corpus_score(kCaseHyps, kCaseRefs)
  EXPECT_NEAR(corpus_bleu(kCaseHyps, kCaseRefs).score, 14.46172739514964, kTol);
  EXPECT_NEAR(corpus_bleu(kCaseHyps, kCaseRefs, {.tokenizer = BleuTokenizer::kNone}).score, 10.346423628190797, kTol);
  BleuScore lc = corpus_bleu(kCaseHyps, kCaseRefs, {.lowercase = true});
  EXPECT_NEAR(lc.score, 79.7699669745093, kTol);
  EXPECT_EQ(lc.signature, "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0");
  BleuScore lc_none = corpus_bleu(kCaseHyps, kCaseRefs, {.tokenizer = BleuTokenizer::kNone, .lowercase = true});
  EXPECT_NEAR(lc_none.score, 76.00428871515462, kTol);
  EXPECT_EQ(lc_none.format(),
            "BLEU = 76.00 92.9/90.9/87.5/80.0 (BP = 0.867 ratio = 0.875 hyp_len = 14 ref_len = 16)");
}

TEST(CorpusBleu, PublishedRawBleuWithFloorAndEffectiveOrder) {
  // sacrebleu.raw_corpus_bleu(hyps, refs, .01).score (published values are /100)
  EXPECT_EQ(corpus_bleu({"this is a test", "another test"}, {{"ref1", "ref2"}}, raw_options(0.01)).score, 0.0);
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {{"this is a test"}}, raw_options(0.01)).score, 100.0, kTol);
  EXPECT_NEAR(corpus_bleu({"this is a fest"}, {{"this is a test"}}, raw_options(0.01)).score, 22.3606797749979, kTol);
  EXPECT_NEAR(corpus_bleu({"test"}, {{"a test"}}, raw_options(0.01)).score, 36.78794411714425, kTol);
  EXPECT_NEAR(corpus_bleu({"a test"}, {{"a test"}}, raw_options(0.01)).score, 100.0, kTol);
  EXPECT_NEAR(corpus_bleu({"a little test"}, {{"a test"}}, raw_options(0.01)).score, 3.218297948685433, kTol);
}

TEST(CorpusBleu, PublishedStatisticsAndFloorOffset) {
  const std::vector<std::string> hyp = {"am I am a character sequence"};
  const Refs ref = {{"I am a symbol string sequence a a"}};
  BleuScore b = corpus_bleu(hyp, ref, raw_options(0.01));
  EXPECT_EQ(b.counts, (std::vector<int64_t>{4, 2, 1, 0}));
  EXPECT_EQ(b.totals, (std::vector<int64_t>{6, 5, 4, 3}));
  EXPECT_EQ(corpus_bleu(hyp, ref, raw_options(0.0)).score, 0.0);
  BleuOptions default_floor = raw_options(0.1);
  default_floor.smooth_value.reset();  // floor's default value is 0.1
  EXPECT_NEAR(corpus_bleu(hyp, ref, default_floor).score, 15.55722182, kTol);
}

TEST(ComputeBleu, PublishedScoringFromStatistics) {
  BleuStats s{.sys_len = 11, .ref_len = 11, .counts = {9, 7, 5, 3}, .totals = {10, 8, 6, 4}};
  EXPECT_NEAR(compute_bleu(s, {.smooth = BleuSmooth::kNone}).score, 83.75922397, kTol);
}

TEST(ComputeBleu, PublishedDegenerateStatisticsScoreZero) {
  struct Case {
    BleuStats stats;
    double floor;
  };
  const Case cases[] = {
      {{0, 1, {0, 0, 0, 0}, {4, 4, 2, 1}}, 0.0},  {{14, 10, {0, 0, 0, 0}, {10, 11, 12, 0}}, 0.0},
      {{0, 0, {0, 0, 0, 0}, {0, 0, 0, 0}}, 0.0},  {{6, 6, {6, 5, 4, 0}, {6, 5, 4, 3}}, 0.0},
      {{0, 0, {0, 0, 0, 0}, {0, 0, 0, 0}}, 0.1},  {{1, 5, {0, 0, 0, 0}, {0, 0, 0, 0}}, 0.01},
  };
  for (const Case& c : cases)
    EXPECT_EQ(compute_bleu(c.stats, {.smooth = BleuSmooth::kFloor, .smooth_value = c.floor}).score, 0.0);
}

TEST(CorpusBleu, EmptyHypothesesScoreZeroWithZeroBrevityPenalty) {
  BleuScore b = corpus_bleu({"", "", ""}, kRefs);  // published: 0.0
  EXPECT_EQ(b.score, 0.0);
  EXPECT_EQ(b.format(), "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 17)");
}

TEST(CorpusBleu, EmptyReferencesScoreZero) {
  EXPECT_EQ(corpus_bleu({"a b c"}, {{""}}).format(),
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 3 ref_len = 0)");
  EXPECT_EQ(corpus_bleu({""}, {{""}}).format(),
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 0 ref_len = 0)");
}

TEST(CorpusBleu, MismatchedCountsNameBoth) {
  std::string msg = message_of([] { corpus_bleu(kHyps, {{"a", "b"}}); });
  EXPECT_NE(msg.find("3 hypotheses but 2 references in reference set 1"), std::string::npos) << msg;
  msg = message_of([] { corpus_bleu(kHyps, {kRefs[0], {"a", "b", "c", "d"}}); });
  EXPECT_NE(msg.find("3 hypotheses but 4 references in reference set 2"), std::string::npos) << msg;
  EXPECT_NE(message_of([] { corpus_bleu({}, {{}}); }).find("no hypotheses"), std::string::npos);
}

TEST(BleuNames, ParseRejectsUnknownNamesListingValidOnes) {
  EXPECT_EQ(parse_bleu_smooth("add-k"), BleuSmooth::kAddK);
  EXPECT_EQ(parse_bleu_tokenizer("none"), BleuTokenizer::kNone);
  EXPECT_NE(message_of([] { parse_bleu_tokenizer("intl"); }).find("'intl' (valid: 13a, none)"), std::string::npos);
  EXPECT_NE(message_of([] { parse_bleu_smooth("add1"); }).find("valid: exp, floor, add-k, none"), std::string::npos);
}

TEST(BleuSignature, NamesSmoothingValue) {
  EXPECT_EQ(corpus_bleu(kHyps, kRefs, {.smooth = BleuSmooth::kFloor}).signature,
            "nrefs:2|case:mixed|eff:no|tok:13a|smooth:floor[0.10]|version:2.6.0");
  EXPECT_EQ(corpus_bleu(kHyps, kRefs, {.smooth = BleuSmooth::kAddK}).signature,
            "nrefs:2|case:mixed|eff:no|tok:13a|smooth:add-k[1.00]|version:2.6.0");
}

// ---- sentence BLEU ---------------------------------------------------------------------

TEST(SentenceBleu, PublishedSmoothingAndTokenizerVariants) {
  struct Case {
    BleuSmooth smooth;
    std::optional<double> value;
    BleuTokenizer tok;
    double expected;  // sacreBLEU 2.6.0; published (to 1e-3) in the comment
  };
  const Case cases[] = {
      {BleuSmooth::kExp, {}, BleuTokenizer::k13a, 8.493098745313148},       // 8.493
      {BleuSmooth::kNone, {}, BleuTokenizer::k13a, 0.0},                    // 0.0
      {BleuSmooth::kFloor, {}, BleuTokenizer::k13a, 4.516881220954753},     // 4.51688
      {BleuSmooth::kFloor, 0.1, BleuTokenizer::k13a, 4.516881220954753},    // 4.51688
      {BleuSmooth::kFloor, 0.5, BleuTokenizer::k13a, 10.100053456347073},   // 10.10
      {BleuSmooth::kAddK, {}, BleuTokenizer::k13a, 14.882560178972215},     // 14.882
      {BleuSmooth::kAddK, 1, BleuTokenizer::k13a, 14.882560178972215},      // 14.882
      {BleuSmooth::kAddK, 2, BleuTokenizer::k13a, 21.389460275371086},      // 21.389
      {BleuSmooth::kExp, {}, BleuTokenizer::kNone, 7.347053125977879},      // 7.347
      {BleuSmooth::kFloor, {}, BleuTokenizer::kNone, 3.9073802494525003},   // (not published)
      {BleuSmooth::kAddK, {}, BleuTokenizer::kNone, 13.76123266948092},     // (not published)
  };
  for (const Case& c : cases) {
    for (bool lowercase : {false, true}) {
      BleuScore b = sentence_bleu(kSys98, {kRef98}, sentence_options(c.smooth, c.value, c.tok, lowercase));
      EXPECT_NEAR(b.score, c.expected, kTol) << name(c.smooth) << " " << name(c.tok) << " lc " << lowercase;
    }
  }
}

TEST(SentenceBleu, PublishedNoMatchIsZeroForEverySmoothing) {
  for (BleuSmooth s : {BleuSmooth::kExp, BleuSmooth::kNone, BleuSmooth::kFloor, BleuSmooth::kAddK})
    EXPECT_EQ(sentence_bleu("this is a cat", {"okay thanks"}, sentence_options(s, {}, BleuTokenizer::k13a, false)).score,
              0.0);
}

TEST(SentenceBleu, DefaultsToEffectiveOrder) {
  BleuScore b = sentence_bleu(kSys98, {kRef98});
  EXPECT_EQ(b.format(), "BLEU = 8.49 35.7/15.4/4.2/2.3 (BP = 1.000 ratio = 1.400 hyp_len = 14 ref_len = 10)");
  EXPECT_EQ(b.signature, "nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:2.6.0");
}

TEST(SentenceBleu, LowercaseAndMultipleReferences) {
  // sacrebleu.sentence_bleu(hyp, refs, lowercase=...)
  EXPECT_NEAR(sentence_bleu(kCaseHyps[1], {kCaseRefs[0][1]}).score, 27.482545710800192, kTol);
  BleuOptions lc{.lowercase = true, .effective_order = true};
  EXPECT_NEAR(sentence_bleu(kCaseHyps[1], {kCaseRefs[0][1]}, lc).score, 64.31870218238025, kTol);
  EXPECT_NEAR(sentence_bleu(kCaseHyps[2], {kCaseRefs[0][2]}, lc).score, 77.88007830714052, kTol);  // final sigma
  BleuScore multi = sentence_bleu(kHyps[1], {kRefs[0][1], kRefs[1][1]});
  EXPECT_NEAR(multi.score, 14.794015674776452, kTol);
  EXPECT_EQ(multi.format(), "BLEU = 14.79 50.0/16.7/12.5/12.5 (BP = 0.779 ratio = 0.800 hyp_len = 4 ref_len = 5)");
}

TEST(SentenceBleu, ClosestReferenceLengthPrefersTheShorterOnATie) {
  // sacrebleu.sentence_bleu("a b c", ["a b c d", "a b"]): lengths 4 and 2 are both 1 away
  BleuScore b = sentence_bleu("a b c", {"a b c d", "a b"});
  EXPECT_EQ(b.ref_len, 2);
  EXPECT_EQ(b.format(), "BLEU = 100.00 100.0/100.0/100.0/0.0 (BP = 1.000 ratio = 1.500 hyp_len = 3 ref_len = 2)");
}
