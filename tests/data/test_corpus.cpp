// Parallel and labelled (TSV/CSV) corpora, and label maps.
#include "data/corpus.h"

#include <gtest/gtest.h>

#include "data_fixtures.h"

using namespace attend;
using namespace attend::data;
using Strings = std::vector<std::string>;

class Corpus : public test_util::ScratchDir {};

TEST_F(Corpus, ParallelPairsLines) {
  ParallelCorpus c = read_parallel(write("s.de", "Hallo\nWelt\n"), write_gz("t.en.gz", "Hello\nworld\n"));
  EXPECT_EQ(c.source, (Strings{"Hallo", "Welt"}));
  EXPECT_EQ(c.target, (Strings{"Hello", "world"}));
}

TEST_F(Corpus, ParallelLengthMismatchGivesBothCounts) {
  const std::string s = write("s.de", "a\nb\nc\n"), t = write("t.en", "a\nb\n");
  try {
    read_parallel(s, t);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + s + "' has 3 lines but '" + t + "' has 2 lines"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(Corpus, ParallelMissingTargetIsAnError) {
  const std::string t = path("missing.en");
  try {
    read_parallel(write("s.de", "a\n"), t);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open '" + t + "'"), std::string::npos) << e.what();
  }
}

TEST_F(Corpus, TsvWithHeaderPicksColumnsByName) {
  LabelledCorpus c = read_labelled(write("a.tsv", "label\tsentence\n1\tgood film \n0\tbad\n"));
  EXPECT_EQ(c.text, (Strings{"good film ", "bad"}));
  EXPECT_EQ(c.labels, (Strings{"1", "0"}));
  EXPECT_EQ(c.lines, (std::vector<int64_t>{2, 3}));
}

TEST_F(Corpus, TsvQuotedFieldsHoldTabsQuotesAndNewlines) {
  const std::string tsv =
      "sentence\tlabel\n"
      "\"a\ttab\"\tpos\n"
      "\"say \"\"hi\"\"\"\tneg\n"
      "\"two\nlines\"\tpos\n"
      "un\"quoted\tneg\n";
  LabelledCorpus c = read_labelled(write("q.tsv", tsv));
  EXPECT_EQ(c.text, (Strings{"a\ttab", "say \"hi\"", "two\nlines", "un\"quoted"}));
  EXPECT_EQ(c.labels, (Strings{"pos", "neg", "pos", "neg"}));
  EXPECT_EQ(c.lines, (std::vector<int64_t>{2, 3, 4, 6}));
}

TEST_F(Corpus, CsvDelimiterFollowsTheName) {
  LabelledCorpus c = read_labelled(write("a.csv", "text,y\n\"a, b\",x\n"), {.text_column = "text", .label_column = "y"});
  EXPECT_EQ(c.text, (Strings{"a, b"}));
  EXPECT_EQ(c.labels, (Strings{"x"}));
}

TEST_F(Corpus, UnknownLabelColumnListsTheHeader) {
  const std::string p = write("a.tsv", "sentence\tlabel\nx\t1\n");
  try {
    read_labelled(p, {.label_column = "sentiment"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + p + "': no column 'sentiment' in the header [sentence, label]"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(Corpus, WithoutLabelColumnReadsTextOnly) {
  LabelledCorpus c = read_labelled(write("t.tsv", "index\tsentence\n0\tfine .\n"), {.label_column = ""});
  EXPECT_EQ(c.text, (Strings{"fine ."}));
  EXPECT_TRUE(c.labels.empty());
}

TEST_F(Corpus, WrongFieldCountNamesTheLine) {
  const std::string p = write("a.tsv", "sentence\tlabel\nok\t1\nno label here\n");
  try {
    read_labelled(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + p + "' line 3: 1 fields, but the header has 2"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(Corpus, UnclosedQuoteIsAnError) {
  const std::string p = write("a.tsv", "sentence\tlabel\n\"open\t1\n");
  EXPECT_THROW(
      {
        try {
          read_labelled(p);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("line 2: quoted field not closed"), std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
}

TEST(LabelMap, IntegerLabelsSortNumerically) {
  LabelMap m = LabelMap::from_labels({"10", "2", "0", "2"});
  EXPECT_EQ(m.names(), (Strings{"0", "2", "10"}));
  EXPECT_EQ(m.id("10"), 2);
  EXPECT_EQ(m.name(1), "2");
}

TEST(LabelMap, TextLabelsSortByBytes) {
  EXPECT_EQ(LabelMap::from_labels({"pos", "neg", "neutral"}).names(), (Strings{"neg", "neutral", "pos"}));
}

TEST(LabelMap, UnknownLabelListsTheKnownOnes) {
  LabelMap m = LabelMap::from_labels({"0", "1"});
  try {
    m.id("2");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown label '2' (known labels: 0, 1)"), std::string::npos)
        << e.what();
  }
}

TEST_F(Corpus, LabelMapSavesAndLoads) {
  LabelMap m = LabelMap::from_labels({"pos", "neg"});
  m.save(path("model/labels.txt"));
  EXPECT_EQ(read_file(path("model/labels.txt")), "neg\npos\n");
  EXPECT_EQ(LabelMap::load(path("model/labels.txt")).names(), m.names());
}

TEST(SharedData, Sst2TrainHasItsDocumentedRows) {
  SKIP_WITHOUT_SHARED_FILE(p, "sst2/train.tsv");
  LabelledCorpus c = read_labelled(p);
  ASSERT_EQ(c.text.size(), 67349u);
  EXPECT_EQ(c.text[0], "hide new secretions from the parental units ");
  LabelMap m = LabelMap::from_labels(c.labels);
  EXPECT_EQ(m.names(), (Strings{"0", "1"}));
  EXPECT_EQ(std::count(c.labels.begin(), c.labels.end(), "0"), 29780);
}

TEST(SharedData, Multi30kTrainIsParallel) {
  SKIP_WITHOUT_SHARED_FILE(de, "multi30k/train.de.gz");
  SKIP_WITHOUT_SHARED_FILE(en, "multi30k/train.en.gz");
  ParallelCorpus c = read_parallel(de, en);
  ASSERT_EQ(c.source.size(), 29000u);
  EXPECT_EQ(c.source[0], "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.");
}
