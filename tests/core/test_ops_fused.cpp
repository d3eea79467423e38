// Fused ops: forward values on literals, central-difference gradient checks, bad
// inputs, and independence from the thread count.
#include <gtest/gtest.h>

#include <cmath>

#include "common/expect.h"
#include "common/gradcheck.h"
#include "core/ops.h"

using namespace attend;
using test::expect_error;
using test::expect_near;
using test::on_one_and_two_threads;
using test::gradcheck;
using test::random_tensor;

// --- softmax, log_softmax -----------------------------------------------------------

TEST(Softmax, ForwardValues) {
  Tensor x = Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3});
  expect_near(softmax(x).to_vector(), {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f});
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  expect_near(softmax(Tensor::from_vector({1000, 1000, -1000}, {3})).to_vector(), {0.5f, 0.5f, 0});
}

TEST(Softmax, RowOfOnlyMinusInfinityGivesZeros) {
  const float inf = INFINITY;
  expect_near(softmax(Tensor::from_vector({-inf, -inf, 1, 1}, {2, 2})).to_vector(), {0, 0, 0.5f, 0.5f});
}

TEST(Softmax, Gradient) {
  Tensor x = random_tensor({3, 5}, -2, 2, 1);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {x}));
}

TEST(Softmax, GradientOfNonContiguousInput) {
  Tensor x = random_tensor({4, 3}, -2, 2, 2);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0].transpose(0, 1)); }, {x}));
}

TEST(Softmax, ZeroDimInputIsRejected) {
  expect_error([] { softmax(Tensor::scalar(1)); }, {"softmax", "f32[]"});
}

TEST(LogSoftmax, ForwardValues) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3});
  expect_near(log_softmax(x).to_vector(), {-2.40760596f, -1.40760596f, -0.40760596f});
}

TEST(LogSoftmax, LargeLogitsStayFinite) {
  expect_near(log_softmax(Tensor::from_vector({1000, 0}, {2})).to_vector(), {0, -1000});
}

TEST(LogSoftmax, Gradient) {
  Tensor x = random_tensor({2, 3, 4}, -3, 3, 3);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {x}));
}

// --- layer_norm ----------------------------------------------------------------------

TEST(LayerNorm, ForwardValues) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 5, 5, 5}, {2, 4});
  Tensor gamma = Tensor::from_vector({1, 2, 1, 1}, {4});
  Tensor beta = Tensor::from_vector({0, 0, 1, 0}, {4});
  // row 0: mean 2.5, var 1.25; row 1: constant, so (x - mean) = 0 and y = beta
  const float r = 1.0f / std::sqrt(1.25f + 1e-5f);
  expect_near(layer_norm(x, gamma, beta).to_vector(),
              {-1.5f * r, -0.5f * r * 2, 0.5f * r + 1, 1.5f * r, 0, 0, 1, 0});
}

TEST(LayerNorm, WithoutAffineParameters) {
  Tensor x = Tensor::from_vector({1, 3}, {1, 2});
  expect_near(layer_norm(x, Tensor(), Tensor(), 0).to_vector(), {-1, 1});
}

TEST(LayerNorm, GradientsOfXGammaAndBeta) {
  Tensor x = random_tensor({3, 6}, -2, 2, 4);
  Tensor gamma = random_tensor({6}, 0.5f, 1.5f, 5);
  Tensor beta = random_tensor({6}, -1, 1, 6);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); },
                        {x, gamma, beta}));
}

TEST(LayerNorm, GradientWithoutAffineParameters) {
  Tensor x = random_tensor({2, 2, 5}, -2, 2, 7);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor()); }, {x}));
}

TEST(LayerNorm, GradientWithOnlyBeta) {
  Tensor x = random_tensor({3, 4}, -2, 2, 18);
  Tensor beta = random_tensor({4}, -1, 1, 19);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), in[1]); }, {x, beta}));
}

TEST(LayerNorm, WrongGammaShapeIsRejected) {
  Tensor x = Tensor::zeros({2, 4});
  expect_error([&] { layer_norm(x, Tensor::ones({3}), Tensor::zeros({4})); }, {"layer_norm", "[4]", "f32[3]"});
}

