// gemm() against a naive triple loop, through each backend; backend selection; threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <vector>

#include "common/error_of.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/rng.h"
#include "core/threads.h"

using namespace attend;

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, -1.0f, 1.0f, seed, 0);
  return v;
}

// C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b], in double, element by element.
void naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc,
                int64_t batch) {
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) {
          const float a = ta ? A[p * sa + k * lda + i] : A[p * sa + i * lda + k];
          const float b = tb ? B[p * sb + j * ldb + k] : B[p * sb + k * ldb + j];
          acc += double(a) * double(b);
        }
        float& c = C[p * sc + i * ldc + j];
        c = float(alpha * acc + (beta == 0.0f ? 0.0 : double(beta) * c));
      }
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad = 0;    // leading dims exceed the stored width by this much
  int64_t batch = 1;
  bool shared_b = false;  // stride_b = 0
  bool shared_a = false;  // stride_a = 0
};

// Runs one case through gemm() and the naive loop on the same random data; returns
// the largest absolute difference (the padding between rows of C must stay untouched).
double max_error(const Case& c) {
  const int64_t lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad, ldc = c.N + c.pad;
  const int64_t b_size = ldb * (c.tb ? c.N : c.K);
  const int64_t sa = c.shared_a ? 0 : lda * (c.ta ? c.K : c.M) + 3, sb = c.shared_b ? 0 : b_size + 5, sc = ldc * c.M + 7;
  std::vector<float> A = random_vector(c.shared_a ? lda * (c.ta ? c.K : c.M) : sa * c.batch, 1);
  std::vector<float> B = random_vector(c.shared_b ? b_size : sb * c.batch, 2);
  std::vector<float> C = random_vector(sc * c.batch, 3), expected = C;
  gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, sa, B.data(), ldb, sb, c.beta, C.data(), ldc, sc, c.batch);
  naive_gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, sa, B.data(), ldb, sb, c.beta, expected.data(), ldc,
             sc, c.batch);
  double err = 0;
  for (size_t i = 0; i < C.size(); ++i) err = std::max(err, std::fabs(double(C[i]) - double(expected[i])));
  return err;
}

// A backend, and for oneDNN the fp32 kernel its products are forced onto (the tests' small
// shapes would all run on matmul by the automatic choice).
struct BackendKernel {
  GemmBackend backend;
  detail::OneDnnKernel kernel = detail::OneDnnKernel::automatic;
};

class GemmTest : public ::testing::TestWithParam<BackendKernel> {
 protected:
  void SetUp() override {
    saved_ = gemm_backend();
    set_gemm_backend(GetParam().backend);
    detail::set_onednn_kernel(GetParam().kernel);
  }
  void TearDown() override {
    set_gemm_backend(saved_);
    detail::set_onednn_kernel(detail::OneDnnKernel::automatic);
  }
  GemmBackend saved_{};
};

// float32 accumulation over K <= 70 terms of size <= 1: errors are ~1e-6.
constexpr double kTol = 1e-4;

// Two results of one product that may sum in different orders agree norm-wise:
// max |C1 - C2| <= 1e-5 * max |C1|, a few float32 ulps of the result's scale (elementwise
// relative error would be unbounded where C ~ 0); max |C1| > 1 so the check has a scale.
void expect_agree_normwise(const std::vector<float>& C1, const std::vector<float>& C2) {
  ASSERT_EQ(C1.size(), C2.size());
  double scale = 0, diff = 0;
  for (size_t i = 0; i < C1.size(); ++i) {
    scale = std::max(scale, std::fabs(double(C1[i])));
    diff = std::max(diff, std::fabs(double(C1[i]) - double(C2[i])));
  }
  EXPECT_GT(scale, 1.0);
  EXPECT_LE(diff, 1e-5 * scale);
}

}  // namespace

TEST_P(GemmTest, AllFourTransposeCombinationsMatchNaiveLoop) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) EXPECT_LT(max_error({ta, tb, 7, 5, 6, 1.0f, 0.0f}), kTol) << ta << tb;
}

TEST_P(GemmTest, LeadingDimsLargerThanWidth) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      EXPECT_LT(max_error({ta, tb, 9, 11, 13, 1.0f, 0.0f, /*pad=*/4}), kTol) << ta << tb;
}

