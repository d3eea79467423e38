// Resuming and reproducing runs: a run stopped halfway and resumed is bit-for-bit the
// run that never stopped; the same config, seed and thread count give the same losses;
// a resume under a config that changed what is trained is refused, naming the keys.
#include "tools/checkpoint.h"
#include "train/train_fixtures.h"
#include "common/error_of.h"

using namespace attend;
using namespace attend::train_test;

namespace {

class ResumeTest : public TrainTest {
 protected:
  void SetUp() override {
    TrainTest::SetUp();
    // 11 batches an epoch: the runs below cross epoch ends and stop mid-epoch.
    write_parallel(dir_, "train", reverse_digits(1000, 3, 6, /*seed=*/1));
    write_parallel(dir_, "valid", reverse_digits(50, 3, 6, /*seed=*/2));
  }
  // The tiny config with dropout on (so the RNG state must survive a resume), writing into dir/name.
  Config config(const std::string& name, std::vector<std::string> overrides = {}) const {
    overrides.insert(overrides.begin(), {"output.dir=" + path(name), "model.dropout=0.1", "train.valid_every=7"});
    return tiny_config(dir_, overrides);
  }
  std::string checkpoint_file(const std::string& name, int64_t step, const std::string& file) const {
    return checkpoint_dir(path(name), step) + "/" + file;
  }
};

TEST_F(ResumeTest, StoppedAndResumedRunEqualsTheUninterruptedOneBitForBit) {
  const int64_t n = 40;
  const TrainSummary whole = train(config("a", {"train.max_steps=40"}));
  const TrainSummary first = train(config("b", {"train.max_steps=20"}));
  const TrainSummary second = train(config("b", {"train.max_steps=40"}));  // finds step-20 and resumes

  ASSERT_EQ(whole.losses.size(), size_t(n));
  ASSERT_EQ(first.losses.size(), size_t(n / 2));
  ASSERT_EQ(second.losses.size(), size_t(n / 2));
  std::vector<double> resumed = first.losses;
  resumed.insert(resumed.end(), second.losses.begin(), second.losses.end());
  for (size_t i = 0; i < size_t(n); ++i) EXPECT_EQ(resumed[i], whole.losses[i]) << "step " << i + 1;  // bitwise

  EXPECT_EQ(second.steps, n);
  for (const char* file : {"model.safetensors", "optimizer.safetensors"})
    EXPECT_TRUE(read_bytes(checkpoint_file("a", n, file)) == read_bytes(checkpoint_file("b", n, file))) << file;
}

TEST_F(ResumeTest, ResumeWithAccumulationAcrossAnEpochEnd) {
  // 2 batches per update, 11 an epoch: each epoch ends with a group of one, and the stop at
  // step 8 falls between the first and second epoch ends.
  const TrainSummary whole = train(config("a", {"train.max_steps=14", "train.accumulate=2"}));
  const TrainSummary first = train(config("b", {"train.max_steps=8", "train.accumulate=2"}));
  const TrainSummary second = train(config("b", {"train.max_steps=14", "train.accumulate=2"}));
  std::vector<double> resumed = first.losses;
  resumed.insert(resumed.end(), second.losses.begin(), second.losses.end());
  EXPECT_EQ(resumed, whole.losses);
  EXPECT_TRUE(read_bytes(checkpoint_file("a", 14, "model.safetensors")) ==
              read_bytes(checkpoint_file("b", 14, "model.safetensors")));
}

TEST_F(ResumeTest, SameConfigSeedAndThreadsGiveTheSameLossAtEveryStep) {
  const TrainSummary a = train(config("a", {"train.max_steps=8", "train.threads=2", "train.max_tokens=256"}));
  const TrainSummary b = train(config("b", {"train.max_steps=8", "train.threads=2", "train.max_tokens=256"}));
  ASSERT_EQ(a.losses.size(), 8u);
  EXPECT_EQ(a.losses, b.losses);
  const TrainSummary c = train(config("c", {"train.max_steps=8", "train.threads=2", "train.max_tokens=256",
                                            "train.seed=2"}));
  EXPECT_NE(a.losses, c.losses) << "the seed must matter";
}

TEST_F(ResumeTest, ResumeUnderAChangedModelOrOptimizerIsRefusedListingTheKeys) {
  train(config("a", {"train.max_steps=3"}));
  const std::string message = error_of([&] {
    train(config("a", {"train.max_steps=6", "model.d_model=32", "train.optimizer.lr=1e-3"}));
  });
  EXPECT_NE(message.find("holds a run with a different config"), std::string::npos) << message;
  EXPECT_NE(message.find("model.d_model: 64 -> 32"), std::string::npos) << message;
  EXPECT_NE(message.find("train.optimizer.lr: 0.005 -> 0.001"), std::string::npos) << message;
  EXPECT_EQ(message.find("max_steps"), std::string::npos) << "max_steps may change: " << message;
  EXPECT_EQ(list_checkpoints(path("a")), std::vector<int64_t>{3}) << "the refused run must not touch the old one";
}

TEST_F(ResumeTest, ResumeMayChangeHowLongAndHowOften) {
  train(config("a", {"train.max_steps=3"}));
  const TrainSummary s = train(config("a", {"train.max_steps=5", "train.valid_every=2", "train.log_every=1",
                                            "train.patience=3", "train.keep_last=2", "decode.beam=2"}));
  EXPECT_EQ(s.losses.size(), 2u);
  EXPECT_EQ(s.steps, 5);
}

TEST_F(ResumeTest, MaxMinutesStopsTheRunWithACheckpointAndCountsTimeAcrossResumes) {
  // 3 ms for the whole run (setup included): it stops within its first steps, validated
  // and checkpointed, long before max_steps.
  const TrainSummary first = train(config("a", {"train.max_steps=100000", "train.max_minutes=0.00005"}));
  EXPECT_TRUE(first.time_limited);
  EXPECT_FALSE(first.interrupted);
  EXPECT_LT(first.steps, 100000);
  EXPECT_EQ(list_checkpoints(path("a")), std::vector<int64_t>{first.steps});
  EXPECT_TRUE(fs::exists(path("a") + "/model.safetensors"));

  // The checkpoint carries the time used, so a resume under the same limit trains no further.
  const TrainSummary again = train(config("a", {"train.max_steps=100000", "train.max_minutes=0.00005"}));
  EXPECT_TRUE(again.time_limited);
  EXPECT_EQ(again.steps, first.steps);
  EXPECT_TRUE(again.losses.empty());

  // A larger limit is a resumable change and continues the run.
  const TrainSummary more = train(config("a", {"train.max_steps=" + std::to_string(first.steps + 2),
                                               "train.max_minutes=60"}));
  EXPECT_FALSE(more.time_limited);
  EXPECT_EQ(more.steps, first.steps + 2);
}

TEST_F(ResumeTest, ResumeFlagWithoutACheckpointFails) {
  const std::string message = error_of([&] { train(config("a", {"train.max_steps=3"}), {.resume = true, .command_hint = ""}); });
  EXPECT_NE(message.find("--resume: no checkpoint in " + path("a") + "/checkpoints"), std::string::npos) << message;
}

TEST_F(ResumeTest, KeepsOnlyTheNewestCheckpoints) {
  train(config("a", {"train.max_steps=9", "train.valid_every=3", "train.keep_last=2"}));  // before the epoch end
  EXPECT_EQ(list_checkpoints(path("a")), (std::vector<int64_t>{6, 9}));
}

TEST_F(ResumeTest, ANewRunRetrainsTheVocabularyOfARunThatNeverCheckpointedUnderOtherDataSettings) {
  train(config("a", {"train.max_steps=2"}));
  fs::remove_all(path("a") + "/checkpoints");  // as if it had been killed before its first checkpoint
  const std::string old_vocab = read_bytes(path("a") + "/vocab.spm");
  train(config("a", {"train.max_steps=2", "data.vocab.size=20"}));
  train(config("fresh", {"train.max_steps=2", "data.vocab.size=20"}));

  const std::string fresh_vocab = read_bytes(path("fresh") + "/vocab.spm");
  ASSERT_NE(fresh_vocab, old_vocab);  // else this test could not tell reuse from retraining
  EXPECT_TRUE(read_bytes(path("a") + "/vocab.spm") == fresh_vocab);
  EXPECT_LE(data::Tokenizer::load(path("a") + "/vocab.spm").vocab_size(), 20);
}

TEST_F(ResumeTest, ANewRunUnderTheSameDataSettingsKeepsTheVocabularyItFinds) {
  train(config("a", {"train.max_steps=2"}));
  fs::remove_all(path("a") + "/checkpoints");
  const auto written = fs::last_write_time(path("a") + "/vocab.spm");
  train(config("a", {"train.max_steps=3", "model.d_model=32"}));  // other model, same data
  EXPECT_EQ(fs::last_write_time(path("a") + "/vocab.spm"), written);
}

}  // namespace
