// bf16 matrix products: rounding of the operands, agreement with fp32 within bf16's
// precision, every layout gemm() takes, and the precision setting matmul/linear follow.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"
#include "core/rng.h"

using namespace attend;

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, -1.0f, 1.0f, seed, 0);
  return v;
}

float round_bf16(float x) { return from_bf16(to_bf16(x)); }

struct Layout {
  bool ta, tb;
  int64_t M, N, K, batch;
  bool shared_b;
  float beta;
};

// Runs gemm_bf16 and checks every element against two references computed in double:
// the product of the bf16-rounded operands (must agree to f32 accumulation error) and
// the exact f32 product (must agree within bf16 rounding: 2^-8 * sum |a||b|).
void check_layout_on(const Layout& l) {
  const int64_t lda = (l.ta ? l.M : l.K) + 3, ldb = (l.tb ? l.K : l.N) + 1, ldc = l.N + 2;
  const int64_t sa = lda * (l.ta ? l.K : l.M), sb = l.shared_b ? 0 : ldb * (l.tb ? l.N : l.K), sc = ldc * l.M;
  const std::vector<float> A = random_vector(sa * l.batch, 1), B = random_vector(std::max(sb, ldb * (l.tb ? l.N : l.K)) * l.batch, 2);
  std::vector<float> C = random_vector(sc * l.batch, 3);
  const std::vector<float> C0 = C;
  gemm_bf16(l.ta, l.tb, l.M, l.N, l.K, 1.0f, A.data(), lda, sa, B.data(), ldb, sb, l.beta, C.data(), ldc, sc, l.batch);
  for (int64_t p = 0; p < l.batch; ++p)
    for (int64_t i = 0; i < l.M; ++i)
      for (int64_t j = 0; j < l.N; ++j) {
        double exact = 0, rounded = 0, magnitude = 0;
        for (int64_t k = 0; k < l.K; ++k) {
          const float a = l.ta ? A[size_t(p * sa + k * lda + i)] : A[size_t(p * sa + i * lda + k)];
          const float b = l.tb ? B[size_t(p * sb + j * ldb + k)] : B[size_t(p * sb + k * ldb + j)];
          exact += double(a) * double(b);
          rounded += double(round_bf16(a)) * double(round_bf16(b));
          magnitude += std::abs(double(a) * double(b));
        }
        const double c0 = double(C0[size_t(p * sc + i * ldc + j)]) * double(l.beta);
        const double got = C[size_t(p * sc + i * ldc + j)];
        ASSERT_NEAR(got, rounded + c0, 1e-5 * (magnitude + std::abs(c0)) + 1e-6)
            << "vs rounded operands at batch " << p << " (" << i << ", " << j << ")";
        ASSERT_NEAR(got, exact + c0, std::ldexp(1.0, -8) * magnitude + 1e-5 * std::abs(c0) + 1e-6)
            << "vs f32 at batch " << p << " (" << i << ", " << j << ")";
      }
}