TEST_P(GemmTest, AlphaScalesAndBetaAccumulates) {
  EXPECT_LT(max_error({false, false, 6, 4, 5, 0.5f, 2.0f}), kTol);
  EXPECT_LT(max_error({true, true, 6, 4, 5, -1.5f, 1.0f, 2}), kTol);
  EXPECT_LT(max_error({false, true, 6, 4, 5, 1.0f, -0.25f}), kTol);
}

TEST_P(GemmTest, StridedBatch) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      EXPECT_LT(max_error({ta, tb, 5, 6, 7, 0.75f, 1.0f, /*pad=*/2, /*batch=*/4}), kTol) << ta << tb;
}

TEST_P(GemmTest, BatchStrideZeroSharesAnOperand) {
  EXPECT_LT(max_error({false, true, 5, 6, 7, 1.0f, 0.0f, 0, /*batch=*/3, /*shared_b=*/true}), kTol);
  EXPECT_LT(max_error({true, false, 5, 6, 7, 1.0f, 1.0f, 1, /*batch=*/3, /*shared_b=*/true}), kTol);
  EXPECT_LT(max_error({false, false, 5, 6, 7, 1.0f, 0.0f, 0, /*batch=*/3, false, /*shared_a=*/true}), kTol);
  EXPECT_LT(max_error({true, true, 5, 6, 7, 2.0f, 1.0f, 0, /*batch=*/3, /*shared_b=*/true, /*shared_a=*/true}), kTol);
}

TEST_P(GemmTest, LargerProductMatchesNaiveLoop) {
  EXPECT_LT(max_error({false, true, 70, 66, 65, 1.0f, 0.0f}), kTol);
}

TEST_P(GemmTest, BetaZeroDoesNotReadC) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> A{1, 2, 3, 4}, B{5, 6, 7, 8}, C(4, nan);
  gemm(false, false, 2, 2, 2, 1.0f, A.data(), 2, 0, B.data(), 2, 0, 0.0f, C.data(), 2, 0);
  EXPECT_EQ(C, (std::vector<float>{19, 22, 43, 50}));
}

TEST_P(GemmTest, EmptyInnerDimensionScalesC) {
  std::vector<float> C{1, 2, 3, 4};
  gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, 0, nullptr, 2, 0, 3.0f, C.data(), 2, 0);
  EXPECT_EQ(C, (std::vector<float>{3, 6, 9, 12}));
}


// A backend may sum in a different order on another thread count (OpenBLAS switches
// kernels: it differs here in the last bits of elements near cancellation).
TEST_P(GemmTest, OneAndTwoThreadsAgree) {
  const int64_t M = 96, N = 80, K = 300;
  std::vector<float> A = random_vector(M * K, 4), B = random_vector(K * N, 5), C1(size_t(M * N)), C2(size_t(M * N));
  const int saved = num_threads();
  set_num_threads(1);
  gemm(false, false, M, N, K, 1.0f, A.data(), K, 0, B.data(), N, 0, 0.0f, C1.data(), N, 0);
  set_num_threads(2);
  gemm(false, false, M, N, K, 1.0f, A.data(), K, 0, B.data(), N, 0, 0.0f, C2.data(), N, 0);
  set_num_threads(saved);
  expect_agree_normwise(C1, C2);
}

TEST_P(GemmTest, RejectsLeadingDimensionSmallerThanWidth) {
  std::vector<float> A(6), B(6), C(4);
  const std::string message =
      error_of([&] { gemm(false, false, 2, 2, 3, 1.0f, A.data(), 2, 0, B.data(), 2, 0, 0.0f, C.data(), 2, 0); });
  EXPECT_NE(message.find("lda=2 < 3"), std::string::npos) << message;
}

// gemm_linear: the product with bias and relu in oneDNN's epilogue against gemm() and a
// pass over C in double; on OpenBLAS and in bf16 precision it is that gemm() and pass.
TEST_P(GemmTest, LinearAddsBiasAndReluToTheProduct) {
  const int64_t M = 37, N = 45, K = 70;
  const std::vector<float> A = random_vector(M * K, 9), W = random_vector(N * K, 10), bias = random_vector(N, 11);
  for (bool with_bias : {false, true})
    for (bool relu : {false, true}) {
      std::vector<float> C(size_t(M * N), std::numeric_limits<float>::quiet_NaN()), expected(C.size());
      gemm_linear(M, N, K, A.data(), W.data(), with_bias ? bias.data() : nullptr, relu, C.data());
      naive_gemm(false, true, M, N, K, 1.0f, A.data(), K, 0, W.data(), K, 0, 0.0f, expected.data(), N, 0, 1);
      int64_t negative = 0;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          float& e = expected[size_t(i * N + j)];
          e += with_bias ? bias[size_t(j)] : 0.0f;
          negative += e < 0.0f;
          if (relu) e = std::max(e, 0.0f);
        }
      ASSERT_GT(negative, M * N / 4);  // relu has something to do
      for (size_t i = 0; i < C.size(); ++i)
        ASSERT_NEAR(C[i], expected[i], kTol) << "bias " << with_bias << " relu " << relu << " at " << i;
    }
}

