// gemm(): argument checks, degenerate sizes, and the choice of backend.
#include "core/gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>

#include <omp.h>

#include "core/error.h"
#include "core/gemm_bf16.h"
#include "core/kernels_linear.h"
#include "core/profile.h"

namespace attend {
namespace {

// Measured on this machine with bench_core (docs/benchmarks.md): oneDNN is faster on
// every transformer shape there.
constexpr GemmBackend kDefaultBackend = GemmBackend::onednn;

// Products with fewer multiply-adds (~64^3; a few microseconds on one core) run on one
// thread: waking a second costs more, and far more when other processes hold the cores.
constexpr int64_t kSingleThreadWork = int64_t(1) << 18;

// Runs its scope with one OpenMP thread (for the calling thread's parallel regions).
class SingleThreadScope {
 public:
  explicit SingleThreadScope(bool on) : saved_(on ? omp_get_max_threads() : 0) {
    if (saved_ > 1) omp_set_num_threads(1);
  }
  ~SingleThreadScope() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int saved_;
};

// Batches of products this small (decoding attention: one query row against the K/V
// cache of each sentence and head) cost oneDNN more to set up than to compute; they run
// on plain loops in fp32, in parallel over the batch.
constexpr int64_t kTinyRows = 4, kTinyMinBatch = 8, kTinyMaxK = 512, kTinyMaxN = 2048;

std::atomic<int> g_backend{-1};  // -1: not chosen yet
std::atomic<int64_t> g_calls{0};

// Runs a product of `work` multiply-adds (all of a batch's): on one thread below
// kSingleThreadWork, timed for the profile (core/profile.h) when it is on. run() returns
// whether it multiplied; nothing is recorded when it did not.
template <typename Run>
bool run_product(int64_t work, Run&& run) {
  SingleThreadScope single(work < kSingleThreadWork);
  const bool profiling = profile::enabled();
  const auto t0 = profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  if (!run()) return false;
  if (profiling)
    profile::gemm_call(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                       2.0 * double(work));
  return true;
}

}  // namespace

GemmBackend gemm_backend_from_env() {
  const char* env = std::getenv("ATTEND_GEMM");
  if (env == nullptr || *env == '\0') return kDefaultBackend;
  try {
    return parse_gemm_backend(env);
  } catch (const Error&) {
    ATTEND_ERROR("ATTEND_GEMM={} is not a gemm backend; use onednn or openblas", env);
  }
}

namespace {

// C[b] = beta * C[b] (beta == 0 writes zeros without reading C): the whole product
// when K == 0 or alpha == 0.
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i) {
      float* row = C + b * stride_c + i * ldc;
      if (beta == 0.0f)
        std::fill(row, row + N, 0.0f);
      else if (beta != 1.0f)
        for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
}

// gemm() for M <= kTinyRows: per batch, row i of C from row i of op(A) with dot
// products (B transposed: its rows are B's columns) or a sum of B's rows.
void gemm_tiny(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
               int64_t ldc, int64_t stride_c, int64_t batch) {
#pragma omp parallel for schedule(static) if (batch * M * N * K >= kSingleThreadWork)
  for (int64_t p = 0; p < batch; ++p) {
    const float* a = A + p * stride_a;
    const float* b = B + p * stride_b;
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + p * stride_c + i * ldc;
      const float* ai = a + (trans_a ? i : i * lda);
      const int64_t ak = trans_a ? lda : 1;  // step between A(i, k) and A(i, k+1)
      if (trans_b) {
        for (int64_t j = 0; j < N; ++j) {
          const float* bj = b + j * ldb;
          float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
          for (int64_t k = 0; k < K; ++k) acc += ai[k * ak] * bj[k];
          c[j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[j]);
        }
      } else {
        for (int64_t j = 0; j < N; ++j) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
        for (int64_t k = 0; k < K; ++k) {
          const float s = alpha * ai[k * ak];
          const float* bk = b + k * ldb;
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) c[j] += s * bk[j];
        }
      }
    }
  }
}

}  // namespace

const char* gemm_backend_name(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::onednn: return "onednn";
    case GemmBackend::openblas: return "openblas";
  }
  return "?";
}

GemmBackend parse_gemm_backend(std::string_view name) {
  if (name == "onednn") return GemmBackend::onednn;
  if (name == "openblas") return GemmBackend::openblas;
  ATTEND_ERROR("unknown gemm backend '{}'; valid: onednn, openblas", name);
}

void set_gemm_backend(GemmBackend backend) { g_backend.store(int(backend)); }

GemmBackend gemm_backend() {
  int b = g_backend.load();
  if (b < 0) {
    int expected = -1;
    g_backend.compare_exchange_strong(expected, int(gemm_backend_from_env()));
    b = g_backend.load();
  }
  return GemmBackend(b);
}

