// Shape ops that copy (concat, index_select, to_dtype) and split (views).
#include <gtest/gtest.h>

#include <string>

#include "common/gradcheck.h"
#include "core/ops.h"

using namespace attend;
using test::gradcheck;
using test::random_tensor;
using Inputs = std::vector<Tensor>;

namespace {

template <typename F> std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Concat, AlongLastAndFirstDim) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector({5, 6}, {2, 1});
  Tensor y = concat({a, b}, -1);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  Tensor z = concat({a, Tensor::from_vector({7, 8}, {1, 2})}, 0);
  EXPECT_EQ(z.to_vector(), (std::vector<float>{1, 2, 3, 4, 7, 8}));
}

TEST(Concat, NonContiguousInputsAndIntegerIds) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).transpose(0, 1);  // [[1,3],[2,4]]
  EXPECT_EQ(concat({a, a}, 1).to_vector(), (std::vector<float>{1, 3, 1, 3, 2, 4, 2, 4}));
  Tensor ids = concat({Tensor::from_ids({1, 2}, {1, 2}), Tensor::from_ids({3, 4}, {1, 2})}, 0);
  EXPECT_EQ(ids.dtype(), DType::i32);
  EXPECT_EQ(ids.to_ids(), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(Split, ViewsOfTheRequestedSizes) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  std::vector<Tensor> parts = split(x, {1, 2}, 1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(parts[0].to_vector(), (std::vector<float>{1, 4}));
  EXPECT_EQ(parts[1].to_vector(), (std::vector<float>{2, 3, 5, 6}));
  EXPECT_TRUE(parts[1].shares_storage(x));
}

TEST(IndexSelect, RowsWithRepeatsAndColumns) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor rows = index_select(x, 0, Tensor::from_ids({2, 0, 2}, {3}));
  EXPECT_EQ(rows.shape(), (Shape{3, 2}));
  EXPECT_EQ(rows.to_vector(), (std::vector<float>{5, 6, 1, 2, 5, 6}));
  Tensor cols = index_select(x, -1, Tensor::from_ids64({1}, {1}));
  EXPECT_EQ(cols.shape(), (Shape{3, 1}));
  EXPECT_EQ(cols.to_vector(), (std::vector<float>{2, 4, 6}));
}

TEST(IndexSelect, GradientScatterAddsRepeatedIndices) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}).set_requires_grad();
  Tensor y = index_select(x, 0, Tensor::from_ids({2, 0, 2}, {3}));
  y.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 4, 0, 0, 6, 8}));
}

TEST(ToDtype, RoundTripsBetweenTypes) {
  Tensor x = Tensor::from_vector({1.5f, -2.7f, 3.0f}, {3});
  EXPECT_EQ(to_dtype(x, DType::i32).to_ids(), (std::vector<int64_t>{1, -2, 3}));  // truncates toward zero
  EXPECT_EQ(to_dtype(x, DType::i64).dtype(), DType::i64);
  EXPECT_EQ(to_dtype(to_dtype(x, DType::bf16), DType::f32).to_vector(), (std::vector<float>{1.5f, -2.703125f, 3.0f}));
  Tensor ids = Tensor::from_ids64({7, -1}, {2});
  EXPECT_EQ(to_dtype(ids, DType::f32).to_vector(), (std::vector<float>{7, -1}));
  EXPECT_EQ(to_dtype(ids, DType::i32).to_ids(), (std::vector<int64_t>{7, -1}));
  EXPECT_EQ(to_dtype(to_dtype(ids, DType::bf16), DType::i64).to_ids(), (std::vector<int64_t>{7, -1}));
}

TEST(ToDtype, NonContiguousInputAndNoGradient) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).set_requires_grad();
  Tensor y = to_dtype(x.transpose(0, 1), DType::i64);
  EXPECT_EQ(y.to_ids(), (std::vector<int64_t>{1, 3, 2, 4}));
  EXPECT_FALSE(to_dtype(to_dtype(x, DType::bf16), DType::f32).requires_grad());
}

// --- gradients -------------------------------------------------------------------------

TEST(ConcatGrad, EachInputGetsItsSlice) {
  auto f = [](const Inputs& in) { return concat({in[0], in[1].transpose(0, 1), in[2]}, 1); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({1, 2}, -1, 1, 2),
                            random_tensor({2, 2}, -1, 1, 3)}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return concat({in[0], in[1]}, 0); },
                        {random_tensor({1, 3}, -1, 1, 4), random_tensor({2, 3}, -1, 1, 5)}));
}

TEST(SplitGrad, PartsUsedDifferently) {
  auto f = [](const Inputs& in) {
    std::vector<Tensor> p = split(in[0], {1, 3}, -1);
    return concat({mul(p[1], 2.0f), p[0]}, -1);
  };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 4}, -1, 1, 6)}));
}

TEST(IndexSelectGrad, RepeatsMiddleDimAndTransposed) {
  Tensor index = Tensor::from_ids({1, 0, 1, 2}, {4});
  EXPECT_TRUE(gradcheck([index](const Inputs& in) { return index_select(in[0], 0, index); },
                        {random_tensor({3, 2}, -1, 1, 7)}));
  EXPECT_TRUE(gradcheck([index](const Inputs& in) { return index_select(in[0], 1, index); },
                        {random_tensor({2, 3, 2}, -1, 1, 8)}));
  EXPECT_TRUE(gradcheck([index](const Inputs& in) { return index_select(in[0].transpose(0, 1), 0, index); },
                        {random_tensor({2, 3}, -1, 1, 9)}));
}

// --- bad input -------------------------------------------------------------------------

TEST(ShapeErrors, ConcatNamesBothShapes) {
  const std::string msg = error_of([] { concat({Tensor::zeros({2, 3}), Tensor::zeros({3, 2})}, 1); });
  EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 2]"), std::string::npos) << msg;
}

TEST(ShapeErrors, ConcatOfMixedDtypes) {
  const std::string msg = error_of([] { concat({Tensor::zeros({2}), Tensor::from_ids({1}, {1})}, 0); });
  EXPECT_NE(msg.find("i32"), std::string::npos) << msg;
}

TEST(ShapeErrors, SplitSizesMustSumToTheDim) {
  const std::string msg = error_of([] { split(Tensor::zeros({2, 5}), {2, 2}, 1); });
  EXPECT_NE(msg.find("[2, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sum to 4"), std::string::npos) << msg;
}

TEST(ShapeErrors, IndexSelectOutOfRangeNamesIndexAndSize) {
  Tensor x = Tensor::zeros({3, 2});
  const std::string msg = error_of([&] { index_select(x, 0, Tensor::from_ids({0, 7}, {2})); });
  EXPECT_NE(msg.find("index 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("size 3"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { index_select(x, 0, Tensor::from_ids64({-1}, {1})); }).find("index -1"),
            std::string::npos);
}

TEST(ShapeErrors, IndexSelectNeedsIntegerIndex) {
  const std::string msg = error_of([] { index_select(Tensor::zeros({3}), 0, Tensor::zeros({1})); });
  EXPECT_NE(msg.find("f32"), std::string::npos) << msg;
}
