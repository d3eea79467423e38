// Reductions: sum/mean over all or some dims (every block pattern of kept and
// reduced dims), max/argmax over one dim, their gradients and their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/gradcheck.h"
#include "core/ops.h"

using namespace attend;
using test::gradcheck;
using test::random_tensor;
using Inputs = std::vector<Tensor>;

namespace {

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

template <typename F> std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// x[i,j,k] = 100i + 10j + k, shape (2,3,4)
Tensor iota3() {
  std::vector<float> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) v.push_back(float(100 * i + 10 * j + k));
  return Tensor::from_vector(v, {2, 3, 4});
}

}  // namespace

TEST(Sum, AllElementsToAScalar) {
  Tensor y = sum(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(y.shape(), (Shape{}));
  EXPECT_EQ(y.item(), 21);
}

TEST(Sum, LastDim) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_near(sum(x, {1}).to_vector(), {6, 15});
  expect_near(sum(x, {-1}).to_vector(), {6, 15});
}

TEST(Sum, FirstDimWithKeepdim) {
  Tensor y = sum(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}), {0}, /*keepdim=*/true);
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  expect_near(y.to_vector(), {5, 7, 9});
}

TEST(Sum, MiddleDim) {
  Tensor y = sum(iota3(), {1});
  EXPECT_EQ(y.shape(), (Shape{2, 4}));
  expect_near(y.to_vector(), {30, 33, 36, 39, 330, 333, 336, 339});
}

TEST(Sum, OuterAndInnerDimsTogether) {
  Tensor y = sum(iota3(), {0, 2}, /*keepdim=*/true);
  EXPECT_EQ(y.shape(), (Shape{1, 3, 1}));
  expect_near(y.to_vector(), {412, 492, 572});  // sum_i,k (100i + 10j + k) = 400 + 80j + 12
}

TEST(Sum, TransposedInput) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);
  expect_near(sum(x, {1}).to_vector(), {5, 7, 9});
}

TEST(Sum, NoDimsReducesNothing) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3});
  expect_near(sum(x, {}).to_vector(), {1, 2, 3});
}

TEST(Mean, AllAndOverDims) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_FLOAT_EQ(mean(x).item(), 3.5f);
  expect_near(mean(x, {1}).to_vector(), {2, 5});
  Tensor y = mean(iota3(), {0, 1}, true);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4}));
  expect_near(y.to_vector(), {60, 61, 62, 63});
}

TEST(Sum, LargeInputIsAccurate) {
  Tensor x = Tensor::full({1000, 1000}, 0.1f);
  EXPECT_NEAR(sum(x).item(), 100000.0f, 1.0f);  // a naive float loop drifts by ~1000
  EXPECT_NEAR(mean(x).item(), 0.1f, 1e-6f);
}

TEST(Max, ValuesAndFirstArgmax) {
  Tensor x = Tensor::from_vector({1, 5, 5, 2, 7, 0, 7, 3}, {2, 4});
  expect_near(max(x, 1).to_vector(), {5, 7});
  EXPECT_EQ(argmax(x, 1).to_ids(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmax(x, 1).dtype(), DType::i64);
  EXPECT_EQ(argmax(x, 0).to_ids(), (std::vector<int64_t>{1, 0, 1, 1}));
}

TEST(Max, KeepdimAndNegativeDim) {
  Tensor y = max(iota3(), -2, /*keepdim=*/true);
  EXPECT_EQ(y.shape(), (Shape{2, 1, 4}));
  expect_near(y.to_vector(), {20, 21, 22, 23, 120, 121, 122, 123});
  EXPECT_EQ(argmax(iota3(), 0, true).shape(), (Shape{1, 3, 4}));
}

TEST(Max, GradientGoesToTheFirstArgmaxOnly) {
  Tensor x = Tensor::from_vector({3, 1, 3, 2}, {4}).set_requires_grad();
  max(x, 0).backward();
  expect_near(x.grad().to_vector(), {1, 0, 0, 0});
}

TEST(Max, ArgmaxIsNotDifferentiable) {
  Tensor x = Tensor::from_vector({3, 1}, {2}).set_requires_grad();
  EXPECT_FALSE(argmax(x, 0).requires_grad());
}

// --- gradients -------------------------------------------------------------------------

TEST(SumGrad, AllPatterns) {
  Tensor x = random_tensor({2, 3, 4}, -1, 1, 1);
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return sum(in[0]); }, {x}));
  for (std::vector<int64_t> dims : std::vector<std::vector<int64_t>>{{2}, {0}, {1}, {0, 2}, {0, 1}, {-1, -2}}) {
    EXPECT_TRUE(gradcheck([dims](const Inputs& in) { return sum(in[0], dims); }, {x})) << fmt::format("{}", dims);
    EXPECT_TRUE(gradcheck([dims](const Inputs& in) { return sum(in[0], dims, true); }, {x}));
  }
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return sum(in[0].transpose(0, 2), {1}); }, {x}));
}

