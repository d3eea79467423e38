// Linear, Embedding, positions, LayerNorm, Dropout: forward values on tiny literals.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "layers/dropout.h"
#include "layers/embedding.h"
#include "layers/layer_norm.h"
#include "layers/linear.h"
#include "common/error_of.h"

using namespace attend;

namespace {

void set(const Tensor& p, const std::vector<float>& values) {
  copy_strided(p, Tensor::from_vector(values, p.shape()));
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

TEST(Linear, ComputesXWTransposedPlusBias) {
  Generator gen(1);
  Linear lin({.in = 3, .out = 2, .gen = &gen});
  set(lin.weight(), {1, 2, 3, 4, 5, 6});
  set(lin.bias(), {0.5f, -1});
  Tensor y = lin.forward(Tensor::from_vector({1, 0, -1, 2, 2, 2}, {2, 3}));
  EXPECT_EQ(y.shape(), Shape({2, 2}));
  expect_near(y.to_vector(), {-1.5f, -3, 12.5f, 29});
}

TEST(Linear, ForwardReluIsReluOfForward) {
  Generator gen(1);
  Linear lin({.in = 3, .out = 2, .gen = &gen});
  set(lin.weight(), {1, 2, 3, 4, 5, 6});
  set(lin.bias(), {0.5f, -1});
  Tensor y = lin.forward_relu(Tensor::from_vector({1, 0, -1, 2, 2, 2}, {2, 3}));
  expect_near(y.to_vector(), {0, 0, 12.5f, 29});  // forward: -1.5 -3 12.5 29
}

TEST(Linear, XavierUniformWeightAndZeroBias) {
  Generator gen(1);
  Linear lin({.in = 30, .out = 20, .gen = &gen});
  const float bound = std::sqrt(6.0f / 50.0f);
  float lo = 1, hi = -1;
  for (float w : lin.weight().to_vector()) {
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.8f * bound);  // spans the range
  EXPECT_GT(hi, 0.8f * bound);
  for (float b : lin.bias().to_vector()) EXPECT_EQ(b, 0.0f);
}

TEST(Linear, SameSeedSameWeights) {
  Generator g1(5), g2(5);
  Linear a({.in = 4, .out = 4, .gen = &g1}), b({.in = 4, .out = 4, .gen = &g2});
  EXPECT_EQ(a.weight().to_vector(), b.weight().to_vector());
}

TEST(Linear, WithoutBiasHasOnlyWeight) {
  Generator gen(1);
  Linear lin({.in = 3, .out = 2, .bias = false, .gen = &gen});
  EXPECT_EQ(lin.named_parameters().size(), 1u);
  EXPECT_FALSE(lin.bias().defined());
}

TEST(Linear, WrongInputSizeNamesBothSizes) {
  Generator gen(1);
  Linear lin({.in = 3, .out = 2, .gen = &gen});
  std::string msg = error_of([&] { lin.forward(Tensor::zeros({2, 4})); });
  EXPECT_NE(msg.find("f32[2, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("input size 3"), std::string::npos) << msg;
}

TEST(Embedding, LooksUpRowsScaledBySqrtDim) {
  Generator gen(1);
  Embedding emb({.vocab = 3, .dim = 4, .padding_idx = 0, .gen = &gen});
  set(emb.weight(), {0, 0, 0, 0, 1, 2, 3, 4, -1, 0, 1, 0});
  Tensor y = emb.forward(Tensor::from_ids({2, 0, 1}, {1, 3}));
  EXPECT_EQ(y.shape(), Shape({1, 3, 4}));
  expect_near(y.to_vector(), {-2, 0, 2, 0, 0, 0, 0, 0, 2, 4, 6, 8});
}

TEST(Embedding, PaddingRowStartsZeroAndGetsNoGradient) {
  Generator gen(1);
  Embedding emb({.vocab = 5, .dim = 4, .padding_idx = 0, .gen = &gen});
  std::vector<float> w = emb.weight().to_vector();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(w[size_t(i)], 0.0f);
  sum(emb.forward(Tensor::from_ids64({0, 2, 0, 2}, {2, 2}))).backward();
  std::vector<float> g = emb.weight().grad().to_vector();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(g[size_t(i)], 0.0f);         // pad row
  for (int i = 8; i < 12; ++i) EXPECT_FLOAT_EQ(g[size_t(i)], 4.0f);  // id 2, twice, * sqrt(4)
}

TEST(Embedding, IdAtOrPastVocabIsAnErrorNamingIdAndVocab) {
  Generator gen(1);
  Embedding emb({.vocab = 20, .dim = 4, .gen = &gen, .label = "source token"});
  std::string msg = error_of([&] { emb.forward(Tensor::from_ids({3, 25}, {1, 2})); });
  EXPECT_NE(msg.find("source token id 25"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vocab size 20"), std::string::npos) << msg;
  EXPECT_THROW(emb.forward(Tensor::from_ids64({20}, {1, 1})), Error);
}

TEST(Embedding, NegativeIdIsAnError) {
  Generator gen(1);
  Embedding emb({.vocab = 20, .dim = 4, .gen = &gen});
  std::string msg = error_of([&] { emb.forward(Tensor::from_ids({-1}, {1, 1})); });
  EXPECT_NE(msg.find("id -1"), std::string::npos) << msg;
}

TEST(SinusoidalPositions, SinOnEvenCosOnOddFromPositionZero) {
  SinusoidalPositions pos({.max_positions = 8, .dim = 4});
  Tensor p = pos.forward(0, 2);
  EXPECT_EQ(p.shape(), Shape({2, 4}));
  // dims 0,1 use 10000^(0/4) = 1; dims 2,3 use 10000^(2/4) = 100
  expect_near(p.to_vector(), {0, 1, 0, 1, std::sin(1.0f), std::cos(1.0f), std::sin(0.01f), std::cos(0.01f)});
}

TEST(SinusoidalPositions, OffsetAndPastTheTableAgreeWithTheTable) {
  SinusoidalPositions pos({.max_positions = 4, .dim = 6});
  std::vector<float> all = sinusoidal_table(0, 7, 6).to_vector();
  expect_near(pos.forward(2, 2).to_vector(), std::vector<float>(all.begin() + 12, all.begin() + 24));
  expect_near(pos.forward(3, 4).to_vector(), std::vector<float>(all.begin() + 18, all.end()));
  EXPECT_TRUE(pos.named_parameters().empty());
}

TEST(LearnedPositions, ReturnsRowsOfItsWeight) {
  Generator gen(1);
  LearnedPositions pos({.max_positions = 3, .dim = 2, .gen = &gen});
  set(pos.weight(), {1, 2, 3, 4, 5, 6});
  expect_near(pos.forward(1, 2).to_vector(), {3, 4, 5, 6});
}

TEST(LearnedPositions, PastMaxPositionsIsAnError) {
  Generator gen(1);
  LearnedPositions pos({.max_positions = 4, .dim = 2, .gen = &gen});
  std::string msg = error_of([&] { pos.forward(2, 3); });
  EXPECT_NE(msg.find("needs 5 positions"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_positions 4"), std::string::npos) << msg;
}

TEST(LayerNorm, NormalisesTheLastAxisThenScalesAndShifts) {
  LayerNorm norm({.dim = 4});
  set(norm.weight(), {1, 1, 2, 2});
  set(norm.bias(), {0, 0, 0, 1});
  Tensor y = norm.forward(Tensor::from_vector({1, 2, 3, 4}, {1, 4}));
  const float s = 1.0f / std::sqrt(1.25f + 1e-5f);
  expect_near(y.to_vector(), {-1.5f * s, -0.5f * s, 2 * 0.5f * s, 2 * 1.5f * s + 1}, 1e-5f);
}

TEST(Dropout, EvalModeIsIdentity) {
  Generator gen(1);
  Dropout drop({.p = 0.5f, .gen = &gen});
  drop.eval();
  Tensor x = Tensor::ones({100});
  EXPECT_EQ(drop.forward(x).to_vector(), x.to_vector());
}

TEST(Dropout, TrainingZeroesAboutPAndScalesTheRest) {
  Generator gen(1);
  Dropout drop({.p = 0.25f, .gen = &gen});
  std::vector<float> y = drop.forward(Tensor::ones({4000})).to_vector();
  int zeros = 0;
  for (float v : y) {
    if (v == 0.0f) ++zeros;
    else EXPECT_FLOAT_EQ(v, 1.0f / 0.75f);
  }
  EXPECT_NEAR(zeros / 4000.0, 0.25, 0.03);
}

TEST(Dropout, PWithoutGeneratorIsAnError) {
  EXPECT_THROW(Dropout({.p = 0.1f}), Error);
  EXPECT_THROW(Dropout({.p = 1.0f}), Error);
}

TEST(Dropout, ForwardAddInTrainingIsXPlusForwardWithTheSameMask) {
  Generator a(3), b(3);
  Dropout fused({.p = 0.25f, .gen = &a}), plain({.p = 0.25f, .gen = &b});
  Tensor y = Tensor::full({300}, 4.0f);
  // x = 0: the sums are exact, so equal masks give equal results bit for bit
  EXPECT_EQ(fused.forward_add(Tensor::zeros({300}), y).to_vector(), plain.forward(y).to_vector());
  EXPECT_EQ(a.counter(), b.counter());
}

TEST(Dropout, ForwardAddInEvalModeIsThePlainSum) {
  Generator gen(1);
  Dropout drop({.p = 0.5f, .gen = &gen});
  drop.eval();
  EXPECT_EQ(drop.forward_add(Tensor::from_vector({1, 2}, {2}), Tensor::from_vector({3, 5}, {2})).to_vector(),
            (std::vector<float>{4, 7}));
  EXPECT_EQ(gen.counter(), 0u);
  EXPECT_EQ(drop.active_p(), 0.0f);
  drop.train();
  EXPECT_EQ(drop.active_p(), 0.5f);
}
