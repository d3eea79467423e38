// Learning-rate schedules at chosen steps: the first warmup step, the end of
// warmup, and later. Steps count from 1.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "optim/schedule.h"
#include "optim_test_util.h"

using namespace attend;
using namespace attend::test;

TEST(Schedule, ConstantIsLrWithOptionalWarmup) {
  EXPECT_FLOAT_EQ(constant_lr(1, 0.01f), 0.01f);
  EXPECT_FLOAT_EQ(constant_lr(100000, 0.01f), 0.01f);
  EXPECT_FLOAT_EQ(constant_lr(1, 0.01f, 10), 0.001f);  // 0.01 * 1/10
  EXPECT_FLOAT_EQ(constant_lr(10, 0.01f, 10), 0.01f);
}

TEST(Schedule, InverseSqrtWarmsUpThenDecays) {
  // lr 5e-4, warmup 4000 from 0
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(1, 5e-4f, 4000), 1.25e-7f);     // 5e-4 * 1/4000
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(2000, 5e-4f, 4000), 2.5e-4f);   // halfway
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(4000, 5e-4f, 4000), 5e-4f);     // peak
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(16000, 5e-4f, 4000), 2.5e-4f);  // 5e-4 * sqrt(4000/16000)
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(9000, 5e-4f, 4000), float(5e-4 * std::sqrt(4000.0 / 9000.0)));
}

TEST(Schedule, InverseSqrtWarmupStartsFromWarmupInitLr) {
  // fairseq's warmup_init_lr: 1e-7 + (5e-4 - 1e-7) * step/4000
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(1, 5e-4f, 4000, 1e-7f), float(1e-7 + (5e-4 - 1e-7) / 4000));
  EXPECT_FLOAT_EQ(inverse_sqrt_lr(4000, 5e-4f, 4000, 1e-7f), 5e-4f);
}

TEST(Schedule, LinearWarmsUpThenDecaysToZeroAtTotalSteps) {
  // lr 1, warmup 10, total 110
  EXPECT_FLOAT_EQ(linear_lr(1, 1.0f, 10, 110), 0.1f);
  EXPECT_FLOAT_EQ(linear_lr(10, 1.0f, 10, 110), 1.0f);
  EXPECT_FLOAT_EQ(linear_lr(60, 1.0f, 10, 110), 0.5f);  // (110-60)/(110-10)
  EXPECT_FLOAT_EQ(linear_lr(110, 1.0f, 10, 110), 0.0f);
  EXPECT_FLOAT_EQ(linear_lr(500, 1.0f, 10, 110), 0.0f);
}

TEST(Schedule, LinearWithoutWarmupStartsNearLr) {
  EXPECT_FLOAT_EQ(linear_lr(1, 1.0f, 0, 100), 0.99f);  // (100-1)/100
}

TEST(Schedule, CosineWarmsUpThenFollowsHalfACosineToMinLr) {
  // lr 1, min_lr 0.1, warmup 10, total 110
  EXPECT_FLOAT_EQ(cosine_lr(1, 1.0f, 10, 110, 0.1f), 0.1f);  // warmup from 0: 1/10
  EXPECT_FLOAT_EQ(cosine_lr(10, 1.0f, 10, 110, 0.1f), 1.0f);
  EXPECT_FLOAT_EQ(cosine_lr(60, 1.0f, 10, 110, 0.1f), 0.55f);  // 0.1 + 0.45 (1 + cos(pi/2))
  EXPECT_FLOAT_EQ(cosine_lr(35, 1.0f, 10, 110, 0.1f), float(0.1 + 0.45 * (1 + std::cos(std::numbers::pi / 4))));
  EXPECT_FLOAT_EQ(cosine_lr(110, 1.0f, 10, 110, 0.1f), 0.1f);
  EXPECT_FLOAT_EQ(cosine_lr(1000, 1.0f, 10, 110, 0.1f), 0.1f);
}

TEST(Schedule, MakeScheduleMatchesTheFunctions) {
  Schedule s = make_schedule({.name = "inverse_sqrt", .lr = 5e-4f, .warmup_steps = 4000});
  EXPECT_FLOAT_EQ(s(1), inverse_sqrt_lr(1, 5e-4f, 4000));
  EXPECT_FLOAT_EQ(s(16000), 2.5e-4f);
  Schedule c = make_schedule({.name = "cosine", .lr = 1, .warmup_steps = 10, .total_steps = 110, .min_lr = 0.1f});
  EXPECT_FLOAT_EQ(c(60), 0.55f);
  Schedule l = make_schedule({.name = "linear", .lr = 1, .warmup_steps = 10, .total_steps = 110});
  EXPECT_FLOAT_EQ(l(60), 0.5f);
  Schedule k = make_schedule({.name = "constant", .lr = 0.3f});
  EXPECT_FLOAT_EQ(k(7), 0.3f);
}

TEST(Schedule, UnknownNameListsTheValidOnes) {
  EXPECT_CONTAINS(error_of([] { make_schedule({.name = "noam"}); }),
                  "unknown learning-rate schedule 'noam'; valid schedules: constant, inverse_sqrt, linear, cosine");
}

TEST(Schedule, BadOptionsAreNamed) {
  EXPECT_CONTAINS(error_of([] { make_schedule({.name = "linear", .warmup_steps = 10, .total_steps = 5}); }),
                  "schedule 'linear': total_steps (5) must be greater than warmup_steps (10)");
  EXPECT_CONTAINS(error_of([] { make_schedule({.name = "inverse_sqrt", .warmup_steps = 0}); }),
                  "warmup_steps must be >= 1, got 0");
  EXPECT_CONTAINS(error_of([] { make_schedule({.name = "cosine", .lr = 0.1f, .total_steps = 5, .min_lr = 1}); }),
                  "min_lr must be in [0, lr=0.1], got 1");
  EXPECT_CONTAINS(error_of([] { constant_lr(0, 0.1f); }), "steps count from 1, got step 0");
}