TEST(LayerNorm, BackwardDoesNotDependOnThreadCount) {
  Tensor x = random_tensor({64, 1024}, -2, 2, 8);
  Tensor gamma = random_tensor({1024}, 0.5f, 1.5f, 9);
  Tensor beta = random_tensor({1024}, -1, 1, 10);
  Tensor w = random_tensor({64, 1024}, -1, 1, 11);
  auto run = [&] {
    for (Tensor* t : {&x, &gamma, &beta}) t->zero_grad(), t->set_requires_grad();
    layer_norm(x, gamma, beta).backward(w);
    std::vector<float> out = x.grad().to_vector(), dg = gamma.grad().to_vector(), db = beta.grad().to_vector();
    out.insert(out.end(), dg.begin(), dg.end());
    out.insert(out.end(), db.begin(), db.end());
    return out;
  };
  auto [one, two] = on_one_and_two_threads(run);
  EXPECT_EQ(one, two);
}

// --- dropout ---------------------------------------------------------------------------

TEST(Dropout, ZeroProbabilityReturnsTheInput) {
  Generator gen(1);
  Tensor x = Tensor::ones({4});
  Tensor y = dropout(x, 0.0f, gen);
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(gen.counter(), 0u);
}

TEST(Dropout, ProbabilityOutsideZeroOneIsRejected) {
  Generator gen(1);
  Tensor x = Tensor::ones({4});
  expect_error([&] { dropout(x, 1.0f, gen); }, {"dropout", "[0, 1)", "got 1"});
  expect_error([&] { dropout(x, -0.5f, gen); }, {"dropout", "got -0.5"});
}

TEST(Dropout, KeptElementsAreScaledAndTheRestZero) {
  Generator gen(3);
  Tensor y = dropout(Tensor::full({1000}, 2.0f), 0.2f, gen);
  for (float v : y.to_vector()) EXPECT_TRUE(v == 0.0f || std::fabs(v - 2.5f) < 1e-6f) << v;
}

TEST(Dropout, KeptFractionIsOneMinusP) {
  Generator gen(4);
  std::vector<float> y = dropout(Tensor::ones({100000}), 0.3f, gen).to_vector();
  const double kept = double(std::count_if(y.begin(), y.end(), [](float v) { return v != 0; })) / double(y.size());
  EXPECT_NEAR(kept, 0.7, 0.01);  // std of the fraction is 0.0014
}

TEST(Dropout, SameSeedGivesSameMaskAndEachCallANewOne) {
  Tensor x = Tensor::ones({256});
  Generator a(9), b(9);
  std::vector<float> a1 = dropout(x, 0.5f, a).to_vector();
  EXPECT_EQ(a1, dropout(x, 0.5f, b).to_vector());
  EXPECT_NE(a1, dropout(x, 0.5f, a).to_vector());  // the second call takes the next stream
  EXPECT_EQ(a.counter(), 2u);
}

TEST(Dropout, MaskDoesNotDependOnThreadCount) {
  Tensor x = Tensor::ones({1 << 17});
  auto [one, two] = on_one_and_two_threads([&] {
    Generator gen(5);
    return dropout(x, 0.1f, gen).to_vector();
  });
  EXPECT_EQ(one, two);
}

TEST(Dropout, GradientWithAFixedGeneratorState) {
  Tensor x = random_tensor({4, 5}, -2, 2, 12);
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        Generator gen(21);  // the same mask on every evaluation
        gen.set_state(21, 7);
        return dropout(in[0], 0.4f, gen);
      },
      {x}));
}

TEST(Dropout, GradientIsTheMaskScaled) {
  Generator gen(6);
  Tensor x = Tensor::ones({64}).set_requires_grad();
  Tensor y = dropout(x, 0.5f, gen);
  y.backward(Tensor::ones({64}));
  EXPECT_EQ(x.grad().to_vector(), y.to_vector());  // both are 2 where kept, 0 where dropped
}

// --- embedding -------------------------------------------------------------------------

