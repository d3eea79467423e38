// SGD, Adam and AdamW against hand-computed updates. Every test starts from
// p = [1, -2] with gradients g1 = [0.5, 0.25] then g2 = [-1, 2], lr = 0.1.
#include <gtest/gtest.h>

#include "optim/adam.h"
#include "optim/factory.h"
#include "optim/sgd.h"
#include "optim_test_util.h"

using namespace attend;
using namespace attend::test;

namespace {

const std::vector<float> g1 = {0.5f, 0.25f};
const std::vector<float> g2 = {-1.0f, 2.0f};

// Runs two steps of `opt` on its single parameter with g1 then g2; returns p after each.
std::pair<std::vector<float>, std::vector<float>> two_steps(Optimizer& opt) {
  const Tensor& p = opt.params()[0].second;
  set_grad(p, g1);
  opt.step();
  std::vector<float> p1 = p.to_vector();
  set_grad(p, g2);
  opt.step();
  return {p1, p.to_vector()};
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

TEST(Sgd, PlainStepIsMinusLrTimesGradient) {
  Sgd opt({{"w", param({1, -2})}}, 0.1f);
  auto [p1, p2] = two_steps(opt);
  expect_near(p1, {1 - 0.1f * 0.5f, -2 - 0.1f * 0.25f});  // [0.95, -2.025]
  expect_near(p2, {0.95f + 0.1f, -2.025f - 0.2f});       // [1.05, -2.225]
}

TEST(Sgd, WeightDecayAddsToTheGradient) {
  Sgd opt({{"w", param({1, -2})}}, 0.1f, {.weight_decay = 0.1f});
  auto [p1, p2] = two_steps(opt);
  // d1 = g1 + 0.1 p0 = [0.6, 0.05];  p1 = p0 - 0.1 d1 = [0.94, -2.005]
  expect_near(p1, {0.94f, -2.005f});
  // d2 = g2 + 0.1 p1 = [-0.906, 1.7995];  p2 = [0.94 + 0.0906, -2.005 - 0.17995]
  expect_near(p2, {1.0306f, -2.18495f});
}

TEST(Sgd, MomentumStartsFromTheFirstGradient) {
  Sgd opt({{"w", param({1, -2})}}, 0.1f, {.momentum = 0.9f});
  auto [p1, p2] = two_steps(opt);
  // buf1 = g1 (no decay on the first step);  p1 = [0.95, -2.025]
  expect_near(p1, {0.95f, -2.025f});
  // buf2 = 0.9 [0.5, 0.25] + [-1, 2] = [-0.55, 2.225];  p2 = [0.95 + 0.055, -2.025 - 0.2225]
  expect_near(p2, {1.005f, -2.2475f});
  expect_values(opt.state().tensors.at("momentum.w"), {-0.55f, 2.225f});
}

TEST(Sgd, DampeningScalesNewGradientsAfterTheFirst) {
  Sgd opt({{"w", param({1, -2})}}, 0.1f, {.momentum = 0.9f, .dampening = 0.5f});
  auto [p1, p2] = two_steps(opt);
  expect_near(p1, {0.95f, -2.025f});  // buf1 = g1, undampened
  // buf2 = 0.9 [0.5, 0.25] + 0.5 [-1, 2] = [-0.05, 1.225];  p2 = [0.95 + 0.005, -2.025 - 0.1225]
  expect_near(p2, {0.955f, -2.1475f});
}

TEST(Sgd, NesterovLooksAheadAlongTheMomentum) {
  Sgd opt({{"w", param({1, -2})}}, 0.1f, {.momentum = 0.9f, .nesterov = true});
  auto [p1, p2] = two_steps(opt);
  // buf1 = [0.5, 0.25];  d1 = g1 + 0.9 buf1 = [0.95, 0.475];  p1 = [0.905, -2.0475]
  expect_near(p1, {0.905f, -2.0475f});
  // buf2 = [-0.55, 2.225];  d2 = g2 + 0.9 buf2 = [-1.495, 4.0025];  p2 = [0.905 + 0.1495, -2.0475 - 0.40025]
  expect_near(p2, {1.0545f, -2.44775f});
}

TEST(Sgd, LearningRateCanChangeBetweenSteps) {
  Sgd opt({{"w", param({1, -2})}}, 0.1f);
  const Tensor& p = opt.params()[0].second;
  set_grad(p, g1);
  opt.step();  // [0.95, -2.025]
  opt.set_lr(0.2f);
  opt.step();  // [0.95 - 0.1, -2.025 - 0.05]
  expect_values(p, {0.85f, -2.075f});
  EXPECT_EQ(opt.step_count(), 2);
}

TEST(Adam, TwoStepsWithBiasCorrection) {
  Adam opt({{"w", param({1, -2})}}, 0.1f);  // beta1 0.9, beta2 0.999, eps 1e-8
  auto [p1, p2] = two_steps(opt);
  // t=1: m = 0.1 g1, v = 0.001 g1^2; m/(1-0.9) = g1, v/(1-0.999) = g1^2, so the step is
  //      lr * g1/|g1| = [0.1, 0.1] (less eps):  p1 = [0.9, -2.1]
  expect_near(p1, {0.9f, -2.1f});
  // t=2: m = 0.9 [0.05, 0.025] + 0.1 [-1, 2]        = [-0.055, 0.2225]
  //      v = 0.999 [2.5e-4, 6.25e-5] + 0.001 [1, 4] = [1.24975e-3, 4.0624375e-3]
  //      m^ = m / (1 - 0.81) = [-0.2894737, 1.1710526];  v^ = v / (1 - 0.998001) = [0.6251876, 2.0322349]
  //      p2 = p1 - 0.1 m^ / (sqrt(v^) + 1e-8) = [0.9 + 0.0366104, -2.1 - 0.0821466]
  expect_near(p2, {0.93661035f, -2.18214657f});
  expect_values(opt.state().tensors.at("exp_avg.w"), {-0.055f, 0.2225f});
  expect_values(opt.state().tensors.at("exp_avg_sq.w"), {1.24975e-3f, 4.0624375e-3f}, 1e-9f);
}

TEST(Adam, WeightDecayIsAddedToTheGradient) {
  Adam opt({{"w", param({1, -2})}}, 0.1f, {.weight_decay = 0.1f});
  auto [p1, p2] = two_steps(opt);
  // t=1: d = g1 + 0.1 p0 = [0.6, 0.05]; the first step is lr * sign(d):  p1 = [0.9, -2.1]
  expect_near(p1, {0.9f, -2.1f});
  // t=2: d = g2 + 0.1 p1 = [-0.91, 1.79];  m = 0.9 [0.06, 0.005] + 0.1 d = [-0.037, 0.1835]
  //      v = 0.999 [3.6e-4, 2.5e-6] + 0.001 [0.8281, 3.2041] = [1.18774e-3, 3.2065975e-3]
  //      p2 = p1 - 0.1 (m/0.19) / sqrt(v/0.001999) = [0.9 + 0.0252635, -2.1 - 0.0762547]
  expect_near(p2, {0.92526352f, -2.17625468f});
}

TEST(AdamW, WeightDecayIsDecoupledFromTheMoments) {
  AdamW opt({{"w", param({1, -2})}}, 0.1f, {.weight_decay = 0.1f});
  auto [p1, p2] = two_steps(opt);
  // t=1: p *= 1 - 0.1*0.1 -> [0.99, -1.98]; then the plain Adam step [-0.1, +0.1]:  p1 = [0.89, -2.08]
  expect_near(p1, {0.89f, -2.08f});
  // t=2: p *= 0.99 -> [0.8811, -2.0592]; then Adam's own t=2 step [+0.0366104, -0.0821466]
  expect_near(p2, {0.91771035f, -2.14134657f});
  // The moments see the raw gradients only (same as Adam without decay).
  expect_values(opt.state().tensors.at("exp_avg.w"), {-0.055f, 0.2225f});
}

TEST(AdamW, DiffersFromAdamOnAZeroGradient) {
  // With g = 0, AdamW only shrinks p by (1 - lr*wd); Adam turns the L2 term into a
  // normalised step of lr against sign(p).
  AdamW adamw({{"w", param({1, -2})}}, 0.1f, {.weight_decay = 0.1f});
  Adam adam({{"w", param({1, -2})}}, 0.1f, {.weight_decay = 0.1f});
  set_grad(adamw.params()[0].second, {0, 0});
  set_grad(adam.params()[0].second, {0, 0});
  adamw.step();
  adam.step();
  expect_values(adamw.params()[0].second, {0.99f, -1.98f});
  expect_values(adam.params()[0].second, {0.9f, -1.9f});
}

TEST(Adam, BiasCorrectionUsesEachParameterOwnStepCount) {
  // A parameter without a gradient is skipped and its step count does not advance,
  // so its first real update is a t=1 update (as in PyTorch).
  Tensor a = param({1}), b = param({1});
  Adam opt({{"a", a}, {"b", b}}, 0.1f);
  set_grad(a, {1});
  opt.step();
  expect_values(b, {1});  // untouched
  EXPECT_EQ(opt.state().scalars.at("step.b"), 0);
  EXPECT_EQ(opt.state().scalars.at("step.a"), 1);
  set_grad(b, {4});
  opt.step();
  expect_values(b, {0.9f});  // t=1 step: lr * sign(g)
  EXPECT_EQ(opt.state().scalars.at("step"), 2);
}

TEST(Optimizer, ZeroGradDropsGradients) {
  Tensor w = param({1, 2});
  Sgd opt({{"w", w}}, 0.1f);
  set_grad(w, {1, 1});
  opt.zero_grad();
  EXPECT_FALSE(w.grad().defined());
  opt.step();  // nothing to do
  expect_values(w, {1, 2});
}

TEST(Optimizer, StateIsAllocatedOnceAndNamedByParameter) {
  Tensor w = param({1, -2});
  Adam opt({{"w", w}}, 0.1f);
  OptimizerState before = opt.state();
  EXPECT_EQ(before.tensors.size(), 2u);
  ASSERT_TRUE(before.tensors.count("exp_avg.w") && before.tensors.count("exp_avg_sq.w"));
  set_grad(w, g1);
  opt.step();
  OptimizerState after = opt.state();
  EXPECT_EQ(after.tensors.at("exp_avg.w").raw_data(), before.tensors.at("exp_avg.w").raw_data());
  EXPECT_EQ(after.tensors.at("exp_avg_sq.w").raw_data(), before.tensors.at("exp_avg_sq.w").raw_data());
  OptimizerState fresh;  // a saved state with its own tensors is copied in, not adopted
  for (const auto& [key, t] : after.tensors) fresh.tensors[key] = Tensor::from_vector(t.to_vector(), t.shape());
  fresh.scalars = after.scalars;
  opt.load_state(fresh);
  EXPECT_EQ(opt.state().tensors.at("exp_avg.w").raw_data(), before.tensors.at("exp_avg.w").raw_data());
  Sgd plain({{"w", w}}, 0.1f);
  EXPECT_TRUE(plain.state().tensors.empty());  // no momentum, no buffer
}

// Steps `a` once, loads its state into a fresh optimizer over copies of its
// parameters, then steps both twice more with the same gradients: they must agree exactly.
template <typename Opt, typename Options>
void expect_resume_identical(const Options& options) {
  NamedParams pa = {{"enc.w", param({1, -2, 3})}, {"dec.b", param({0.5f})}};
  Opt a(pa, 0.1f, options);
  set_grad(pa[0].second, {0.5f, 0.25f, -1});
  set_grad(pa[1].second, {2});
  a.step();
  NamedParams pb = copy_params(pa);
  Opt b(pb, 0.1f, options);
  b.load_state(a.state());
  EXPECT_EQ(b.step_count(), 1);
  for (int s = 0; s < 2; ++s) {
    std::vector<float> g = {float(s) - 1, 2, 0.5f};
    set_grad(pa[0].second, g);
    set_grad(pb[0].second, g);
    set_grad(pa[1].second, {-1});
    set_grad(pb[1].second, {-1});
    a.step();
    b.step();
  }
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].second.to_vector(), pb[i].second.to_vector()) << pa[i].first;
}

