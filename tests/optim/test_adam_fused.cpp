// Adam's one-pass step over the flat buffers: parameters become views of one buffer,
// the fused update gives the per-element formula's numbers, whatever the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>

#include "optim/adam.h"
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
