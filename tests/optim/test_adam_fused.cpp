// Adam's one-pass step over the flat buffers: parameters become views of one buffer,
// the fused update gives the per-element formula's numbers, whatever the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>

#include "optim/adam.h"
#include "optim/sgd.h"
#include "optim_test_util.h"

using namespace attend;
using namespace attend::test;

namespace {

std::vector<float> random_values(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Sizes that cross the threads' shares inside and between parameters.
const std::vector<int64_t> kSizes = {3, 40000, 17, 70001, 1};

NamedParams make_params(uint32_t seed) {
  std::mt19937 rng(seed);
  NamedParams params;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    std::string name = "p";
    name += std::to_string(i);
    params.emplace_back(name, param(random_values(rng, kSizes[i])));
  }
  return params;
}

// Two steps of AdamW with weight decay on `threads` threads; returns every parameter's values.
std::vector<std::vector<float>> two_steps(int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  NamedParams params = make_params(1);
  AdamW opt(params, 0.01f, {.beta2 = 0.98, .eps = 1e-9f, .weight_decay = 0.1f});
  std::mt19937 rng(2);
  for (int s = 0; s < 2; ++s) {
    for (auto& [name, p] : params) set_grad(p, random_values(rng, p.numel()));
    opt.step();
  }
  omp_set_num_threads(saved);
  std::vector<std::vector<float>> out;
  for (auto& [name, p] : params) out.push_back(p.to_vector());
  return out;
}

}  // namespace

TEST(AdamFused, ParametersBecomeViewsOfOneFlatBufferWithTheirValues) {
  NamedParams params = make_params(3);
  const Tensor held = params[1].second;  // a handle kept elsewhere (a module's)
  const std::vector<float> before = held.to_vector();
  Adam opt(params, 0.1f);
  for (const auto& [name, p] : params) EXPECT_TRUE(p.shares_storage(params[0].second)) << name;
  EXPECT_EQ(held.to_vector(), before);
  set_grad(held, std::vector<float>(size_t(held.numel()), 1.0f));
  opt.step();
  EXPECT_NEAR(held.to_vector()[0], before[0] - 0.1f, 1e-6f);  // the first step is lr * sign(g)
  EXPECT_EQ(uintptr_t(params[3].second.data()) % 64, 0u);  // segments start on 64 bytes
  const OptimizerState s = opt.state();
  EXPECT_TRUE(s.tensors.at("exp_avg.p0").shares_storage(s.tensors.at("exp_avg.p4")));
}

TEST(AdamFused, StepEqualsThePerElementFormula) {
  NamedParams params = make_params(4);
  std::vector<std::vector<float>> p0;
  for (auto& [name, p] : params) p0.push_back(p.to_vector());
  Adam opt(params, 0.01f, {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-9f, .weight_decay = 0.05f});
  std::mt19937 rng(5);
  std::vector<std::vector<float>> g;
  for (auto& [name, p] : params) g.push_back(random_values(rng, p.numel()));
  for (size_t i = 0; i < params.size(); ++i) set_grad(params[i].second, g[i]);
  opt.step();
  // t = 1: m = 0.1 d, v = 0.02 d^2, p -= lr / 0.1 * m / (sqrt(v) / sqrt(0.02) + eps), d = g + wd p
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<float> got = params[i].second.to_vector();
    for (size_t j = 0; j < got.size(); ++j) {
      const double d = double(g[i][j]) + 0.05 * double(p0[i][j]);
      const double m = 0.1 * d, v = 0.02 * d * d;
      const double want = double(p0[i][j]) - 0.01 / 0.1 * m / (std::sqrt(v) / std::sqrt(0.02) + 1e-9);
      ASSERT_NEAR(got[j], want, 1e-5 * std::max(1.0, std::fabs(want))) << params[i].first << "[" << j << "]";
    }
  }
}

TEST(AdamFused, OneAndTwoThreadsGiveIdenticalParameters) {
  EXPECT_EQ(two_steps(1), two_steps(2));
}

// --- bf16 copies (bf16 training) -------------------------------------------------------

namespace {

// Every parameter's copy equals the parameter rounded to nearest even, element by element.
void expect_copies_current(const std::vector<std::pair<Tensor, Tensor>>& copies) {
  for (const auto& [p, copy] : copies) {
    ASSERT_EQ(copy.dtype(), DType::bf16);
    ASSERT_EQ(copy.shape(), p.shape());
    const std::vector<float> values = p.to_vector();
    const bf16* c = copy.data_as<bf16>();
    for (size_t j = 0; j < values.size(); ++j)
      ASSERT_EQ(c[j].bits, to_bf16(values[j]).bits) << p.str() << "[" << j << "]";
  }
}

}  // namespace

TEST(AdamFused, Bf16CopiesFollowEveryStep) {
  for (int threads : {1, 2}) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    NamedParams params = make_params(6);
    AdamW opt(params, 0.01f, {.weight_decay = 0.1f});
    const auto& copies = opt.bf16_copies();
    ASSERT_EQ(copies.size(), params.size());
    expect_copies_current(copies);
    std::mt19937 rng(7);
    for (int s = 0; s < 2; ++s) {
      for (size_t i = 0; i < params.size(); ++i)  // p2 has no gradient in the second step
        if (s == 0 || i != 2) set_grad(params[i].second, random_values(rng, params[i].second.numel()));
      const std::vector<float> before = params[2].second.to_vector();
      opt.step();
      expect_copies_current(copies);
      if (s == 1) {
        EXPECT_EQ(params[2].second.to_vector(), before);
      }
      opt.zero_grad();
    }
    omp_set_num_threads(saved);
  }
}

TEST(AdamFused, Bf16CopiesOfAnOptimizerWithoutAFusedPassFollowToo) {
  NamedParams params = make_params(8);
  Sgd opt(params, 0.5f, {.momentum = 0.9f});
  const auto& copies = opt.bf16_copies();
  std::mt19937 rng(9);
  for (auto& [name, p] : params) set_grad(p, random_values(rng, p.numel()));
  opt.step();
  expect_copies_current(copies);
}

TEST(AdamFused, RefreshRoundsAParameterWrittenOutsideStep) {
  NamedParams params = make_params(10);
  Adam opt(params, 0.1f);
  const auto& copies = opt.bf16_copies();
  params[1].second.fill_(3.0f);
  EXPECT_NE(from_bf16(copies[1].second.data_as<bf16>()[0]), 3.0f);  // stale until refreshed
  opt.refresh_bf16_copies();
  expect_copies_current(copies);
}