TEST(Optimizer, AdamStateRoundTripContinuesIdentically) { expect_resume_identical<Adam>(AdamOptions{.weight_decay = 0.01f}); }
TEST(Optimizer, AdamWStateRoundTripContinuesIdentically) { expect_resume_identical<AdamW>(AdamOptions{.weight_decay = 0.01f}); }
TEST(Optimizer, SgdMomentumStateRoundTripContinuesIdentically) {
  expect_resume_identical<Sgd>(SgdOptions{.momentum = 0.9f, .nesterov = true});
}

TEST(Optimizer, LoadStateNamesAMissingTensor) {
  NamedParams params = {{"enc.w", param({1, 2})}};
  Adam opt(params, 0.1f);
  OptimizerState s = opt.state();
  s.tensors.erase("exp_avg_sq.enc.w");
  EXPECT_CONTAINS(error_of([&] { opt.load_state(s); }), "no tensor 'exp_avg_sq.enc.w'");
}

TEST(Optimizer, LoadStateNamesAMisShapedTensor) {
  Adam opt({{"enc.w", param({1, 2})}}, 0.1f);
  OptimizerState s = opt.state();
  s.tensors["exp_avg.enc.w"] = Tensor::zeros({3});
  std::string msg = error_of([&] { opt.load_state(s); });
  EXPECT_CONTAINS(msg, "'exp_avg.enc.w' is f32[3], expected f32[2]");
}

