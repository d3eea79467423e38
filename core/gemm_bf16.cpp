// bf16 gemm: the precision setting, f32 -> bf16 rounding, and the call that rounds
// both operands into scratch and runs oneDNN's bf16 matmul (core/gemm_onednn.cpp).
#include "core/gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>

#include "core/autograd.h"
#include "core/error.h"
#include "core/gemm.h"

namespace attend {
namespace {

std::atomic<int> g_precision{int(GemmPrecision::fp32)};

// Elements below which a conversion runs on one thread.
constexpr int64_t kConvertParallelMin = int64_t(1) << 16;

// A 64-byte aligned buffer that only grows.
class Scratch {
 public:
  bf16* get(size_t n) {
    if (n > capacity_) {
      const size_t bytes = (n * sizeof(bf16) + 63) / 64 * 64;
      data_.reset(static_cast<bf16*>(std::aligned_alloc(64, bytes)));
      CHECK(data_ != nullptr, "gemm_bf16: could not allocate {} bytes of scratch", bytes);
      capacity_ = bytes / sizeof(bf16);
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(bf16* p) const { std::free(p); }
  };
  std::unique_ptr<bf16, Free> data_;
  size_t capacity_ = 0;
};

// dst: (n) = bf16(src: (n)), round to nearest even, NaN kept quiet.
void round_row(bf16* dst, const float* src, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512BF16__)
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(reinterpret_cast<void*>(dst + i), (__m512i)v);
  }
#endif
  for (; i < n; ++i) dst[i] = to_bf16(src[i]);
}

// Packs the stored matrices of one operand: `count` matrices `stride` apart, each rows x
// cols with row stride ld, into dst as count contiguous rows x cols matrices.
// Inside a parallel region (a kernel's per-thread chunk) it runs on the calling thread
// without opening a nested region.
void pack(bf16* dst, const float* src, int64_t count, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t total = count * rows;
  auto row = [=](int64_t r) { round_row(dst + r * cols, src + (r / rows) * stride + (r % rows) * ld, cols); };
  if (total * cols <= kConvertParallelMin || omp_in_parallel()) {
    for (int64_t r = 0; r < total; ++r) row(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < total; ++r) row(r);
}

}  // namespace

void set_gemm_precision(GemmPrecision precision) { g_precision.store(int(precision)); }
GemmPrecision gemm_precision() { return GemmPrecision(g_precision.load(std::memory_order_relaxed)); }

GemmPrecision parse_gemm_precision(std::string_view name) {
  if (name == "fp32") return GemmPrecision::fp32;
  if (name == "bf16") return GemmPrecision::bf16;
  ATTEND_ERROR("unknown precision '{}'; valid: fp32, bf16", name);
}

DType activation_dtype() {
  return gemm_precision() == GemmPrecision::bf16 && autograd::grad_enabled() ? DType::bf16 : DType::f32;
}

const char* gemm_precision_name(GemmPrecision precision) {
  return precision == GemmPrecision::bf16 ? "bf16" : "fp32";
}

void convert_to_bf16(bf16* dst, const float* src, int64_t rows, int64_t cols, int64_t ld) {
  CHECK(rows >= 0 && cols >= 0 && ld >= cols, "convert_to_bf16: rows {} cols {} ld {}", rows, cols, ld);
  pack(dst, src, 1, 0, rows, cols, ld);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
               int64_t ldc, int64_t stride_c, int64_t batch) {
  detail::gemm_in(GemmPrecision::bf16, trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C,
                  ldc, stride_c, batch);
}

void gemm_bf16_pre(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, Bf16Operand A,
                   int64_t lda, int64_t stride_a, Bf16Operand B, int64_t ldb, int64_t stride_b, float beta, float* C,
                   int64_t ldc, int64_t stride_c, int64_t batch) {
  CHECK((A.f32 == nullptr) != (A.rounded == nullptr) && (B.f32 == nullptr) != (B.rounded == nullptr),
        "gemm_bf16_pre: give each operand either as f32 or rounded, not both or neither");
  detail::gemm_in(GemmPrecision::bf16, trans_a, trans_b, M, N, K, alpha, A.f32, lda, stride_a, B.f32, ldb, stride_b,
                  beta, C, ldc, stride_c, batch, A.rounded, B.rounded);
}

void detail::gemm_bf16_rounded(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                               int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                               const bf16* A_rounded, const bf16* B_rounded) {
  thread_local Scratch scratch_a, scratch_b;
  // Stored shapes: A is M x K (K x M when transposed), B is K x N (N x K).
  const int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  const int64_t a_count = batch > 1 && stride_a != 0 ? batch : 1;
  const int64_t b_count = batch > 1 && stride_b != 0 ? batch : 1;
  const bf16* a = A_rounded;
  int64_t a_ld = lda, a_stride = batch > 1 ? stride_a : 0;
  if (a == nullptr) {
    bf16* packed = scratch_a.get(size_t(a_count * a_rows * a_cols));
    pack(packed, A, a_count, stride_a, a_rows, a_cols, lda);
    a = packed, a_ld = a_cols, a_stride = a_count > 1 ? a_rows * a_cols : 0;
  }
  const bf16* b = B_rounded;
  int64_t b_ld = ldb, b_stride = batch > 1 ? stride_b : 0;
  if (b == nullptr) {
    bf16* packed = scratch_b.get(size_t(b_count * b_rows * b_cols));
    pack(packed, B, b_count, stride_b, b_rows, b_cols, ldb);
    b = packed, b_ld = b_cols, b_stride = b_count > 1 ? b_rows * b_cols : 0;
  }
  gemm_onednn_bf16(trans_a, trans_b, M, N, K, alpha, a, a_ld, a_stride, b, b_ld, b_stride, beta, C, ldc, stride_c,
                   batch);
}

}  // namespace attend