TEST_P(GemmTest, LinearRejectsANegativeSize) {
  std::vector<float> A(4), W(4), C(4);
  const std::string message =
      error_of([&] { gemm_linear(2, -2, 2, A.data(), W.data(), nullptr, false, C.data()); });
  EXPECT_NE(message.find("gemm_linear: M 2 N -2 K 2"), std::string::npos) << message;
}

TEST_P(GemmTest, LinearInBf16PrecisionRoundsTheOperands) {
  const int64_t M = 8, N = 16, K = 64;
  const std::vector<float> A = random_vector(M * K, 12), W = random_vector(N * K, 13), bias = random_vector(N, 14);
  std::vector<float> C(size_t(M * N)), expected(C.size());
  {
    GemmPrecisionScope bf16(GemmPrecision::bf16);
    gemm_linear(M, N, K, A.data(), W.data(), bias.data(), /*relu=*/true, C.data());
  }
  std::vector<float> A16(A.size()), W16(W.size());
  for (size_t i = 0; i < A.size(); ++i) A16[i] = from_bf16(to_bf16(A[i]));
  for (size_t i = 0; i < W.size(); ++i) W16[i] = from_bf16(to_bf16(W[i]));
  naive_gemm(false, true, M, N, K, 1.0f, A16.data(), K, 0, W16.data(), K, 0, 0.0f, expected.data(), N, 0, 1);
  for (size_t i = 0; i < C.size(); ++i)
    ASSERT_NEAR(C[i], std::max(expected[i] + bias[i % size_t(N)], 0.0f), 1e-5) << i;
}

INSTANTIATE_TEST_SUITE_P(Backends, GemmTest,
                         ::testing::Values(BackendKernel{GemmBackend::onednn, detail::OneDnnKernel::matmul},
                                           BackendKernel{GemmBackend::onednn, detail::OneDnnKernel::gemm},
                                           BackendKernel{GemmBackend::openblas}),
                         [](const auto& info) {
                           const bool jit = info.param.kernel == detail::OneDnnKernel::gemm;
                           return std::string(gemm_backend_name(info.param.backend)) + (jit ? "_sgemm" : "");
                         });

TEST(GemmBackendChoice, NamesRoundTrip) {
  for (GemmBackend b : {GemmBackend::onednn, GemmBackend::openblas})
    EXPECT_EQ(parse_gemm_backend(gemm_backend_name(b)), b);
}

TEST(GemmBackendChoice, UnknownNameListsValidOnes) {
  const std::string message = error_of([&] { parse_gemm_backend("mkl"); });
  EXPECT_NE(message.find("unknown gemm backend 'mkl'; valid: onednn, openblas"), std::string::npos) << message;
}

TEST(GemmBackendChoice, EnvironmentVariableSelectsBackend) {
  const char* old = std::getenv("ATTEND_GEMM");
  const std::string saved = old ? old : "";
  setenv("ATTEND_GEMM", "openblas", 1);
  EXPECT_EQ(gemm_backend_from_env(), GemmBackend::openblas);
  setenv("ATTEND_GEMM", "onednn", 1);
  EXPECT_EQ(gemm_backend_from_env(), GemmBackend::onednn);
  unsetenv("ATTEND_GEMM");
  EXPECT_EQ(gemm_backend_from_env(), GemmBackend::onednn);  // the measured default
  setenv("ATTEND_GEMM", "cublas", 1);
  const std::string message = error_of([] { gemm_backend_from_env(); });
  EXPECT_NE(message.find("ATTEND_GEMM=cublas"), std::string::npos) << message;
  if (old) setenv("ATTEND_GEMM", saved.c_str(), 1);
  else unsetenv("ATTEND_GEMM");
}