TEST(Optimizer, LoadStateRejectsStateOfAnotherOptimizer) {
  Sgd sgd({{"w", param({1})}}, 0.1f, {.momentum = 0.9f});
  Adam adam({{"w", param({1})}}, 0.1f);
  EXPECT_CONTAINS(error_of([&] { adam.load_state(sgd.state()); }), "no tensor 'exp_avg.w'");
  EXPECT_CONTAINS(error_of([&] { sgd.load_state(adam.state()); }), "no tensor 'momentum.w'");
  Sgd plain({{"w", param({1})}}, 0.1f);
  EXPECT_CONTAINS(error_of([&] { plain.load_state(adam.state()); }), "tensor 'exp_avg.w' that matches no buffer");
}

TEST(Optimizer, LoadStateNamesAMissingStepCount) {
  Sgd opt({{"w", param({1})}}, 0.1f);
  OptimizerState s = opt.state();
  s.scalars.erase("step.w");
  EXPECT_CONTAINS(error_of([&] { opt.load_state(s); }), "no scalar 'step.w'");
}

TEST(Optimizer, RejectsBadParameters) {
  EXPECT_CONTAINS(error_of([] { Sgd({}, 0.1f); }), "empty parameter list");
  Tensor w = param({1});
  EXPECT_CONTAINS(error_of([&] { Sgd({{"w", w}, {"w", w}}, 0.1f); }), "'w' appears twice");
  Tensor t = Tensor::zeros({2, 3}).transpose(0, 1);
  EXPECT_CONTAINS(error_of([&] { Sgd({{"t", t}}, 0.1f); }), "parameter 't' (f32[3, 2]) is not contiguous");
  EXPECT_CONTAINS(error_of([&] { Sgd({{"w", w}}, -1.0f); }), "learning rate must be finite and >= 0, got -1");
}

