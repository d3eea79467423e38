// Elementwise ops: forward values on literals, central-difference gradients (same
// shape, broadcast, scalar-shaped, non-contiguous), and bad-input messages.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/gradcheck.h"
#include "core/ops.h"

using namespace attend;
using test::gradcheck;
using test::GradCheckOptions;
using test::random_tensor;
using Inputs = std::vector<Tensor>;

namespace {

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Uniform magnitudes in [0.2, 2) with alternating signs: safe for relu (no kink) and div.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Tensor t = random_tensor(shape, 0.2f, 2.0f, seed);
  for (int64_t i = 0; i < t.numel(); i += 2) t.data()[i] = -t.data()[i];
  return t;
}

// The message of the attend::Error thrown by f ("" if none was thrown).
template <typename F> std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// --- forward values ------------------------------------------------------------------

TEST(Add, EqualShapes) {
  Tensor y = add(Tensor::from_vector({1, 2, 3}, {3}), Tensor::from_vector({10, 20, 30}, {3}));
  EXPECT_EQ(y.shape(), (Shape{3}));
  expect_near(y.to_vector(), {11, 22, 33});
}

TEST(Add, BroadcastsABiasRow) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({10, 20, 30}, {3});
  expect_near(add(a, b).to_vector(), {11, 22, 33, 14, 25, 36});
  expect_near(add(b, a).to_vector(), {11, 22, 33, 14, 25, 36});
}

TEST(Add, BroadcastsColumnAgainstRow) {
  Tensor col = Tensor::from_vector({1, 2}, {2, 1});
  Tensor row = Tensor::from_vector({10, 20, 30}, {1, 3});
  Tensor y = add(col, row);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  expect_near(y.to_vector(), {11, 21, 31, 12, 22, 32});
}

TEST(Add, ScalarShapedOperand) {
  Tensor y = add(Tensor::from_vector({1, 2, 3, 4}, {2, 2}), Tensor::scalar(0.5f));
  expect_near(y.to_vector(), {1.5f, 2.5f, 3.5f, 4.5f});
}

TEST(Add, NonContiguousOperand) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // [[1,4],[2,5],[3,6]]
  Tensor b = Tensor::from_vector({10, 20}, {2});
  expect_near(add(a, b).to_vector(), {11, 24, 12, 25, 13, 26});
}

TEST(Sub, Values) {
  Tensor a = Tensor::from_vector({5, 7, 9, 11}, {2, 2});
  expect_near(sub(a, Tensor::from_vector({1, 2}, {2})).to_vector(), {4, 5, 8, 9});
}

TEST(Mul, OuterProductByBroadcast) {
  Tensor y = mul(Tensor::from_vector({1, 2}, {2, 1}), Tensor::from_vector({3, 4, 5}, {1, 3}));
  expect_near(y.to_vector(), {3, 4, 5, 6, 8, 10});
}

TEST(Div, Values) {
  Tensor y = div(Tensor::from_vector({1, 4, 9}, {3}), Tensor::from_vector({2, 8, -3}, {3}));
  expect_near(y.to_vector(), {0.5f, 0.5f, -3});
}

TEST(Div, BroadcastsOverLeadingDims) {
  Tensor a = Tensor::from_vector({2, 4, 6, 8, 10, 12, 14, 16}, {2, 2, 2});
  Tensor b = Tensor::from_vector({2, 4}, {2, 1});
  expect_near(div(a, b).to_vector(), {1, 2, 1.5f, 2, 5, 6, 3.5f, 4});
}

TEST(ScalarOps, AddMulNegAndOperators) {
  Tensor x = Tensor::from_vector({1, -2, 3}, {3});
  expect_near(add(x, 1.5f).to_vector(), {2.5f, -0.5f, 4.5f});
  expect_near(mul(x, -2.0f).to_vector(), {-2, 4, -6});
  expect_near(neg(x).to_vector(), {-1, 2, -3});
  expect_near((x / 2.0f - 1.0f).to_vector(), {-0.5f, -2, 0.5f});
}

TEST(Unary, ExpLogSqrt) {
  expect_near(exp(Tensor::from_vector({0, 1, -1}, {3})).to_vector(), {1, 2.7182818f, 0.36787944f});
  expect_near(log(Tensor::from_vector({1, 2.7182818f, 0.5f}, {3})).to_vector(), {0, 1, -0.69314718f});
  expect_near(sqrt(Tensor::from_vector({4, 0, 2}, {3})).to_vector(), {2, 0, 1.41421356f});
}

TEST(Unary, Pow) {
  Tensor x = Tensor::from_vector({2, 4, -3}, {3});
  expect_near(pow(x, 2).to_vector(), {4, 16, 9});
  expect_near(pow(x, 3).to_vector(), {8, 64, -27}, 1e-5f);
  expect_near(pow(x.slice(0, 0, 2), 0.5f).to_vector(), {1.41421356f, 2});
}