TEST(Embedding, GathersRows) {
  Tensor w = Tensor::from_vector({0, 0, 1, 2, 3, 4}, {3, 2});
  Tensor y = embedding(Tensor::from_ids({2, 1, 0, 2}, {2, 2}), w);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{3, 4, 1, 2, 0, 0, 3, 4}));
  EXPECT_EQ(embedding(Tensor::from_ids64({1}, {1}), w).to_vector(), (std::vector<float>{1, 2}));
}

TEST(Embedding, WeightGradient) {
  Tensor w = random_tensor({4, 3}, -1, 1, 13);
  Tensor ids = Tensor::from_ids({3, 1, 3, 0, 3}, {5});
  EXPECT_TRUE(gradcheck([ids](const std::vector<Tensor>& in) { return embedding(ids, in[0]); }, {w}));
}

TEST(Embedding, PaddingRowGetsNoGradient) {
  Tensor w = Tensor::zeros({3, 2}).set_requires_grad();
  Tensor ids = Tensor::from_ids({1, 0, 1, 2, 0}, {5});
  embedding(ids, w, /*padding_idx=*/0).backward(Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {5, 2}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{0, 0, 1 + 5, 2 + 6, 7, 8}));
}

TEST(Embedding, IdOutOfRangeNamesIdAndVocabSize) {
  Tensor w = Tensor::zeros({3, 2});
  expect_error([&] { embedding(Tensor::from_ids({0, 3}, {2}), w); }, {"id 3", "vocab size 3"});
  expect_error([&] { embedding(Tensor::from_ids64({-1}, {1}), w); }, {"id -1", "vocab size 3"});
  expect_error([&] { embedding(Tensor::from_vector({0}, {1}), w); }, {"ids must be i32 or i64", "f32[1]"});
}

TEST(Embedding, BackwardDoesNotDependOnThreadCount) {
  Tensor w = random_tensor({50, 512}, -1, 1, 14);
  std::vector<int32_t> idv(200);
  for (size_t i = 0; i < idv.size(); ++i) idv[i] = int32_t((i * 7) % 50);
  Tensor ids = Tensor::from_ids(idv, {200});
  Tensor dy = random_tensor({200, 512}, -1, 1, 15);
  auto [one, two] = on_one_and_two_threads([&] {
    w.zero_grad();
    w.set_requires_grad();
    embedding(ids, w, 3).backward(dy);
    return w.grad().to_vector();
  });
  EXPECT_EQ(one, two);
}

// --- cross_entropy -----------------------------------------------------------------------

TEST(CrossEntropy, ForwardValues) {
  Tensor logits = Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3});
  Tensor target = Tensor::from_ids({2, 0}, {2});
  const float l0 = 0.40760596f, l1 = std::log(3.0f);
  CrossEntropyOptions none{.reduction = Reduction::none};
  expect_near(cross_entropy(logits, target, none).to_vector(), {l0, l1});
  EXPECT_NEAR(cross_entropy(logits, target).item(), (l0 + l1) / 2, 1e-6f);
  EXPECT_NEAR(cross_entropy(logits, target, {.reduction = Reduction::sum}).item(), l0 + l1, 1e-6f);
}

TEST(CrossEntropy, LabelSmoothingFollowsPyTorch) {
  Tensor logits = Tensor::from_vector({1, 2, 3}, {1, 3});
  // (1-e)*nll + e*mean_v(-logp_v) = 0.9*0.40760596 + 0.1*1.40760596
  EXPECT_NEAR(cross_entropy(logits, Tensor::from_ids64({2}, {1}), {.label_smoothing = 0.1f}).item(), 0.50760596f,
              1e-6f);
}

TEST(CrossEntropy, IgnoredTargetsAreLeftOutOfTheMean) {
  Tensor logits = Tensor::from_vector({1, 2, 3, 5, 1, 1}, {2, 3});
  Tensor target = Tensor::from_ids({2, 1}, {2});
  CrossEntropyOptions opt{.ignore_index = 1};
  EXPECT_NEAR(cross_entropy(logits, target, opt).item(), 0.40760596f, 1e-6f);
  opt.reduction = Reduction::none;
  expect_near(cross_entropy(logits, target, opt).to_vector(), {0.40760596f, 0});
}