TEST(Optimizer, RejectsBadOptions) {
  Tensor w = param({1});
  EXPECT_CONTAINS(error_of([&] { Sgd({{"w", w}}, 0.1f, {.nesterov = true}); }), "nesterov needs momentum > 0 and dampening 0, got momentum 0");
  EXPECT_CONTAINS(error_of([&] { Adam({{"w", w}}, 0.1f, {.beta2 = 1.0f}); }), "beta2 must be in [0, 1), got 1");
}

TEST(Optimizer, StepNamesAGradientOfTheWrongShape) {
  Tensor w = param({1, 2});
  Sgd opt({{"enc.w", w}}, 0.1f);
  w.impl()->grad = Tensor::zeros({3}).impl_ptr();
  EXPECT_CONTAINS(error_of([&] { opt.step(); }), "gradient of 'enc.w' is f32[3]");
}

TEST(Optimizer, FactoryBuildsByNameAndListsValidNames) {
  auto opt = make_optimizer({{"w", param({1, -2})}}, {.name = "adamw", .lr = 0.1f, .weight_decay = 0.1f});
  EXPECT_EQ(opt->name(), "adamw");
  set_grad(opt->params()[0].second, g1);
  opt->step();
  expect_values(opt->params()[0].second, {0.89f, -2.08f});  // AdamW's t=1 step above
  EXPECT_CONTAINS(error_of([] { make_optimizer({{"w", param({1})}}, {.name = "adagrad"}); }), "unknown optimizer 'adagrad'; valid optimizers: sgd, adam, adamw");
}
