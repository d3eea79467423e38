// End to end: the tiny config learns synthetic tasks well enough to prove that data,
// model, loss, optimizer, schedule and decoding fit together.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>

#include "train/train_fixtures.h"

using namespace attend;
using namespace attend::train_test;

namespace {

using LearnsTest = TrainTest;

// Issue 5 asks for >= 99% in under 60 s; the config fixes the work (600 updates, about
// 15 s on one idle core) and the time is printed, not asserted: tests never fail on speed.
TEST_F(LearnsTest, TinySeq2SeqLearnsToReverseDigitSequences) {
  const auto t0 = std::chrono::steady_clock::now();
  write_parallel(dir_, "train", reverse_digits(6000, 3, 6, /*seed=*/1));
  const DigitTask held_out = reverse_digits(1000, 3, 6, /*seed=*/3);
  const Config config = tiny_config(dir_);
  const TrainSummary s = train(config);
  std::vector<std::string> misses;
  const double em = exact_match(config.output.dir, held_out.source, held_out.target, &misses);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("reverse: %lld steps, final loss %.4f, exact match %.1f%% in %.1f s\n", (long long)s.steps,
              s.losses.back(), 100 * em, seconds);
  EXPECT_GE(em, 0.99) << "misses:\n" << fmt::format("{}", fmt::join(misses, "\n"));
}

TEST_F(LearnsTest, TinyClassifierLearnsASeparableTask) {
  write_table(path("train.tsv"), sentiment_words(2000, /*seed=*/1));
  write_table(path("valid.tsv"), sentiment_words(200, /*seed=*/2));
  const LabelledTask held_out = sentiment_words(500, /*seed=*/3);
  const Config config = tiny_classifier_config(dir_, {"train.max_steps=100", "train.schedule.total_steps=100"});
  const TrainSummary s = train(config);
  EXPECT_EQ(s.best_metric, "accuracy");
  const double acc = accuracy(config.output.dir, held_out.text, held_out.labels);
  std::printf("classifier: %lld steps, final loss %.4f, held-out accuracy %.1f%%\n", (long long)s.steps,
              s.losses.back(), 100 * acc);
  EXPECT_GE(acc, 0.95);
}

}  // namespace
