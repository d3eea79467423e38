// Batches of products with at most 4 rows (decoding attention) take gemm()'s plain-loop
// path: every layout, alpha and beta against a double-precision loop.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/rng.h"

using namespace attend;

namespace {

struct Tiny {
  bool ta, tb;
  int64_t M, N, K, batch;
  float alpha, beta;
  bool shared_b;
};

double max_error(const Tiny& t) {
  const int64_t lda = (t.ta ? t.M : t.K) + 2, ldb = (t.tb ? t.K : t.N) + 3, ldc = t.N + 1;
  const int64_t sa = lda * (t.ta ? t.K : t.M) + 1, b_size = ldb * (t.tb ? t.N : t.K);
  const int64_t sb = t.shared_b ? 0 : b_size + 2, sc = ldc * t.M + 3;
  std::vector<float> A(size_t(sa * t.batch)), B(size_t(b_size + sb * t.batch)), C(size_t(sc * t.batch));
  fill_uniform(A.data(), int64_t(A.size()), -1, 1, 1, 0);
  fill_uniform(B.data(), int64_t(B.size()), -1, 1, 2, 0);
  fill_uniform(C.data(), int64_t(C.size()), -1, 1, 3, 0);
  if (t.beta == 0.0f)
    for (float& c : C) c = std::numeric_limits<float>::quiet_NaN();  // must not be read
  const std::vector<float> C0 = C;
  gemm(t.ta, t.tb, t.M, t.N, t.K, t.alpha, A.data(), lda, sa, B.data(), ldb, sb, t.beta, C.data(), ldc, sc, t.batch);
  double worst = 0;
  for (int64_t p = 0; p < t.batch; ++p)
    for (int64_t i = 0; i < t.M; ++i)
      for (int64_t j = 0; j < t.N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < t.K; ++k) {
          const float a = t.ta ? A[size_t(p * sa + k * lda + i)] : A[size_t(p * sa + i * lda + k)];
          const float b = t.tb ? B[size_t(p * sb + j * ldb + k)] : B[size_t(p * sb + k * ldb + j)];
          acc += double(a) * double(b);
        }
        const size_t at = size_t(p * sc + i * ldc + j);
        const double want = t.alpha * acc + (t.beta == 0.0f ? 0.0 : double(t.beta) * C0[at]);
        worst = std::max(worst, std::abs(double(C[at]) - want));
      }
  return worst;
}

}  // namespace

TEST(GemmTiny, OneQueryAgainstKeys) { EXPECT_LT(max_error({false, true, 1, 30, 64, 16, 0.125f, 0.0f, false}), 1e-5); }
TEST(GemmTiny, ProbabilitiesTimesValues) { EXPECT_LT(max_error({false, false, 1, 64, 30, 16, 1.0f, 0.0f, false}), 1e-5); }
TEST(GemmTiny, TransposedAWithBeta) { EXPECT_LT(max_error({true, false, 3, 17, 40, 9, 0.5f, 1.0f, false}), 1e-5); }
TEST(GemmTiny, BothTransposedSharedB) { EXPECT_LT(max_error({true, true, 4, 5, 33, 8, 2.0f, 0.25f, true}), 1e-5); }

TEST(GemmTiny, StaysFp32UnderBf16Precision) {
  GemmPrecisionScope bf16(GemmPrecision::bf16);
  EXPECT_LT(max_error({false, true, 1, 30, 64, 16, 1.0f, 0.0f, false}), 1e-5);  // bf16 would be off by ~1e-2
}
