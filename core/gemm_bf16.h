// Mixed precision matrix products. With the precision set to bf16, every gemm() call
// (so every matmul and linear, forward and backward) rounds its two f32 operands to
// bf16 (round to nearest even) and multiplies them on oneDNN with f32 accumulation and
// an f32 result; weights, gradients, optimizer state and every other op stay f32.
// Batches of tiny products (at most 4 rows: decoding attention) stay fp32 (core/gemm.h).
// train.precision and `attend bench --precision` set it.
//
//   set_gemm_precision(GemmPrecision::bf16);     // process-wide, until set back
//   gemm(...);                                    // now bf16 x bf16 -> f32
//   gemm_bf16(false, true, M, N, K, 1, x, K, 0, w, K, 0, 0, y, N, 0);  // bf16 whatever the setting
//
// The rounded operands go to per-thread scratch buffers that grow to the largest call
// and are then reused (no allocation per call in steady state). oneDNN picks its bf16
// kernels from the CPU: AVX512-BF16 (vdpbf16ps) here, AMX where present.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/dtype.h"

namespace attend {

enum class GemmPrecision { fp32, bf16 };

void set_gemm_precision(GemmPrecision precision);
GemmPrecision gemm_precision();  // fp32 unless set
GemmPrecision parse_gemm_precision(std::string_view name);  // fp32 | bf16; throws listing them
const char* gemm_precision_name(GemmPrecision precision);

// The type layers keep their products' activations in: bf16 in bf16 training (gemm
// precision bf16 with gradients enabled), as autocast keeps them, else f32. Used for the
// results whose only readers round them anyway (attention's projections, a feed-forward's
// hidden layer).
DType activation_dtype();

// Sets the precision for its lifetime and restores the previous one.
class GemmPrecisionScope {
 public:
  explicit GemmPrecisionScope(GemmPrecision precision) : previous_(gemm_precision()) {
    set_gemm_precision(precision);
  }
  ~GemmPrecisionScope() { set_gemm_precision(previous_); }
  GemmPrecisionScope(const GemmPrecisionScope&) = delete;
  GemmPrecisionScope& operator=(const GemmPrecisionScope&) = delete;

 private:
  GemmPrecision previous_;
};

// gemm() (core/gemm.h) arguments, computed with bf16-rounded A and B.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,  //
               const float* A, int64_t lda, int64_t stride_a,                             //
               const float* B, int64_t ldb, int64_t stride_b,                             //
               float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch = 1);

// One operand of gemm_bf16_pre: f32 values to round now, or bf16 values rounded before
// (e.g. a weight or an activation used by several products), laid out alike.
struct Bf16Operand {
  const float* f32 = nullptr;
  const bf16* rounded = nullptr;
};

// gemm_bf16 where either operand may come already rounded.
void gemm_bf16_pre(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,  //
                   Bf16Operand A, int64_t lda, int64_t stride_a,                               //
                   Bf16Operand B, int64_t ldb, int64_t stride_b,                               //
                   float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch = 1);

// linear()'s product in bf16: C: (M,N) contiguous = A: (M,K) @ W^T (both bf16, row-major,
// W: (N,K)), plus bias: (N) when not null, then relu when `relu`, all in the product's
// epilogue (no pass over C after it); C f32, or bf16 (rounded to nearest even) when c_bf16.
void gemm_bf16_linear(int64_t M, int64_t N, int64_t K, const bf16* A, const bf16* W, const float* bias, bool relu,
                      void* C, bool c_bf16);

// dst: (rows, cols) contiguous = bf16(src: (rows, cols) with row stride ld). Rounds to
// nearest even; NaN stays NaN.
void convert_to_bf16(bf16* dst, const float* src, int64_t rows, int64_t cols, int64_t ld);

namespace detail {
// gemm() in the given precision (argument checks included). A_rounded, B_rounded (bf16
// only): the operand already rounded, laid out as the f32 one (same ld and stride).
void gemm_in(GemmPrecision precision, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
             float* C, int64_t ldc, int64_t stride_c, int64_t batch, const bf16* A_rounded = nullptr,
             const bf16* B_rounded = nullptr);
// Rounds A and B (those not given rounded) into scratch buffers and runs
// gemm_onednn_bf16 (arguments checked, sizes > 0).
void gemm_bf16_rounded(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch, const bf16* A_rounded,
                       const bf16* B_rounded);
// gemm_linear's and gemm_bf16_linear's oneDNN matmul (sizes > 0): A and W f32, or bf16
// when `bf16`.
void gemm_onednn_linear(int64_t M, int64_t N, int64_t K, const void* A, const void* W, bool bf16, const float* bias,
                        bool relu, void* C, bool c_bf16);
// The oneDNN matmul on bf16 operands (f32 C), arguments as gemm_onednn's.
void gemm_onednn_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                      int64_t lda, int64_t stride_a, const bf16* B, int64_t ldb, int64_t stride_b, float beta,
                      float* C, int64_t ldc, int64_t stride_c, int64_t batch);
}  // namespace detail

}  // namespace attend
