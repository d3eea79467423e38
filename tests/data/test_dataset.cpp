// Building datasets: tokenizing, skipping empty and overlong rows (counted), labels.
#include "data/dataset.h"

#include <gtest/gtest.h>

#include "data_fixtures.h"

using namespace attend;
using namespace attend::data;

TEST(Dataset, TranslationSkipsEmptyAndOverlongRowsAndCountsThem) {
  Tokenizer tok = test_util::tiny_tokenizer();
  const std::string long_line = "Ein Mädchen läuft über die Straße, Zwei Männer spielt Fußball, "
                                "Der Hund sitzt am Ufer, A woman is riding a bike.";
  ParallelCorpus c{{"Der Hund sitzt am Ufer.", "", long_line, "Ein Mädchen spielt Fußball."},
                   {"Der Hund sitzt am Ufer.", "A woman", "Three boys", ""}};
  ASSERT_GT(tok.encode(long_line).size(), 30u);
  ASSERT_LE(tok.encode("Der Hund sitzt am Ufer.").size(), 30u);
  FilterStats stats;
  Dataset d = make_translation_dataset(c, tok, tok, {.max_length = 30}, "train", &stats);
  EXPECT_EQ(stats.read, 4);
  EXPECT_EQ(stats.kept, 1);
  EXPECT_EQ(stats.empty, 2);
  EXPECT_EQ(stats.too_long, 1);
  ASSERT_EQ(d.size(), 1);
  EXPECT_EQ(d.examples[0].index, 0);
  EXPECT_EQ(d.examples[0].src, tok.encode("Der Hund sitzt am Ufer."));
  EXPECT_TRUE(d.has_target);
}

TEST(Dataset, InferenceKeepsEveryRowAndItsIndex) {
  Tokenizer tok = test_util::tiny_tokenizer();
  FilterStats stats;
  Dataset d = make_source_dataset({"Der Hund.", "", "A woman."}, tok, {.skip_empty = false}, "input", &stats);
  ASSERT_EQ(d.size(), 3);
  EXPECT_TRUE(d.examples[1].src.empty());
  EXPECT_EQ(d.examples[2].index, 2);
  EXPECT_EQ(stats.kept, 3);
}

TEST(Dataset, ClassificationMapsLabels) {
  Tokenizer tok = test_util::tiny_tokenizer();
  LabelledCorpus c{{"Der Hund.", "A woman.", ""}, {"pos", "neg", "pos"}, {2, 3, 4}};
  LabelMap labels = LabelMap::from_labels(c.labels);
  Dataset d = make_classification_dataset(c, tok, &labels, {}, "train");
  ASSERT_EQ(d.size(), 2);
  EXPECT_TRUE(d.has_labels);
  EXPECT_FALSE(d.has_target);
  EXPECT_EQ(d.examples[0].label, 1);
  EXPECT_EQ(d.examples[1].label, 0);
}

TEST(Dataset, UnknownLabelNamesTheLine) {
  Tokenizer tok = test_util::tiny_tokenizer();
  LabelMap labels({"neg", "pos"});
  LabelledCorpus c{{"Der Hund.", "A woman."}, {"pos", "meh"}, {2, 7}};
  try {
    make_classification_dataset(c, tok, &labels, {}, "valid");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset 'valid' line 7: unknown label 'meh'"), std::string::npos)
        << e.what();
  }
}
