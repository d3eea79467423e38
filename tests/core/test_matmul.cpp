// matmul, linear and linear_relu: forward values, gradients, no copies of transposed views, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/gradcheck.h"
#include "core/allocator.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"

using namespace attend;
using test::gradcheck;
using test::random_tensor;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Runs every test of a suite once per gemm backend.
class MatmulTest : public ::testing::TestWithParam<GemmBackend> {
 protected:
  void SetUp() override {
    saved_ = gemm_backend();
    set_gemm_backend(GetParam());
  }
  void TearDown() override { set_gemm_backend(saved_); }
  GemmBackend saved_{};
};

}  // namespace

// --- forward values ---------------------------------------------------------------

TEST_P(MatmulTest, TwoByThreeTimesThreeByTwo) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor y = matmul(a, b);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{58, 64, 139, 154}));
}

TEST_P(MatmulTest, BatchedMultipliesMatrixByMatrix) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, /**/ 1, 0, 0, 1}, {2, 2, 2});
  Tensor b = Tensor::from_vector({5, 6, 7, 8, /**/ 2, 3, 4, 5}, {2, 2, 2});
  EXPECT_EQ(matmul(a, b).to_vector(), (std::vector<float>{19, 22, 43, 50, /**/ 2, 3, 4, 5}));
}

TEST_P(MatmulTest, TwoDimensionalBIsSharedByTheBatch) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, /**/ 1, 0, 0, 1}, {2, 2, 2});
  Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2});
  Tensor y = matmul(a, b);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{19, 22, 43, 50, /**/ 5, 6, 7, 8}));
}

TEST_P(MatmulTest, TransposedViewsGiveTheTransposedProduct) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});     // a^T = [[1,3,5],[2,4,6]]
  Tensor b = Tensor::from_vector({7, 9, 11, 8, 10, 12}, {2, 3});  // b^T = [[7,8],[9,10],[11,12]]
  EXPECT_EQ(matmul(a.transpose(0, 1), b.transpose(0, 1)).to_vector(),
            (std::vector<float>{1 * 7 + 3 * 9 + 5 * 11, 1 * 8 + 3 * 10 + 5 * 12, 2 * 7 + 4 * 9 + 6 * 11,
                                2 * 8 + 4 * 10 + 6 * 12}));
}

TEST_P(MatmulTest, UniformlyStridedBatchViewIsReadInPlace) {
  // x: (M, B, K); x.transpose(0, 1) is (B, M, K) with batch stride 2 and row stride 4.
  Tensor x = Tensor::from_vector({1, 2, 1, 0, 3, 4, 0, 1}, {2, 2, 2});
  Tensor b = Tensor::from_vector({5, 6, 7, 8, 2, 3, 4, 5}, {2, 2, 2});
  EXPECT_EQ(matmul(x.transpose(0, 1), b).to_vector(), (std::vector<float>{19, 22, 43, 50, 2, 3, 4, 5}));
}

TEST_P(MatmulTest, UnevenlyStridedBatchGivesTheSameProductAsItsCopy) {
  Tensor p = random_tensor({3, 2, 4, 5}, -1, 1, 1).permute({1, 0, 2, 3});  // batch strides (20, 40)
  Tensor b = random_tensor({2, 3, 5, 2}, -1, 1, 2);
  const std::vector<float> y = matmul(p, b).to_vector(), expected = matmul(p.contiguous(), b).to_vector();
  ASSERT_EQ(y.size(), expected.size());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-6) << i;
}

TEST_P(MatmulTest, LinearIsXTimesWTransposedPlusBias) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector({1, 0, 0, 0, 1, 1}, {2, 3});  // out = 2, in = 3
  Tensor bias = Tensor::from_vector({10, 20}, {2});
  EXPECT_EQ(linear(x, w, bias).to_vector(), (std::vector<float>{11, 25, 14, 31}));
  EXPECT_EQ(linear(x, w).to_vector(), (std::vector<float>{1, 5, 4, 11}));
}

TEST_P(MatmulTest, LinearKeepsLeadingDims) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  Tensor w = Tensor::from_vector({1, 1, 0, 0, 2, -1}, {3, 2});
  Tensor y = linear(x, w, Tensor::from_vector({0, 1, 0}, {3}));
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{3, 1, 0, 7, 1, 2, 11, 1, 4, 15, 1, 6}));
}