TEST(GemmOneDnn, RepeatedShapeReusesItsPrimitive) {
  set_gemm_backend(GemmBackend::onednn);
  std::vector<float> A(3 * 17), B(17 * 5), C(3 * 5);
  gemm(false, false, 3, 5, 17, 1.0f, A.data(), 17, 0, B.data(), 5, 0, 0.0f, C.data(), 5, 0);
  const int64_t after_first = detail::onednn_cached_primitives();
  for (int i = 0; i < 3; ++i)
    gemm(false, false, 3, 5, 17, 1.0f, A.data(), 17, 0, B.data(), 5, 0, 0.0f, C.data(), 5, 0);
  EXPECT_EQ(detail::onednn_cached_primitives(), after_first);
  gemm(false, false, 3, 5, 17, 0.5f, A.data(), 17, 0, B.data(), 5, 0, 0.0f, C.data(), 5, 0);  // scaled: new
  gemm(false, false, 3, 5, 17, 0.25f, A.data(), 17, 0, B.data(), 5, 0, 0.0f, C.data(), 5, 0);  // same one
  EXPECT_EQ(detail::onednn_cached_primitives(), after_first + 1);
}

TEST(GemmOneDnn, LargeBackwardShapedProductsRunOnSgemm) {
  using detail::OneDnnKernel;
  EXPECT_EQ(detail::onednn_kernel(false, false, 1920, 512, 2048, 1), OneDnnKernel::gemm);  // dx
  EXPECT_EQ(detail::onednn_kernel(false, false, 2048, 512, 1920, 1), OneDnnKernel::gemm);  // dw (A transposed)
  EXPECT_EQ(detail::onednn_kernel(false, true, 1920, 2048, 512, 1), OneDnnKernel::matmul);  // forward x w^T
  EXPECT_EQ(detail::onednn_kernel(false, false, 1920, 256, 1024, 1), OneDnnKernel::matmul);  // narrower
  EXPECT_EQ(detail::onednn_kernel(false, false, 32, 512, 2048, 1), OneDnnKernel::matmul);    // few rows
  EXPECT_EQ(detail::onednn_kernel(false, false, 1920, 512, 2048, 2), OneDnnKernel::matmul);  // batched
  detail::set_onednn_kernel(OneDnnKernel::matmul);
  EXPECT_EQ(detail::onednn_kernel(false, false, 1920, 512, 2048, 1), OneDnnKernel::matmul);
  detail::set_onednn_kernel(OneDnnKernel::automatic);
}

TEST(GemmOneDnn, Bf16BackwardShapedProductsRunOnTheJitGemmAtAnyWidth) {
  using detail::OneDnnKernel;
  EXPECT_EQ(detail::onednn_kernel(true, false, 1920, 512, 2048, 1), OneDnnKernel::gemm);  // dx
  EXPECT_EQ(detail::onednn_kernel(true, false, 256, 256, 1920, 1), OneDnnKernel::gemm);   // dw, width 256
  EXPECT_EQ(detail::onednn_kernel(true, false, 32, 40, 48, 1), OneDnnKernel::gemm);       // small
  EXPECT_EQ(detail::onednn_kernel(true, true, 1920, 2048, 512, 1), OneDnnKernel::matmul);  // forward x w^T
  EXPECT_EQ(detail::onednn_kernel(true, false, 1920, 512, 2048, 2), OneDnnKernel::matmul); // batched
  detail::set_onednn_kernel(OneDnnKernel::matmul);
  EXPECT_EQ(detail::onednn_kernel(true, false, 1920, 512, 2048, 1), OneDnnKernel::matmul);
  detail::set_onednn_kernel(OneDnnKernel::automatic);
}

// The automatic choice on a shape it sends to the jit gemm: no matmul primitive is made, the
// result matches matmul's (norm-wise, as across thread counts above; on this CPU fp32 agrees
// exactly) and repeats bit for bit, which training's same-seed, same-loss guarantee needs.
// dw-shaped: A transposed, accumulating into C (beta 1); fp32 (sgemm), and bf16 operands.
void expect_jit_gemm_matches_matmul(bool bf16) {
  set_gemm_backend(GemmBackend::onednn);
  GemmPrecisionScope precision(bf16 ? GemmPrecision::bf16 : GemmPrecision::fp32);
  const int64_t M = 512, N = 640, K = 576;
  ASSERT_EQ(detail::onednn_kernel(bf16, false, M, N, K, 1), detail::OneDnnKernel::gemm);
  const std::vector<float> A = random_vector(K * M, 6), B = random_vector(K * N, 7), C0 = random_vector(M * N, 8);
  auto run = [&](detail::OneDnnKernel kernel) {
    detail::set_onednn_kernel(kernel);
    std::vector<float> C = C0;
    gemm(true, false, M, N, K, 0.5f, A.data(), M, 0, B.data(), N, 0, 1.0f, C.data(), N, 0);
    detail::set_onednn_kernel(detail::OneDnnKernel::automatic);
    return C;
  };
  const int64_t primitives = detail::onednn_cached_primitives();
  const std::vector<float> first = run(detail::OneDnnKernel::automatic);
  EXPECT_EQ(run(detail::OneDnnKernel::automatic), first);
  EXPECT_EQ(detail::onednn_cached_primitives(), primitives);  // jit gemm: no matmul primitive made
  const std::vector<float> matmul = run(detail::OneDnnKernel::matmul);
  EXPECT_EQ(detail::onednn_cached_primitives(), primitives + 1);
  expect_agree_normwise(matmul, first);
}