TEST(CrossEntropy, MeanOverNoTargetIsNaNAsInPyTorch) {
  Tensor logits = Tensor::zeros({2, 3});
  EXPECT_TRUE(std::isnan(cross_entropy(logits, Tensor::from_ids({-100, -100}, {2})).item()));
}

TEST(CrossEntropy, GradientWithLabelSmoothingAndAnIgnoredTarget) {
  Tensor logits = random_tensor({4, 5}, -3, 3, 16);
  Tensor target = Tensor::from_ids({3, -100, 0, 4}, {4});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    CrossEntropyOptions opt{.label_smoothing = 0.1f, .reduction = r};
    EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, opt); }, {logits}))
        << "reduction " << int(r);
  }
}

TEST(CrossEntropy, GradientIsSoftmaxMinusSmoothedOneHot) {
  Tensor logits = Tensor::from_vector({0, 0, 0, 0}, {1, 4}).set_requires_grad();
  cross_entropy(logits, Tensor::from_ids({1}, {1}), {.label_smoothing = 0.2f}).backward();
  // softmax 0.25 each; q = 0.8*onehot + 0.05
  expect_near(logits.grad().to_vector(), {0.2f, -0.6f, 0.2f, 0.2f});
}

// Logits that only cross_entropy holds (the usual case in training) get their gradient
// written over them; held logits must stay intact, and a retained graph must run again.
TEST(CrossEntropy, GradientOverLogitsItAloneHoldsEqualsTheOrdinaryOne) {
  const Tensor target = Tensor::from_ids({3, -100, 0, 49, 7, 1}, {6});
  const CrossEntropyOptions opt{.label_smoothing = 0.1f};
  auto leaf = [] { return random_tensor({6, 50}, -3, 3, 18).set_requires_grad(); };

  Tensor a = leaf();
  cross_entropy(a * 2.0f, target, opt).backward();  // a * 2 is held by cross_entropy alone
  Tensor b = leaf();
  Tensor held = b * 2.0f;
  const std::vector<float> before = held.to_vector();
  cross_entropy(held, target, opt).backward();
  EXPECT_EQ(held.to_vector(), before);
  EXPECT_EQ(a.grad().to_vector(), b.grad().to_vector());

  Tensor c = leaf();
  Tensor loss = cross_entropy(c * 2.0f, target, opt);
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  const std::vector<float> once = a.grad().to_vector(), twice = c.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_EQ(twice[i], 2 * once[i]) << i;
}

TEST(CrossEntropy, TargetOutOfRangeIsNamed) {
  Tensor logits = Tensor::zeros({2, 3});
  expect_error([&] { cross_entropy(logits, Tensor::from_ids({0, 3}, {2})); }, {"target 3", "row 1", "3 classes"});
  expect_error([&] { cross_entropy(logits, Tensor::from_ids({-1, 0}, {2})); }, {"target -1", "row 0"});
  expect_error([&] { cross_entropy(logits, Tensor::from_ids({0}, {1})); }, {"target must be", "[2]", "i32[1]"});
}

TEST(CrossEntropy, ResultDoesNotDependOnThreadCount) {
  Tensor logits = random_tensor({64, 1000}, -4, 4, 17);
  std::vector<int32_t> tv(64);
  for (size_t i = 0; i < tv.size(); ++i) tv[i] = int32_t((i * 37) % 1000);
  Tensor target = Tensor::from_ids(tv, {64});
  auto [one, two] = on_one_and_two_threads([&] {
    logits.zero_grad();
    logits.set_requires_grad();
    Tensor loss = cross_entropy(logits, target, {.label_smoothing = 0.1f});
    loss.backward();
    std::vector<float> out = logits.grad().to_vector();
    out.push_back(loss.item());
    return out;
  });
  EXPECT_EQ(one, two);
}

TEST(Dropout, MaskIsUniformOfTheElementIndex) {
  Tensor x = Tensor::ones({1000});
  Generator gen(77);
  gen.set_state(77, 5);
  std::vector<float> y = dropout(x, 0.25f, gen).to_vector();
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_EQ(y[i] != 0.0f, dropout_uniform(77, 5, i) >= 0.25f) << "element " << i;
}