TEST_P(MatmulTest, LinearReluZeroesNegativeOutputs) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector({1, 0, 0, 0, 1, -1}, {2, 3});
  Tensor bias = Tensor::from_vector({-2, 0.5f}, {2});
  EXPECT_EQ(linear_relu(x, w, bias).to_vector(), (std::vector<float>{0, 0, 2, 0}));  // before relu: -1 -.5 2 -.5
  EXPECT_EQ(linear_relu(x, w).to_vector(), (std::vector<float>{1, 0, 4, 0}));
}

// --- no copies --------------------------------------------------------------------

TEST_P(MatmulTest, TransposedViewsAreNotCopied) {
  Tensor a = random_tensor({3, 8, 6}, -1, 1, 1);  // a^T: (3,6,8), strides (48,1,6)
  Tensor b = random_tensor({3, 5, 8}, -1, 1, 2);  // b^T: (3,8,5)
  NoGradGuard no_grad;
  const int64_t allocations = allocator().stats().allocations, calls = gemm_call_count();
  Tensor y = matmul(a.transpose(1, 2), b.transpose(1, 2));
  EXPECT_EQ(allocator().stats().allocations - allocations, 1);  // the result only
  EXPECT_EQ(gemm_call_count() - calls, 1);                      // one strided batch
  EXPECT_EQ(y.shape(), (Shape{3, 6, 5}));
}

TEST_P(MatmulTest, ALayoutGemmCannotReadIsCopied) {  // proves the count above can fail
  Tensor p = random_tensor({3, 2, 4, 5}, -1, 1, 1).permute({1, 0, 2, 3});  // batch strides (20, 40)
  Tensor b = random_tensor({2, 3, 5, 2}, -1, 1, 2);
  NoGradGuard no_grad;
  const int64_t allocations = allocator().stats().allocations;
  matmul(p, b);
  EXPECT_GT(allocator().stats().allocations - allocations, 1);
}

TEST_P(MatmulTest, BatchedInputTimesSharedWeightIsOneGemm) {
  Tensor x = random_tensor({4, 7, 6}, -1, 1, 1), w = random_tensor({6, 5}, -1, 1, 2);
  NoGradGuard no_grad;
  const int64_t calls = gemm_call_count();
  matmul(x, w);
  linear(x, w.transpose(0, 1), random_tensor({5}, -1, 1, 3));
  EXPECT_EQ(gemm_call_count() - calls, 2);
}

TEST_P(MatmulTest, BackwardAccumulatesWithoutTemporaries) {
  Tensor a = random_tensor({4, 7, 6}, -1, 1, 1).set_requires_grad();
  Tensor b = random_tensor({4, 6, 5}, -1, 1, 2).set_requires_grad();
  Tensor y = matmul(a, b);
  Tensor dy = Tensor::ones(y.shape());
  const int64_t allocations = allocator().stats().allocations, calls = gemm_call_count();
  y.backward(dy);
  EXPECT_EQ(gemm_call_count() - calls, 2);                      // da and db
  EXPECT_EQ(allocator().stats().allocations - allocations, 2);  // the two .grad buffers
}

// --- gradients --------------------------------------------------------------------

TEST_P(MatmulTest, GradientTwoDimensional) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0], in[1]); },
                        {random_tensor({3, 4}, -1, 1, 1), random_tensor({4, 5}, -1, 1, 2)}));
}

TEST_P(MatmulTest, GradientBatched) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0], in[1]); },
                        {random_tensor({2, 2, 3, 4}, -1, 1, 1), random_tensor({2, 2, 4, 2}, -1, 1, 2)}));
}

TEST_P(MatmulTest, GradientBatchedTimesSharedMatrix) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0], in[1]); },
                        {random_tensor({3, 2, 4}, -1, 1, 1), random_tensor({4, 3}, -1, 1, 2)}));
}

TEST_P(MatmulTest, GradientTransposedViewsTimesSharedMatrix) {  // db summed over an unfoldable batch
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0].transpose(1, 2), in[1].transpose(0, 1)); },
                        {random_tensor({3, 4, 2}, -1, 1, 1), random_tensor({3, 4}, -1, 1, 2)}));
}

TEST_P(MatmulTest, GradientTransposedViews) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0].transpose(0, 1), in[1].transpose(0, 1)); },
                        {random_tensor({4, 3}, -1, 1, 1), random_tensor({5, 4}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0].transpose(-1, -2), in[1].transpose(-1, -2)); },
                        {random_tensor({2, 4, 3}, -1, 1, 3), random_tensor({2, 5, 4}, -1, 1, 4)}));
}