int64_t gemm_call_count() { return g_calls.load(); }

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
          int64_t stride_c, int64_t batch) {
  detail::gemm_in(gemm_precision(), trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C,
                  ldc, stride_c, batch);
}

void detail::gemm_in(GemmPrecision precision, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                     float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                     int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                     const bf16* A_rounded, const bf16* B_rounded) {
  CHECK(M >= 0 && N >= 0 && K >= 0 && batch >= 0, "gemm: negative size M={} N={} K={} batch={}", M, N, K, batch);
  // Row-major: a stored matrix's rows are ld apart and hold `width` elements.
  const int64_t a_width = trans_a ? M : K, b_width = trans_b ? K : N;
  CHECK(lda >= std::max<int64_t>(1, a_width), "gemm: lda={} < {} (A is {}x{}{})", lda, a_width, M, K,
        trans_a ? ", transposed" : "");
  CHECK(ldb >= std::max<int64_t>(1, b_width), "gemm: ldb={} < {} (B is {}x{}{})", ldb, b_width, K, N,
        trans_b ? ", transposed" : "");
  CHECK(ldc >= std::max<int64_t>(1, N), "gemm: ldc={} < N={}", ldc, N);
  CHECK(stride_a >= 0 && stride_b >= 0 && stride_c >= 0, "gemm: negative batch stride ({}, {}, {})", stride_a,
        stride_b, stride_c);
  CHECK(batch <= 1 || stride_c >= ldc * (M - 1) + N || M == 0 || N == 0,
        "gemm: stride_c={} makes the {} outputs of {}x{} (ldc {}) overlap", stride_c, batch, M, N, ldc);
  g_calls.fetch_add(1, std::memory_order_relaxed);
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc, stride_c, batch);
  run_product(M * N * K * batch, [&] {
    if (M <= kTinyRows && batch >= kTinyMinBatch && K <= kTinyMaxK && N <= kTinyMaxN && A_rounded == nullptr &&
        B_rounded == nullptr)
      gemm_tiny(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
    else if (precision == GemmPrecision::bf16)
      detail::gemm_bf16_rounded(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                                stride_c, batch, A_rounded, B_rounded);
    else if (gemm_backend() == GemmBackend::onednn)
      detail::gemm_onednn(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                          stride_c, batch);
    else
      detail::gemm_openblas(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                            stride_c, batch);
    return true;
  });
}

void gemm_linear(int64_t M, int64_t N, int64_t K, const float* A, const float* W, const float* bias, bool relu,
                 float* C) {
  CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_linear: M {} N {} K {}", M, N, K);
  if (M == 0 || N == 0 || K == 0 || gemm_precision() != GemmPrecision::fp32 || gemm_backend() != GemmBackend::onednn) {
    gemm(false, true, M, N, K, 1.0f, A, std::max<int64_t>(K, 1), 0, W, std::max<int64_t>(K, 1), 0, 0.0f, C, N, 0);
    if (relu) kernels::bias_relu_forward(C, bias, M, N);
    else if (bias) kernels::bias_add_forward(C, bias, M, N);
    return;
  }
  g_calls.fetch_add(1, std::memory_order_relaxed);
  run_product(M * N * K, [&] {
    detail::gemm_onednn_linear(M, N, K, A, W, /*bf16=*/false, bias, relu, C, /*c_bf16=*/false);
    return true;
  });
}

void gemm_bf16_linear(int64_t M, int64_t N, int64_t K, const bf16* A, const bf16* W, const float* bias, bool relu,
                      void* C, bool c_bf16) {
  CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_bf16_linear: M {} N {} K {}", M, N, K);
  g_calls.fetch_add(1, std::memory_order_relaxed);
  if (M == 0 || N == 0) return;
  if (K == 0) {  // no product: the bias (and relu) alone
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const float v = relu ? std::max(bias ? bias[j] : 0.0f, 0.0f) : bias ? bias[j] : 0.0f;
        if (c_bf16) static_cast<bf16*>(C)[i * N + j] = to_bf16(v);
        else static_cast<float*>(C)[i * N + j] = v;
      }
    return;
  }
  run_product(M * N * K, [&] {
    detail::gemm_onednn_linear(M, N, K, A, W, /*bf16=*/true, bias, relu, C, c_bf16);
    return true;
  });
}

bool detail::gemm_packed(PackedWeight& w, int64_t M, const void* A, int64_t lda, const float* bias, float* C,
                         int64_t ldc) {
  int64_t N = 0, K = 0;
  detail::packed_weight_size(w, N, K);
  if (M == 0) return true;
  if (!run_product(M * N * K, [&] { return detail::gemm_onednn_packed(w, M, A, lda, bias, C, ldc); })) return false;
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace attend