// check_layout_on with the product on each of oneDNN's kernels (matmul and the jit gemm).
void check_layout(const Layout& l) {
  struct Automatic {  // the default again however the check ends
    ~Automatic() { detail::set_onednn_kernel(detail::OneDnnKernel::automatic); }
  } restore;
  for (detail::OneDnnKernel kernel : {detail::OneDnnKernel::matmul, detail::OneDnnKernel::gemm}) {
    SCOPED_TRACE(kernel == detail::OneDnnKernel::gemm ? "jit gemm" : "matmul");
    detail::set_onednn_kernel(kernel);
    check_layout_on(l);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace

TEST(GemmBf16, RoundsBothOperandsToBf16) {
  // 1 + 2^-10 is not a bf16 (7 mantissa bits): rounded it is 1, so the product is 1.
  const float a = 1.0f + std::ldexp(1.0f, -10), b = 3.0f;
  float c = -1.0f, c32 = -1.0f;
  gemm_bf16(false, false, 1, 1, 1, 1.0f, &a, 1, 0, &b, 1, 0, 0.0f, &c, 1, 0);
  gemm(false, false, 1, 1, 1, 1.0f, &a, 1, 0, &b, 1, 0, 0.0f, &c32, 1, 0);
  EXPECT_EQ(c, 3.0f);
  EXPECT_EQ(c32, 3.0f * a);
  gemm_bf16(false, false, 1, 1, 1, 1.0f, &b, 1, 0, &a, 1, 0, 0.0f, &c, 1, 0);
  EXPECT_EQ(c, 3.0f);
}

TEST(GemmBf16, AccumulatesInF32) {
  // 256 products of 1 * 2^-9 on top of 1: a bf16 accumulator would stay at 1.
  const int64_t K = 257;
  std::vector<float> a(K, 1.0f), b(K, std::ldexp(1.0f, -9));
  b[0] = 1.0f;
  float c = 0;
  gemm_bf16(false, false, 1, 1, K, 1.0f, a.data(), K, 0, b.data(), 1, 0, 0.0f, &c, 1, 0);
  EXPECT_FLOAT_EQ(c, 1.5f);
}

TEST(GemmBf16, MatchesF32WithinBf16RoundingPlain) { check_layout({false, false, 37, 29, 300, 1, false, 0.0f}); }
TEST(GemmBf16, MatchesF32WithinBf16RoundingTransposed) { check_layout({true, true, 17, 40, 65, 1, false, 0.0f}); }
TEST(GemmBf16, MatchesF32WithinBf16RoundingWeightLayout) { check_layout({false, true, 64, 48, 96, 1, false, 1.0f}); }
TEST(GemmBf16, MatchesF32WithinBf16RoundingWeightGradientLayout) {
  check_layout({true, false, 48, 40, 70, 1, false, 1.0f});
}
TEST(GemmBf16, MatchesF32WithinBf16RoundingBatched) { check_layout({true, false, 9, 11, 33, 4, false, 0.5f}); }
TEST(GemmBf16, MatchesF32WithinBf16RoundingSharedB) { check_layout({false, false, 8, 12, 20, 3, true, 0.0f}); }

TEST(GemmBf16, ConvertRoundsToNearestEven) {
  // 33 values: 32 through the vector path, the last through the scalar tail.
  std::vector<float> src(33, 0.0f);
  src[0] = 1.0f + std::ldexp(1.0f, -8);       // halfway between 1 and 1+2^-7: even is 1
  src[1] = 1.0f + 3 * std::ldexp(1.0f, -8);   // halfway between 1+2^-7 and 1+2^-6: even is 1+2^-6
  src[2] = -2.5f;                             // exact
  src[3] = std::numeric_limits<float>::quiet_NaN();
  src[4] = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20);  // just above halfway: up
  src[32] = 1.0f + 3 * std::ldexp(1.0f, -8);
  std::vector<bf16> dst(33);
  convert_to_bf16(dst.data(), src.data(), 1, 33, 33);
  EXPECT_EQ(from_bf16(dst[0]), 1.0f);
  EXPECT_EQ(from_bf16(dst[1]), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(from_bf16(dst[2]), -2.5f);
  EXPECT_TRUE(std::isnan(from_bf16(dst[3])));
  EXPECT_EQ(from_bf16(dst[4]), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(from_bf16(dst[32]), 1.0f + std::ldexp(1.0f, -6));
}

TEST(GemmBf16, PrecisionSettingAppliesToMatmulAndLinear) {
  const float a = 1.0f + std::ldexp(1.0f, -10);
  Tensor x = Tensor::from_vector({a, 0.0f}, {1, 2});
  Tensor w = Tensor::from_vector({2.0f, 1.0f}, {1, 2});  // linear: y = x w^T
  Tensor m = Tensor::from_vector({2.0f, 5.0f}, {2, 1});
  {
    GemmPrecisionScope scope(GemmPrecision::bf16);
    EXPECT_EQ(gemm_precision(), GemmPrecision::bf16);
    EXPECT_EQ(linear(x, w).item(), 2.0f);
    EXPECT_EQ(matmul(x, m).item(), 2.0f);
  }
  EXPECT_EQ(gemm_precision(), GemmPrecision::fp32);
  EXPECT_EQ(linear(x, w).item(), 2.0f * a);
  EXPECT_EQ(matmul(x, m).item(), 2.0f * a);
}

TEST(GemmBf16, ParsePrecisionNamesTheValidOnes) {
  EXPECT_EQ(parse_gemm_precision("bf16"), GemmPrecision::bf16);
  EXPECT_EQ(parse_gemm_precision("fp32"), GemmPrecision::fp32);
  try {
    parse_gemm_precision("fp16");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown precision 'fp16'; valid: fp32, bf16"), std::string::npos) << e.what();
  }
}