TEST(Unary, TanhSigmoidRelu) {
  Tensor x = Tensor::from_vector({-1, 0, 1, 2}, {4});
  expect_near(tanh(x).to_vector(), {-0.76159416f, 0, 0.76159416f, 0.96402758f});
  expect_near(sigmoid(x).to_vector(), {0.26894142f, 0.5f, 0.73105858f, 0.88079708f});
  expect_near(relu(x).to_vector(), {0, 0, 1, 2});
}

TEST(Unary, SigmoidSaturatesWithoutNaN) {
  std::vector<float> y = sigmoid(Tensor::from_vector({-200, 200}, {2})).to_vector();
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 1.0f);
}

TEST(Gelu, ExactErfForm) {
  Tensor x = Tensor::from_vector({-1, 0, 1, 2}, {4});
  expect_near(gelu(x).to_vector(), {-0.15865525f, 0, 0.84134475f, 1.95449974f});
}

TEST(Gelu, TanhApproximation) {
  Tensor x = Tensor::from_vector({-1, 0, 1, 2}, {4});
  expect_near(gelu(x, GeluApprox::tanh).to_vector(), {-0.15880801f, 0, 0.84119199f, 1.95459769f});
}

TEST(MaskedFill, BroadcastMaskOfEachDtype) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const std::vector<float> want{1, -9, 3, 4, -9, 6};
  expect_near(masked_fill(x, Tensor::from_ids({0, 1, 0}, {3}), -9).to_vector(), want);
  expect_near(masked_fill(x, Tensor::from_ids64({0, 7, 0}, {1, 3}), -9).to_vector(), want);
  expect_near(masked_fill(x, Tensor::from_vector({0, 0.5f, 0}, {3}), -9).to_vector(), want);
  expect_near(masked_fill(x, to_dtype(Tensor::from_vector({0, 1, 0}, {3}), DType::bf16), -9).to_vector(), want);
}

TEST(MaskedFill, PerRowMaskOnTransposedInput) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // [[1,4],[2,5],[3,6]]
  Tensor mask = Tensor::from_ids({1, 0, 1}, {3, 1});
  expect_near(masked_fill(x, mask, 0).to_vector(), {0, 0, 2, 5, 0, 0});
}

TEST(Where, PicksByConditionWithBroadcast) {
  Tensor cond = Tensor::from_ids({1, 0}, {2, 1});
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::scalar(-1);
  expect_near(where(cond, a, b).to_vector(), {1, 2, 3, -1, -1, -1});
  Tensor cond_f = Tensor::from_vector({0, 1, 0}, {3});
  expect_near(where(cond_f, a, b).to_vector(), {-1, 2, -1, -1, 5, -1});
}

// --- gradients -------------------------------------------------------------------------

TEST(AddGrad, SameShapeBiasRowColumnRowScalarAndTransposed) {
  auto f = [](const Inputs& in) { return add(in[0], in[1]); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({3}, -1, 1, 1), random_tensor({4, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 1}, -1, 1, 1), random_tensor({1, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return add(in[0].transpose(0, 1), in[1]); },
                        {random_tensor({3, 2}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
}

TEST(SubGrad, BroadcastAndTransposed) {
  auto f = [](const Inputs& in) { return sub(in[0], in[1]); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 1}, -1, 1, 1), random_tensor({1, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return sub(in[1], in[0].transpose(0, 1)); },
                        {random_tensor({3, 2}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
}

TEST(MulGrad, SameShapeBiasOuterScalarAndTransposed) {
  auto f = [](const Inputs& in) { return mul(in[0], in[1]); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 1}, -1, 1, 1), random_tensor({1, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 1, 3}, -1, 1, 1), random_tensor({4, 1}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mul(in[0].transpose(0, 1), in[1]); },
                        {random_tensor({3, 2}, -1, 1, 1), random_tensor({3}, -1, 1, 2)}));
}

TEST(MulGrad, SameTensorOnBothSides) {
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mul(in[0], in[0]); }, {random_tensor({2, 3}, -1, 1, 3)}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mul(in[0], in[0].slice(0, 0, 1)); },
                        {random_tensor({2, 3}, -1, 1, 4)}));
}

TEST(DivGrad, DenominatorAwayFromZero) {
  auto f = [](const Inputs& in) { return div(in[0], in[1]); };
  GradCheckOptions opt;
  opt.eps = 1e-3f;
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), away_from_zero({2, 3}, 2)}, opt));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), away_from_zero({3}, 2)}, opt));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 1}, -1, 1, 1), away_from_zero({1, 3}, 2)}, opt));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), away_from_zero({}, 2)}, opt));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return div(in[0], in[1].transpose(0, 1)); },
                        {random_tensor({2, 3}, -1, 1, 1), away_from_zero({3, 2}, 2)}, opt));
}

