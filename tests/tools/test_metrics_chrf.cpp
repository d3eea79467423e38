// chrF against sacreBLEU. "Published" vectors come from sacreBLEU's test/test_chrf.py;
// the others were computed with sacreBLEU 2.6.0 under Python 3.11 (expression noted).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tools/metrics.h"

using namespace attend::metrics;
using Refs = std::vector<std::vector<std::string>>;

namespace {

constexpr double kTol = 5e-5;  // agreement to 4 decimals

const std::vector<std::string> kHyps = {"The dog bit the man.", "It wasn't surprising.",
                                        "The man had just bitten him."};
const Refs kRefs = {{"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
                    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};
const std::string kRef98 = "producţia de zahăr brut se exprimă în zahăr alb;";
const std::string kSys98 = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
const std::vector<std::string> kCaseHyps = {"THE Dog bit the MAN.", "Straße in MÜNCHEN ist groß.",
                                            "ΟΔΥΣΣΕΑΣ ΚΑΙ Η ΘΑΛΑΣΣΑ"};
const Refs kCaseRefs = {{"the dog bit the man.", "Die STRASSE in München ist groß.", "ο οδυσσεας και η θαλασσα"}};

struct Case {
  std::vector<std::string> hyps, refs;
  double expected;
};

// corpus_chrf(hyps, [refs], char_order=6, word_order=0, beta=3, ...) as test_chrf.py calls it.
double chrf_beta3(const Case& c, bool eps_smoothing, bool whitespace = false) {
  return corpus_chrf(c.hyps, {c.refs}, {.beta = 3, .whitespace = whitespace, .eps_smoothing = eps_smoothing}).score;
}

}  // namespace

TEST(Chrf, PublishedEpsilonSmoothingCases) {
  const Case cases[] = {
      {{"abcdefg"}, {"hijklmnop"}, 0.0},
      {{"a"}, {"b"}, 0.0},
      {{""}, {"b"}, 0.0},
      {{""}, {"ref"}, 0.0},
      {{""}, {"reference"}, 0.0},
      {{"aa"}, {"ab"}, 8.3333},
      {{"a", "b"}, {"a", "c"}, 8.3333},
      {{"a"}, {"a"}, 16.6667},
      {{"a b c"}, {"a b c"}, 50.0},
      {{"a b c"}, {"abc"}, 50.0},
      {{" risk assessment must be made of those who are qualified and expertise in the sector - these are the "
        "scientists ."},
       {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the "
        "scientists ."},
       63.361730},
      {{" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
       {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."},
       64.1302698},
      {{"Niemand hat die Absicht, eine Mauer zu errichten"}, {"Niemand hat die Absicht, eine Mauer zu errichten"}, 100.0},
  };
  // The published tolerance is 1e-4 (their 8.3333 and 16.6667 are rounded to 4 decimals).
  for (const Case& c : cases) EXPECT_NEAR(chrf_beta3(c, true), c.expected, 1e-4) << c.hyps[0];
}

TEST(Chrf, PublishedEffectiveOrderCases) {
  const Case cases[] = {
      {{"a"}, {"a"}, 100.0},   {{""}, {"reference"}, 0.0}, {{"a b c"}, {"a b c"}, 100.0}, {{"a b c"}, {"abc"}, 100.0},
      {{""}, {"c"}, 0.0},      {{"a", "b"}, {"a", "c"}, 50.0}, {{"aa"}, {"ab"}, 25.0},
  };
  for (const Case& c : cases) EXPECT_NEAR(chrf_beta3(c, false), c.expected, kTol) << c.hyps[0];
}

TEST(Chrf, PublishedKeepWhitespaceCases) {
  const Case cases[] = {
      {{"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."},
       {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."},
       67.3481606},
      {{"risk assessment must be made of those who are qualified and expertise in the sector - these are the "
        "scientists ."},
       {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the "
        "scientists ."},
       65.2414427},
  };
  for (const Case& c : cases) EXPECT_NEAR(chrf_beta3(c, false, true), c.expected, kTol) << c.hyps[0];
}

TEST(Chrf, PublishedSentenceLevelWithEpsilonSmoothing) {
  const Case cases[] = {
      {{"Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře."},
       {"Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."},
       39.14078509},
      {{"Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři."},
       {"A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři."},
       31.22557079},
      {{"Lapali po dechu, jejich životy skončily dřív, než skutečně začaly."},
       {"Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."},
       57.15704367},
  };
  for (const Case& c : cases)
    EXPECT_NEAR(sentence_chrf(c.hyps[0], c.refs, {.eps_smoothing = true}).score, c.expected, kTol) << c.hyps[0];
}

TEST(Chrf, CorpusDefaultsSumStatisticsThenScoreOnce) {
  ChrfScore c = corpus_chrf(kHyps, kRefs);  // CHRF().corpus_score(_hyps, _refs)
  EXPECT_NEAR(c.score, 59.72751782684763, kTol);
  EXPECT_EQ(c.format(), "chrF2 = 59.73");
  EXPECT_EQ(c.signature, "nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0");
  EXPECT_EQ(c.format(1, true), "chrF2|nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 59.7");
  EXPECT_NEAR(corpus_chrf(kHyps, {kRefs[0]}).score, 50.043063606582294, kTol);
}

TEST(Chrf, CorpusLowercase) {
  EXPECT_NEAR(corpus_chrf(kCaseHyps, kCaseRefs).score, 22.510862944083236, kTol);
  ChrfScore lc = corpus_chrf(kCaseHyps, kCaseRefs, {.lowercase = true});
  EXPECT_NEAR(lc.score, 86.17157541726567, kTol);
  EXPECT_EQ(lc.signature, "nrefs:1|case:lc|eff:yes|nc:6|nw:0|space:no|version:2.6.0");
  EXPECT_NEAR(corpus_chrf(kHyps, kRefs, {.lowercase = true}).score, 60.02302725455764, kTol);
}

TEST(Chrf, ChrfPlusPlusAddsWordBigrams) {
  ChrfScore c = corpus_chrf(kHyps, kRefs, {.word_order = 2});  // CHRF(word_order=2)
  EXPECT_NEAR(c.score, 59.15310444399262, kTol);
  EXPECT_EQ(c.format(), "chrF2++ = 59.15");
  EXPECT_EQ(c.signature, "nrefs:2|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0");
  EXPECT_NEAR(corpus_chrf(kHyps, {kRefs[0]}, {.word_order = 2}).score, 51.7309698503746, kTol);
  EXPECT_NEAR(sentence_chrf(kSys98, {kRef98}, {.word_order = 2}).score, 42.97031055499004, kTol);
}

TEST(Chrf, ChrfPlusPlusSplitsOnePunctuationMarkOffWords) {
  ChrfScore c = sentence_chrf("Die (kleine) Katze, sagt er.", {"Die kleine Katze sagt: er."}, {.word_order = 2});
  EXPECT_NEAR(c.score, 45.12693188515841, kTol);
  // word unigrams: Die | (kleine | ) | Katze | , | sagt | er | .  vs  Die kleine Katze sagt : er .
  EXPECT_EQ(std::vector<int64_t>(c.stats.begin() + 18, c.stats.end()), (std::vector<int64_t>{8, 7, 5, 7, 6, 1}));
}

TEST(Chrf, SentenceLevelDefaultsLowercaseAndMultipleReferences) {
  EXPECT_NEAR(sentence_chrf(kSys98, {kRef98}).score, 46.16121170087866, kTol);
  EXPECT_NEAR(sentence_chrf(kSys98, {kRef98}, {.lowercase = true}).score, 47.8006010710207, kTol);
  EXPECT_NEAR(sentence_chrf(kCaseHyps[2], {kCaseRefs[0][2]}, {.lowercase = true}).score, 95.33041882066208, kTol);
  // the best-scoring reference wins
  EXPECT_NEAR(sentence_chrf(kHyps[1], {kRefs[0][1], kRefs[1][1]}).score, 35.34635301425291, kTol);
}

TEST(Chrf, CountsCodePointsNotBytes) {
  ChrfScore c = sentence_chrf("äb", {"äc"});
  EXPECT_EQ(std::vector<int64_t>(c.stats.begin(), c.stats.begin() + 6), (std::vector<int64_t>{2, 2, 1, 1, 1, 0}));
  EXPECT_NEAR(c.score, 25.0, kTol);
}

TEST(Chrf, EmptyHypothesisOrReferenceScoresZero) {
  EXPECT_EQ(corpus_chrf({"", "", ""}, kRefs).score, 0.0);
  ChrfScore empty_ref = corpus_chrf({"a b c"}, {{""}});
  EXPECT_EQ(empty_ref.score, 0.0);
  EXPECT_EQ(empty_ref.stats, std::vector<int64_t>(18, 0));  // no hits counted against an empty reference
  ChrfScore empty_hyp = corpus_chrf({""}, {{"abc"}});
  EXPECT_EQ(empty_hyp.stats[1], 3);  // reference unigrams still counted
  EXPECT_EQ(empty_hyp.score, 0.0);
  EXPECT_EQ(corpus_chrf({""}, {{""}}).score, 0.0);
  EXPECT_NEAR(corpus_chrf({"a b c"}, {{""}}, {.eps_smoothing = true}).score, 1e-14, 1e-20);
}

TEST(Chrf, MismatchedCountsNameBoth) {
  try {
    corpus_chrf(kHyps, {{"a", "b", "c", "d"}});
    FAIL() << "no error";
  } catch (const attend::Error& e) {
    EXPECT_NE(std::string(e.what()).find("chrF: 3 hypotheses but 4 references in reference set 1"), std::string::npos)
        << e.what();
  }
}

TEST(Chrf, FirstReferenceWinsATieInSegmentFScore) {
  // Both references give F = 0 for "abc"; the first one's statistics are kept.
  EXPECT_EQ(corpus_chrf({"abc"}, {{"xyz"}, {""}}).stats[1], 3);
  EXPECT_EQ(corpus_chrf({"abc"}, {{""}, {"xyz"}}).stats[1], 0);
  EXPECT_NEAR(corpus_chrf({"abc", "abc"}, {{"xyz", "abc"}, {"", "abc"}}).score, 50.0, kTol);
  EXPECT_NEAR(corpus_chrf({"abc", "abc"}, {{"", "abc"}, {"xyz", "abc"}}).score, 100.0, kTol);
}

TEST(Chrf, EpsilonSizedFScoresPickTheSameReferenceAsSacrebleu) {
  // CHRF(eps_smoothing=True).corpus_score([h, "q"], [["xyz", "q"], ["", "q"]]): both
  // references score about 1e-14 on the first segment; which one counts moves the corpus score.
  const Refs refs = {{"xyz", "q"}, {"", "q"}};
  EXPECT_NEAR(corpus_chrf({"abc", "q"}, refs, {.eps_smoothing = true}).score, 4.166666666666676, kTol);
  EXPECT_NEAR(corpus_chrf({"ab", "q"}, refs, {.eps_smoothing = true}).score, 16.666666666666668, kTol);
  // CHRF(char_order=3, eps_smoothing=True) keeps the first reference's statistics here.
  ChrfScore c = sentence_chrf(":  \u042f.", {"\\ \u00c5 # K &gt; DOG e-mail ^ \t \U0001F600\n", ""},
                              {.char_order = 3, .eps_smoothing = true});
  EXPECT_EQ(c.stats, (std::vector<int64_t>{3, 19, 0, 2, 18, 0, 1, 17, 0}));
}