TEST(GemmOneDnn, SgemmMatchesMatmulAndRepeatsBitForBit) { expect_jit_gemm_matches_matmul(false); }
TEST(GemmOneDnn, Bf16JitGemmMatchesMatmulAndRepeatsBitForBit) { expect_jit_gemm_matches_matmul(true); }

TEST(GemmOpenBlas, MissingLibraryNamesPathAndPackage) {
  const std::string msg = error_of([] { detail::open_openblas({"/nonexistent/libopenblas.so.0"}); });
  EXPECT_NE(msg.find("/nonexistent/libopenblas.so.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("libopenblas0-openmp"), std::string::npos) << msg;
}

namespace {
// Runs f with OPENBLAS_CORETYPE set to `value` (unset when null), then restores it.
void with_coretype(const char* value, const std::function<void()>& f) {
  const char* old = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = old ? old : "";
  if (value) setenv("OPENBLAS_CORETYPE", value, 1);
  else unsetenv("OPENBLAS_CORETYPE");
  f();
  if (old) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else unsetenv("OPENBLAS_CORETYPE");
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}
}  // namespace

// OpenBLAS 0.3.21 may take this CPU for a Prescott (SSE3 kernels, 3-4x slower), so
// the loader sets OPENBLAS_CORETYPE before dlopen -- unless the user already has.
// (A nonexistent path: the variable is set, but no library initialises with it.)
TEST(GemmOpenBlas, SetsCoreTypeBeforeLoading) {
  with_coretype(nullptr, [] {
    EXPECT_THROW(detail::open_openblas({"/nonexistent/libopenblas.so.0"}), Error);
    ASSERT_NE(std::getenv("OPENBLAS_CORETYPE"), nullptr);
    EXPECT_EQ(std::string(std::getenv("OPENBLAS_CORETYPE")), "Cooperlake");
  });
}

TEST(GemmOpenBlas, KeepsTheUsersCoreType) {
  with_coretype("Zen", [] {
    EXPECT_THROW(detail::open_openblas({"/nonexistent/libopenblas.so.0"}), Error);
    EXPECT_EQ(std::string(std::getenv("OPENBLAS_CORETYPE")), "Zen");
  });
}

TEST(GemmOpenBlas, RunsTheKernelsOfTheCoreTypeSet) {
  const std::string core = lower(detail::openblas_core_name());  // loads the library
  ASSERT_NE(std::getenv("OPENBLAS_CORETYPE"), nullptr);
  EXPECT_EQ(core, lower(std::getenv("OPENBLAS_CORETYPE")));
  EXPECT_NE(core, "prescott");
}

TEST(Threads, SetNumThreadsSetsTheCount) {
  const int saved = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), omp_get_num_procs());
  set_num_threads(saved);
}

TEST(Threads, TinyProductRunsSingleThreadedAndRestoresTheCount) {
  const int saved = num_threads();
  set_num_threads(2);
  std::vector<float> A{1, 2}, B{3, 4}, C(1);
  gemm(false, false, 1, 1, 2, 1.0f, A.data(), 2, 0, B.data(), 1, 0, 0.0f, C.data(), 1, 0);
  EXPECT_EQ(C[0], 11.0f);
  EXPECT_EQ(num_threads(), 2);
  set_num_threads(saved);
}

TEST(Threads, NegativeCountIsAnError) {
  const std::string message = error_of([&] { set_num_threads(-2); });
  EXPECT_NE(message.find("set_num_threads: -2 threads"), std::string::npos) << message;
}
