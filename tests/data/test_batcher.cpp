// The batcher: token budget, every example once per epoch, seeded order, resumable
// position, batch layout, background prefetch.
#include "data/batcher.h"

#include <gtest/gtest.h>

#include <set>

#include "data/text_reader.h"
#include "data_fixtures.h"

using namespace attend;
using namespace attend::data;

namespace {

// n examples with varied lengths: src 1..30 pieces, tgt within 2 of it, ids >= 4.
std::shared_ptr<Dataset> synthetic(int64_t n, bool target = true) {
  auto d = std::make_shared<Dataset>();
  d->name = "synthetic";
  d->has_target = target;
  for (int64_t i = 0; i < n; ++i) {
    Example ex;
    const int64_t s = 1 + (i * 7) % 30;
    ex.src.assign(size_t(s), int32_t(4 + i % 50));
    if (target) ex.tgt.assign(size_t(std::max<int64_t>(1, s + i % 5 - 2)), int32_t(5 + i % 40));
    ex.index = i;
    d->examples.push_back(std::move(ex));
  }
  return d;
}

std::vector<std::vector<int64_t>> epoch_indices(Batcher& b) {
  std::vector<std::vector<int64_t>> out;
  while (auto batch = b.next()) out.push_back(batch->indices);
  return out;
}

BatchOptions options(int64_t max_tokens, uint64_t seed = 1, int prefetch = 2) {
  BatchOptions o;
  o.max_tokens = max_tokens;
  o.seed = seed;
  o.prefetch = prefetch;
  return o;
}

}  // namespace