TEST(ScalarOpsGrad, AddMulNeg) {
  Tensor x = random_tensor({2, 3}, -1, 1, 3);
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return add(in[0], 2.5f); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return mul(in[0].transpose(0, 1), -1.5f); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return neg(in[0]); }, {x}));
}

TEST(UnaryGrad, ExpTanhSigmoid) {
  Tensor x = random_tensor({3, 4}, -2, 2, 4);
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return exp(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return exp(in[0].transpose(0, 1)); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return tanh(in[0].transpose(0, 1)); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return sigmoid(in[0]); }, {x}));
}

TEST(UnaryGrad, LogSqrtAwayFromZero) {
  Tensor x = random_tensor({3, 4}, 0.5f, 2, 5);
  GradCheckOptions opt;
  opt.eps = 1e-3f;
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return log(in[0]); }, {x}, opt));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return sqrt(in[0].transpose(0, 1)); }, {x}, opt));
}

TEST(UnaryGrad, Pow) {
  Tensor x = random_tensor({3, 4}, 0.5f, 2, 6);
  GradCheckOptions opt;
  opt.eps = 1e-3f;
  for (float p : {2.0f, 3.0f, 0.5f, -1.0f})
    EXPECT_TRUE(gradcheck([p](const Inputs& in) { return pow(in[0], p); }, {x}, opt)) << "p = " << p;
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return pow(in[0].transpose(0, 1), 2.0f); }, {x}, opt));
}

TEST(UnaryGrad, ReluAwayFromTheKink) {
  Tensor x = away_from_zero({3, 4}, 7);
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return relu(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return relu(in[0].transpose(0, 1)); }, {x}));
}

TEST(UnaryGrad, GeluBothForms) {
  Tensor x = random_tensor({3, 4}, -3, 3, 8);
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return gelu(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return gelu(in[0], GeluApprox::tanh); }, {x}));
  EXPECT_TRUE(gradcheck([](const Inputs& in) { return gelu(in[0].transpose(0, 1), GeluApprox::tanh); }, {x}));
}

TEST(MaskedFillGrad, MaskedElementsGetNoGradient) {
  Tensor x = random_tensor({2, 3}, -1, 1, 9);
  Tensor mask = Tensor::from_ids({1, 0, 0}, {3});
  EXPECT_TRUE(gradcheck([mask](const Inputs& in) { return masked_fill(in[0], mask, -5); }, {x}));
  Tensor row_mask = Tensor::from_ids64({0, 1, 1}, {3, 1});
  EXPECT_TRUE(gradcheck([row_mask](const Inputs& in) { return masked_fill(in[0].transpose(0, 1), row_mask, 0); },
                        {x}));
  x.zero_grad();
  Tensor y = masked_fill(x, mask, -5);
  y.backward(Tensor::ones({2, 3}));
  expect_near(x.grad().to_vector(), {0, 1, 1, 0, 1, 1});
}

TEST(WhereGrad, BothBranchesWithBroadcast) {
  Tensor cond = Tensor::from_ids({1, 0, 1, 0, 0, 1}, {2, 3});
  auto f = [cond](const Inputs& in) { return where(cond, in[0], in[1]); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3}, -1, 1, 1), random_tensor({2, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({3}, -1, 1, 1), random_tensor({2, 1}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck([cond](const Inputs& in) { return where(cond, in[0], in[1].transpose(0, 1)); },
                        {random_tensor({}, -1, 1, 1), random_tensor({3, 2}, -1, 1, 2)}));
}

// --- bad input -------------------------------------------------------------------------

TEST(ElementwiseErrors, ShapesThatDoNotBroadcastNameBothShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);
  for (BinaryOp op : std::vector<BinaryOp>{add, sub, mul, div}) {
    const std::string msg = error_of([&] { op(a, b); });
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  }
}

TEST(ElementwiseErrors, NonFloatOperandNamesItsDtype) {
  const std::string msg = error_of([] { add(Tensor::from_ids({1, 2}, {2}), Tensor::zeros({2})); });
  EXPECT_NE(msg.find("add"), std::string::npos) << msg;
  EXPECT_NE(msg.find("i32"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { exp(Tensor::from_ids64({1}, {1})); }).find("i64"), std::string::npos);
}

TEST(ElementwiseErrors, MaskMustBroadcastToX) {
  const std::string msg = error_of([] { masked_fill(Tensor::zeros({3}), Tensor::from_ids({0, 1, 0, 1, 0, 1}, {2, 3}), 0); });
  EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3]"), std::string::npos) << msg;
}

TEST(ElementwiseErrors, WhereShapesMustBroadcast) {
  const std::string msg = error_of([] { where(Tensor::from_ids({1, 0}, {2}), Tensor::zeros({3}), Tensor::zeros({3})); });
  EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3]"), std::string::npos) << msg;
}

TEST(Add, EmptyTensors) {
  Tensor y = add(Tensor::zeros({0, 3}), Tensor::ones({3}));
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  EXPECT_EQ(gelu(Tensor::zeros({0})).numel(), 0);
}