TEST_P(MatmulTest, GradientExpandedBatchViews) {  // batch stride 0, read in place
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0].expand({3, 2, 4}), in[1]); },
                        {random_tensor({1, 2, 4}, -1, 1, 1), random_tensor({4, 3}, -1, 1, 2)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0].expand({3, 2, 4}), in[1].expand({3, 4, 3})); },
                        {random_tensor({1, 2, 4}, -1, 1, 3), random_tensor({1, 4, 3}, -1, 1, 4)}));
}

TEST_P(MatmulTest, GradientThroughCopiedLayout) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0].permute({1, 0, 2, 3}), in[1]); },
                        {random_tensor({3, 2, 2, 3}, -1, 1, 1), random_tensor({2, 3, 3, 2}, -1, 1, 2)}));
}

TEST_P(MatmulTest, GradientLinearWithBias) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return linear(in[0], in[1], in[2]); },
                        {random_tensor({3, 4}, -1, 1, 1), random_tensor({5, 4}, -1, 1, 2), random_tensor({5}, -1, 1, 3)}));
}

TEST_P(MatmulTest, GradientLinearWithoutBias) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return linear(in[0], in[1]); },
                        {random_tensor({3, 4}, -1, 1, 1), random_tensor({5, 4}, -1, 1, 2)}));
}

TEST_P(MatmulTest, GradientLinearThreeDimensionalInput) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return linear(in[0], in[1], in[2]); },
                        {random_tensor({2, 3, 4}, -1, 1, 1), random_tensor({5, 4}, -1, 1, 2), random_tensor({5}, -1, 1, 3)}));
}

TEST_P(MatmulTest, GradientLinearTransposedViews) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return linear(in[0].transpose(0, 1), in[1].transpose(0, 1), in[2]); },
                        {random_tensor({4, 3}, -1, 1, 1), random_tensor({4, 5}, -1, 1, 2), random_tensor({5}, -1, 1, 3)}));
}

// Pre-activations stay more than 0.02 from relu's kink: a step of eps = 1e-2 in one input
// (all in [-1, 1)) moves them by at most 0.01, so no difference crosses it.
TEST_P(MatmulTest, GradientLinearRelu) {
  const std::vector<Tensor> in{random_tensor({3, 4}, -1, 1, 1), random_tensor({6, 4}, -1, 1, 4),
                               random_tensor({6}, -1, 1, 3)};
  for (float z : linear(in[0], in[1], in[2]).to_vector()) ASSERT_GT(std::fabs(z), 0.02f);
  EXPECT_TRUE(gradcheck([](const auto& in) { return linear_relu(in[0], in[1], in[2]); }, in));
}

TEST_P(MatmulTest, GradientLinearReluTransposedViewsWithoutBias) {
  const std::vector<Tensor> in{random_tensor({4, 3}, -1, 1, 1), random_tensor({4, 5}, -1, 1, 2)};
  for (float z : linear(in[0].transpose(0, 1), in[1].transpose(0, 1)).to_vector()) ASSERT_GT(std::fabs(z), 0.02f);
  EXPECT_TRUE(gradcheck([](const auto& in) { return linear_relu(in[0].transpose(0, 1), in[1].transpose(0, 1)); }, in));
}

INSTANTIATE_TEST_SUITE_P(Backends, MatmulTest, ::testing::Values(GemmBackend::onednn, GemmBackend::openblas),
                         [](const auto& info) { return std::string(gemm_backend_name(info.param)); });

// --- errors -----------------------------------------------------------------------

TEST(MatmulErrors, InnerDimsMismatchNamesBothShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  EXPECT_NE(error_of([&] { matmul(a, b); }).find("matmul: inner dims differ: [2, 3] @ [4, 5]"), std::string::npos)
      << error_of([&] { matmul(a, b); });
}

TEST(MatmulErrors, BatchDimsMismatchNamesBothShapes) {
  Tensor a = Tensor::zeros({2, 2, 3}), b = Tensor::zeros({3, 3, 5});
  EXPECT_NE(error_of([&] { matmul(a, b); }).find("batch dims differ: [2, 2, 3] @ [3, 3, 5]"), std::string::npos)
      << error_of([&] { matmul(a, b); });
}

