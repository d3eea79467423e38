// attend bench: FLOP counting as the peer counts, the JSON line, both modes, bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tools/bench.h"

using namespace attend;

namespace {

// A model small enough for a test: d 32, 2 heads, ffn 64, 1+2 layers, vocab 50.
BenchOptions tiny(const std::string& mode) {
  return {.preset = "small", .mode = mode, .batch = 3, .src_len = 7, .tgt_len = 5, .steps = 2, .warmup = 1,
          .threads = 1, .vocab = 50, .d_model = 32, .heads = 2, .ffn_dim = 64, .encoder_layers = 1,
          .decoder_layers = 2};
}

std::string error_of(const BenchOptions& o) {
  try {
    run_bench(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(BenchFlops, CountLikeThePeer) {
  // torch_transformer.py flops_per_step() for the same shapes.
  EXPECT_DOUBLE_EQ(bench_train_flops({.preset = "small", .mode = "train"}), 88603361280.0);
  EXPECT_DOUBLE_EQ(bench_train_flops({.preset = "base", .mode = "train"}), 560899031040.0);
  EXPECT_DOUBLE_EQ(bench_train_flops(tiny("train")), 3730176.0);
}

TEST(Bench, TrainPrintsThePeersKeys) {
  const BenchResult r = run_bench(tiny("train"));
  ASSERT_EQ(r.seconds.size(), 2u);
  ASSERT_EQ(r.losses.size(), 3u);  // warm-up included
  const auto j = nlohmann::json::parse(r.json);
  for (const char* key : {"mode", "preset", "bf16", "threads", "batch", "src_len", "tgt_len", "params",
                          "nonemb_params", "median_s", "min_s", "max_s", "tgt_tokens_per_s", "peak_rss_mib",
                          "gflop_per_step", "mflop_per_tgt_token", "achieved_gflops"})
    EXPECT_TRUE(j.contains(key)) << key << " missing from " << r.json;
  EXPECT_EQ(j["mode"], "train");
  EXPECT_EQ(j["bf16"], false);
  EXPECT_EQ(j["batch"], 3);
  EXPECT_NEAR(r.tgt_tokens_per_s, 15.0 / r.median_s, 1e-6 * r.tgt_tokens_per_s);
  EXPECT_NEAR(r.achieved_gflops, 3730176.0 / r.median_s / 1e9, 1e-6 * r.achieved_gflops);
  EXPECT_GT(r.peak_rss_mib, 0.0);
}

TEST(Bench, InferDecodesAndHasNoFlops) {
  BenchOptions o = tiny("infer");
  o.precision = "bf16";
  const BenchResult r = run_bench(o);  // checks itself that every row got tgt_len tokens
  const auto j = nlohmann::json::parse(r.json);
  EXPECT_EQ(j["mode"], "infer");
  EXPECT_EQ(j["decode"], "cached");
  EXPECT_EQ(j["bf16"], true);
  EXPECT_FALSE(j.contains("achieved_gflops"));
  EXPECT_EQ(r.seconds.size(), 2u);
}

TEST(Bench, DefaultsFollowTheMode) {
  BenchOptions o = tiny("infer");
  o.batch = 0;
  o.steps = 0;
  o.warmup = 0;
  const auto j = nlohmann::json::parse(run_bench(o).json);
  EXPECT_EQ(j["batch"], 32);
}

TEST(Bench, RejectsAnUnknownPreset) {
  BenchOptions o = tiny("train");
  o.preset = "huge";
  EXPECT_NE(error_of(o).find("unknown preset 'huge'; valid: small, base"), std::string::npos) << error_of(o);
}

TEST(Bench, RejectsNonPositiveSizes) {
  BenchOptions o = tiny("train");
  o.src_len = 0;
  EXPECT_NE(error_of(o).find("src-len 0"), std::string::npos) << error_of(o);
}