TEST(MeanGrad, AllAndOverDims) {
  Tensor x = random_tensor({2, 3, 4}, -1, 1, 2);
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mean(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mean(in[0], {1}, true); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mean(in[0].transpose(0, 1), {0, 2}); }, {x}));
}

TEST(MaxGrad, DistinctValues) {
  // distinct values more than 2*eps apart, so the argmax does not move under perturbation
  Tensor x = Tensor::from_vector({0.3f, -1.2f, 0.9f, 2.0f, 1.1f, -0.4f, 1.6f, 0.1f, -2.0f, 0.6f, 1.3f, -0.8f},
                                 {3, 4});
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return max(in[0], 1); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return max(in[0], 0, true); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return max(in[0].transpose(0, 1), -1); }, {x}));
}

// --- bad input -------------------------------------------------------------------------

TEST(ReduceErrors, BadDimNamesTheDimAndTheShape) {
  Tensor x = Tensor::zeros({2, 3});
  for (const std::string& msg : {error_of([&] { sum(x, {2}); }), error_of([&] { mean(x, {-3}); }),
                                 error_of([&] { max(x, 5); }), error_of([&] { argmax(x, 2); })}) {
    EXPECT_NE(msg.find("dim"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  }
  EXPECT_NE(error_of([&] { sum(x, {2}); }).find("2"), std::string::npos);
  EXPECT_NE(error_of([&] { mean(x, {-3}); }).find("-3"), std::string::npos);
}

TEST(ReduceErrors, RepeatedDim) {
  const std::string msg = error_of([] { sum(Tensor::zeros({2, 3}), {1, -1}); });
  EXPECT_NE(msg.find("repeated"), std::string::npos) << msg;
}

TEST(ReduceErrors, NonFloatInput) {
  const std::string msg = error_of([] { sum(Tensor::from_ids({1, 2}, {2})); });
  EXPECT_NE(msg.find("i32"), std::string::npos) << msg;
}

TEST(Max, NaNCountsAsLargest) {
  const float nan = std::nanf("");
  Tensor x = Tensor::from_vector({1, nan, 3, nan, 2, 9, 0, 0}, {2, 4});
  EXPECT_EQ(argmax(x, 1).to_ids(), (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(std::isnan(max(x, 1).to_vector()[0]));
  EXPECT_EQ(argmax(x, 0).to_ids(), (std::vector<int64_t>{1, 0, 0, 0}));  // columns: 1|2, nan|9, 3|0, nan|0
  EXPECT_EQ(argmax(x.transpose(0, 1), 1).to_ids(), (std::vector<int64_t>{1, 0, 0, 0}));
}

TEST(Sum, EmptyInput) {
  EXPECT_EQ(sum(Tensor::zeros({0, 3})).item(), 0.0f);
  EXPECT_EQ(sum(Tensor::zeros({0, 3}), {0}).to_vector(), (std::vector<float>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(Tensor::zeros({0})).item()));
}