TEST(MatmulErrors, OneDimensionalOperandIsRejected) {
  Tensor a = Tensor::zeros({3}), b = Tensor::zeros({3, 2});
  EXPECT_NE(error_of([&] { matmul(a, b); }).find("at least 2-D operands, got [3] @ [3, 2]"), std::string::npos)
      << error_of([&] { matmul(a, b); });
}

TEST(MatmulErrors, NonFloatNamesTheDtype) {
  Tensor a = Tensor::from_ids({1, 2, 3, 4}, {2, 2}), b = Tensor::zeros({2, 2});
  EXPECT_NE(error_of([&] { matmul(a, b); }).find("matmul: a must be f32, got i32"), std::string::npos)
      << error_of([&] { matmul(a, b); });
  EXPECT_NE(error_of([&] { linear(b, a); }).find("linear: weight must be f32, got i32"), std::string::npos)
      << error_of([&] { linear(b, a); });
}

TEST(MatmulErrors, LinearFeatureMismatchNamesBothShapes) {
  Tensor x = Tensor::zeros({2, 3}), w = Tensor::zeros({4, 5});
  EXPECT_NE(error_of([&] { linear(x, w); }).find("linear: x [2, 3] does not match weight [4, 5]"), std::string::npos)
      << error_of([&] { linear(x, w); });
}

TEST(MatmulErrors, LinearReluNamesItselfAndBothShapes) {
  Tensor x = Tensor::zeros({2, 3}), w = Tensor::zeros({4, 5});
  EXPECT_NE(error_of([&] { linear_relu(x, w); }).find("linear_relu: x [2, 3] does not match weight [4, 5]"),
            std::string::npos)
      << error_of([&] { linear_relu(x, w); });
}

TEST(MatmulErrors, LinearBiasMismatchNamesBothShapes) {
  Tensor x = Tensor::zeros({2, 5}), w = Tensor::zeros({4, 5}), bias = Tensor::zeros({5});
  EXPECT_NE(error_of([&] { linear(x, w, bias); }).find("linear: bias [5] does not match weight [4, 5]"),
            std::string::npos)
      << error_of([&] { linear(x, w, bias); });
}

// --- bf16 products -------------------------------------------------------------------

TEST(LinearBf16, BackwardSumsDyForTheBiasAndMultipliesRoundedDy) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  const int64_t R = 37, in = 3, out = 5;
  Tensor x = random_tensor({R, in}, -1, 1, 80).set_requires_grad(), w = random_tensor({out, in}, -1, 1, 81);
  Tensor bias = random_tensor({out}, -1, 1, 82).set_requires_grad();
  for (bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "linear_relu" : "linear");
    x.zero_grad(), bias.zero_grad();
    Tensor y = relu ? linear_relu(x, w, bias) : linear(x, w, bias);
    Tensor dy = random_tensor({R, out}, -1, 1, 83);
    y.backward(dy);
    const std::vector<float> yv = y.to_vector(), dyv = dy.to_vector(), wv = w.to_vector();
    const std::vector<float> dx = x.grad().to_vector(), db = bias.grad().to_vector();
    auto rounded = [](float v) { return from_bf16(to_bf16(v)); };
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t r = 0; r < R; ++r) sum += relu && yv[size_t(r * out + o)] <= 0 ? 0.0f : dyv[size_t(r * out + o)];
      EXPECT_NEAR(db[size_t(o)], sum, 1e-5) << "dbias " << o;
    }
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = 0; i < in; ++i) {
        double sum = 0;
        for (int64_t o = 0; o < out; ++o) {
          const float d = relu && yv[size_t(r * out + o)] <= 0 ? 0.0f : dyv[size_t(r * out + o)];
          sum += double(rounded(d)) * double(rounded(wv[size_t(o * in + i)]));
        }
        EXPECT_NEAR(dx[size_t(r * in + i)], sum, 1e-5) << "dx " << r << "," << i;
      }
  }
}