TEST(Batcher, LaysOutSourceAndTargetRowsWithPadding) {
  auto d = std::make_shared<Dataset>();
  d->has_target = true;
  d->examples = {{{10, 11, 12}, {20}, -1, 7}, {{13}, {21, 22}, -1, 9}};
  Batcher b(d, options(100, 1, 0));
  Batch batch = b.make_batch(std::vector<int64_t>{0, 1});
  EXPECT_EQ(batch.src.shape(), (Shape{2, 4}));
  EXPECT_EQ(batch.src.to_ids(), (std::vector<int64_t>{10, 11, 12, 3, 13, 3, 0, 0}));
  EXPECT_EQ(batch.src_mask.to_vector(), (std::vector<float>{1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(batch.tgt_in.to_ids(), (std::vector<int64_t>{2, 20, 0, 2, 21, 22}));
  EXPECT_EQ(batch.tgt_out.to_ids(), (std::vector<int64_t>{20, 3, 0, 21, 22, 3}));
  EXPECT_EQ(batch.tgt_mask.to_vector(), (std::vector<float>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(batch.src_lengths.to_ids(), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(batch.tgt_lengths.to_ids(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(batch.src_tokens, 6);
  EXPECT_EQ(batch.tgt_tokens, 5);
  EXPECT_EQ(batch.indices, (std::vector<int64_t>{7, 9}));
  EXPECT_FALSE(batch.labels.defined());
}

TEST(Batcher, ClassificationRowsCarryLabelsAndOptionalBos) {
  auto d = std::make_shared<Dataset>();
  d->has_labels = true;
  d->examples = {{{10, 11}, {}, 1, 0}, {{12}, {}, 0, 1}};
  BatchOptions o = options(100, 1, 0);
  o.source_bos = true;
  Batcher b(d, o);
  Batch batch = b.make_batch(std::vector<int64_t>{0, 1});
  EXPECT_EQ(batch.src.to_ids(), (std::vector<int64_t>{2, 10, 11, 3, 2, 12, 3, 0}));
  EXPECT_EQ(batch.labels.to_ids(), (std::vector<int64_t>{1, 0}));
  EXPECT_FALSE(batch.tgt_in.defined());
}

TEST(Batcher, NoBatchExceedsTheBudget) {
  auto d = synthetic(1000);
  Batcher b(d, options(256));
  int64_t batches = 0;
  while (auto batch = b.next()) {
    const int64_t B = batch->src.size(0);
    EXPECT_LE(B * std::max(batch->src.size(1), batch->tgt_in.size(1)), 256);
    ++batches;
  }
  EXPECT_GT(batches, 50);
}

TEST(Batcher, SentenceCapLimitsRows) {
  BatchOptions o = options(100000);
  o.max_sentences = 16;
  Batcher b(synthetic(300), o);
  for (const auto& rows : b.plan(0)) EXPECT_LE(rows.size(), 16u);
}

TEST(Batcher, EveryExampleAppearsOncePerEpoch) {
  auto d = synthetic(777);
  Batcher b(d, options(300));
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> seen(777, 0);
    for (const auto& idx : epoch_indices(b))
      for (int64_t i : idx) ++seen[size_t(i)];
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 777) << "epoch " << epoch;
  }
}

TEST(Batcher, SameSeedSameOrderOtherSeedOrEpochOther) {
  auto d = synthetic(500);
  Batcher a(d, options(200, 7)), b(d, options(200, 7, 0)), c(d, options(200, 8));
  auto ea = epoch_indices(a), eb = epoch_indices(b), ec = epoch_indices(c);
  EXPECT_EQ(ea, eb);  // prefetching or not, the same batches
  EXPECT_NE(ea, ec);
  EXPECT_NE(epoch_indices(a), ea);  // the next epoch is shuffled anew
}

TEST(Batcher, EpochEndsWithNulloptThenContinues) {
  Batcher b(synthetic(40), options(100000, 1));
  ASSERT_TRUE(b.next().has_value());  // all 40 fit in one batch
  EXPECT_EQ(b.position().batch, 1);
  EXPECT_FALSE(b.next().has_value());
  EXPECT_EQ(b.position(), (BatchPosition{1, 1, 0, 40}));
  auto batch = b.next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->position.epoch, 1);
}

TEST(Batcher, RestoredMidEpochContinuesWithTheSameBatches) {
  auto d = synthetic(600);
  Batcher first(d, options(250, 3));
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(first.next().has_value());
  const std::string saved = first.position().to_json();
  std::vector<std::vector<int64_t>> expected;  // rest of epoch 0 and all of epoch 1
  for (int e = 0; e < 2; ++e)
    for (auto part = epoch_indices(first); const auto& idx : part) expected.push_back(idx);

  Batcher resumed(d, options(250, 99));  // the saved seed wins
  resumed.restore(BatchPosition::from_json(saved));
  EXPECT_EQ(resumed.position().batch, 9);
  std::vector<std::vector<int64_t>> got;
  for (int e = 0; e < 2; ++e)
    for (auto part = epoch_indices(resumed); const auto& idx : part) got.push_back(idx);
  EXPECT_EQ(got, expected);
}

TEST(Batcher, RestoreAfterPrefetchRunsAheadStillResumesExactly) {
  auto d = synthetic(400);
  Batcher b(d, options(200, 5, 4));
  b.next();
  b.next();
  const BatchPosition pos = b.position();  // producer is already batches ahead
  const auto third = b.next()->indices;
  b.next();
  b.restore(pos);
  EXPECT_EQ(b.next()->indices, third);
}

TEST(Batcher, PositionJsonRoundTrips) {
  BatchPosition p{42, 3, 17, 29000};
  EXPECT_EQ(p.to_json(), R"({"batch":17,"epoch":3,"examples":29000,"seed":42})");
  EXPECT_EQ(BatchPosition::from_json(p.to_json()), p);
  EXPECT_THROW(BatchPosition::from_json(R"({"epoch":1})"), Error);
}

TEST(Batcher, RestoringOntoAnotherDatasetIsAnError) {
  Batcher b(synthetic(100), options(200));
  try {
    b.restore(BatchPosition{1, 0, 0, 101});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("was saved for 101 examples, but dataset 'synthetic' has 100"),
              std::string::npos)
        << e.what();
  }
}

TEST(Batcher, OversizedExampleGetsABatchOfItsOwn) {
  auto d = synthetic(50);
  d->examples[10].src.assign(80, 9);
  Batcher b(d, options(64, 1, 0));
  bool found = false;
  for (const auto& rows : b.plan(0)) {
    if (std::find(rows.begin(), rows.end(), 10) != rows.end()) {
      EXPECT_EQ(rows.size(), 1u);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(Batcher, BucketingCutsPadding) {
  auto d = synthetic(2000);
  BatchOptions o = options(1024);
  Batcher bucketed(d, o);
  o.bucket = false;
  Batcher plain(d, o);
  const double with = bucketed.stats(bucketed.plan(0)).padding_ratio();
  const double without = plain.stats(plain.plan(0)).padding_ratio();
  EXPECT_LT(with, 0.5 * without);
}

TEST(Batcher, EmptyDatasetIsAnError) {
  EXPECT_THROW(Batcher(std::make_shared<Dataset>(), BatchOptions{}), Error);
}

TEST(Prefetcher, DeliversInOrderAndPropagatesErrors) {
  int n = 0;
  Prefetcher<int> ahead(
      [&n] {
        if (n == 5) throw Error("producer failed at 5");
        return n++;
      },
      2);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ahead.next(), i);
  EXPECT_THROW(ahead.next(), Error);
  EXPECT_THROW(ahead.next(), Error);  // stays failed
}

TEST(Prefetcher, StopsCleanlyWhileTheQueueIsFull) {
  std::atomic<int> made{0};
  {
    Prefetcher<int> ahead([&made] { return made++; }, 3);
    EXPECT_EQ(ahead.next(), 0);
  }
  EXPECT_LE(made.load(), 5);
}

TEST(SharedData, Multi30kPaddingUnderTenPercentWithBucketing) {
  SKIP_WITHOUT_SHARED_FILE(de_path, "multi30k/train.de.gz");
  SKIP_WITHOUT_SHARED_FILE(en_path, "multi30k/train.en.gz");
  ParallelCorpus corpus = read_parallel(de_path, en_path);
  std::vector<std::string> sample(corpus.source.begin(), corpus.source.begin() + 1000);
  sample.insert(sample.end(), corpus.target.begin(), corpus.target.begin() + 1000);
  VocabOptions vo;
  vo.size = 500;
  vo.type = "bpe";
  Tokenizer tok = Tokenizer::train({sample}, vo, "");
  auto d = std::make_shared<Dataset>(
      make_translation_dataset(corpus, tok, tok, {.max_length = 128}, "multi30k"));
  ASSERT_EQ(d->size(), 29000);
  Batcher b(d, options(4096));
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    PlanStats st = b.stats(b.plan(epoch));
    EXPECT_EQ(st.examples, 29000);
    EXPECT_LE(st.max_cost, 4096);
    EXPECT_LT(st.padding_ratio(), 0.10) << "epoch " << epoch;
  }
}