// bf16 training keeps a feed-forward's hidden layer in bf16: linear_relu into bf16 gives
// the f32 result rounded (bias and relu come before the rounding), the next linear reads
// it as it is, and values and gradients equal those of the f32 hidden layer (whose next
// product rounds it the same way).
TEST(LinearBf16, HiddenLayerInBf16EqualsTheF32OneRounded) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  const int64_t R = 37, in = 24, hidden = 40, out = 16;
  const Tensor x0 = random_tensor({R, in}, -1, 1, 90), w10 = random_tensor({hidden, in}, -1, 1, 91);
  const Tensor b10 = random_tensor({hidden}, -1, 1, 92), w20 = random_tensor({out, hidden}, -1, 1, 93);
  const Tensor dy = random_tensor({R, out}, -1, 1, 94);
  std::vector<std::vector<float>> got[2];
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    Tensor x = x0.clone().detach().set_requires_grad(), w1 = w10.clone().detach().set_requires_grad();
    Tensor b1 = b10.clone().detach().set_requires_grad(), w2 = w20.clone().detach().set_requires_grad();
    const Tensor h = linear_relu(x, w1, b1, bf16 ? DType::bf16 : DType::f32);
    ASSERT_EQ(h.dtype(), bf16 ? DType::bf16 : DType::f32);
    std::vector<float> hv = to_dtype(h, DType::f32).to_vector();
    if (!bf16)
      for (float& v : hv) v = from_bf16(to_bf16(v));
    Tensor y = linear(h, w2);
    y.backward(dy);
    got[bf16] = {hv, y.to_vector(), x.grad().to_vector(), w1.grad().to_vector(), b1.grad().to_vector(),
                 w2.grad().to_vector()};
  }
  const char* names[] = {"h (rounded)", "y", "dx", "dw1", "db1", "dw2"};
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_EQ(got[1][i].size(), got[0][i].size()) << names[i];
    for (size_t j = 0; j < got[0][i].size(); ++j) EXPECT_NEAR(got[1][i][j], got[0][i][j], 1e-5f) << names[i] << " " << j;
  }
}

TEST(LinearBf16, Bf16InputTakesGradientsOnlyUnderBf16Precision) {
  Tensor x = to_dtype(random_tensor({4, 3}, -1, 1, 95), DType::bf16), w = random_tensor({2, 3}, -1, 1, 96);
  // without gradients it is widened
  EXPECT_EQ(linear(x, w).to_vector(), linear(to_dtype(x, DType::f32), w).to_vector());
  w.set_requires_grad(true);
  EXPECT_NE(error_of([&] { linear(x, w); }).find("linear: a bf16 x or result"), std::string::npos)
      << error_of([&] { linear(x, w); });
  EXPECT_NE(error_of([&] { linear_relu(to_dtype(x, DType::f32), w, Tensor(), DType::i32); })
                .find("linear_relu: the result can be f32 or bf16, not i32"),
            std::string::npos)
      << error_of([&] { linear_relu(to_dtype(x, DType::f32), w, Tensor(), DType::i32); });
}

TEST(LinearBf16, EmptyInnerDimensionGivesTheBiasThroughRelu) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  const Tensor x = Tensor::zeros({3, 0}), w = Tensor::zeros({2, 0}), bias = Tensor::from_vector({-1.5f, 2.5f}, {2});
  EXPECT_EQ(linear(x, w, bias).to_vector(), std::vector<float>({-1.5f, 2.5f, -1.5f, 2.5f, -1.5f, 2.5f}));
  EXPECT_EQ(to_dtype(linear_relu(x, w, bias, DType::bf16), DType::f32).to_vector(),
            std::vector<float>({0.0f, 2.5f, 0.0f, 2.5f, 0.0f, 2.5f}));
}

// A weight made in the forward (attention's q|k|v, concatenated) keeps only its bf16 copy
// for backward: gradients equal those through a leaf weight of the same values.
TEST(LinearBf16, WeightMadeInTheForwardGivesTheGradientsOfALeafOne) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  const Tensor x0 = random_tensor({33, 16}, -1, 1, 97), dy = random_tensor({33, 24}, -1, 1, 98);
  Tensor a = random_tensor({8, 16}, -1, 1, 99).set_requires_grad(), b = random_tensor({16, 16}, -1, 1, 100).set_requires_grad();
  Tensor x1 = x0.clone().detach().set_requires_grad(), x2 = x0.clone().detach().set_requires_grad();
  const Tensor made = concat({a, b}, 0);
  ASSERT_FALSE(made.is_leaf());
  Tensor y1 = linear(x1, made);
  y1.backward(dy);
  Tensor leaf = concat({a, b}, 0).detach().set_requires_grad();
  Tensor y2 = linear(x2, leaf);
  y2.backward(dy);
  EXPECT_EQ(y1.to_vector(), y2.to_vector());
  EXPECT_EQ(x1.grad().to_vector(), x2.grad().to_vector());
  EXPECT_EQ(concat({a.grad(), b.grad()}, 0).to_vector(), leaf.grad().to_vector());
}
