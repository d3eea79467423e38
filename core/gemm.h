// Single-precision matrix products on raw row-major memory, through one of two backends:
// oneDNN (matmul primitive, cached per shape, or its jit sgemm for large backward-shaped
// products: detail::onednn_kernel) or OpenBLAS (loaded at run time).
//
//   // C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b < batch, where op(X) = X or X^T,
//   // op(A) is MxK, op(B) is KxN; A[b] starts at A + b*stride_a (stride 0 = shared).
//   gemm(false, true, M, N, K, 1.0f, x, K, 0, w, K, 0, 0.0f, y, N, 0);   // y = x @ w^T
//
// The backend is ATTEND_GEMM=onednn|openblas from the environment, or set_gemm_backend()
// (the config calls it); the default is the one that measured faster here (docs/benchmarks.md).
// With beta == 0, C is not read (it may hold garbage or NaN). Products of fewer than
// ~64^3 multiply-adds run on one thread (cheaper than waking a second). Batches (>= 8)
// of products with at most 4 rows (decoding attention) run on plain fp32 loops, whatever
// the backend and precision: oneDNN's per-call setup costs more than they do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace attend {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,  //
          const float* A, int64_t lda, int64_t stride_a,                             //
          const float* B, int64_t ldb, int64_t stride_b,                             //
          float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch = 1);

// linear()'s product: C: (M,N) contiguous = A: (M,K) @ W^T (row-major, W: (N,K)), plus
// bias: (N) when not null, then relu when `relu`. On the oneDNN backend in fp32 the bias
// and relu are the product's epilogue (no pass over C after it); otherwise, and in gemm
// precision bf16, gemm() and then one pass over C. Counted and profiled as gemm().
void gemm_linear(int64_t M, int64_t N, int64_t K, const float* A, const float* W, const float* bias, bool relu,
                 float* C);

enum class GemmBackend { onednn, openblas };

void set_gemm_backend(GemmBackend backend);
GemmBackend gemm_backend();  // gemm_backend_from_env() on first use, unless set_gemm_backend came first
GemmBackend gemm_backend_from_env();  // ATTEND_GEMM if set, else the measured default (onednn)
const char* gemm_backend_name(GemmBackend backend);
GemmBackend parse_gemm_backend(std::string_view name);  // throws, listing the valid names

// Calls made through gemm() since the process started (tests and profiling).
int64_t gemm_call_count();

namespace detail {
// The backends; arguments already checked by gemm(), M, N, K, batch > 0.
void gemm_onednn(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                 float* C, int64_t ldc, int64_t stride_c, int64_t batch);
void gemm_openblas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                   float* C, int64_t ldc, int64_t stride_c, int64_t batch);
// dlopen()s the first of `paths` that loads (after setting OPENBLAS_CORETYPE); throws
// naming every path tried and the Debian package when none does. Returns the handle.
void* open_openblas(const std::vector<std::string>& paths);
// The oneDNN backend runs a product on one of two kernels: its matmul primitive (brgemm)
// or its BLAS-style jit gemm (dnnl_sgemm for fp32, dnnl_gemm_bf16bf16f32 for bf16).
// fp32, timed per shape inside base training steps here (docs/benchmarks.md): sgemm ran
// the products with B not transposed (the backward ones, dx = dy w and dw = dy^T x) of
// width 512 and more at 397-438 GFLOP/s against matmul's 366-412, except two dw shapes (4%
// slower), and forward products x w^T of 512 outputs 15-20% slower; at width 256 (small
// preset) matmul was faster on nearly every shape, and on forward products of 32-128 rows
// (decoding; a probe) by 1.3-2.7x. bf16, in a probe on the base step's backward shapes
// with cold caches: the jit gemm ran dw products (A transposed) at 713-835 GFLOP/s against
// matmul's 635-758, dx products at 751-832 against 740-806; at width 256 it was faster on
// most shapes and slower on two (by 5% and 3%). In base bf16 training steps the products
// took 690-731 ms per step against 750-797 on matmul (docs/benchmarks.md). `automatic`
// (the default) picks the jit gemm for unbatched products with B not transposed: in fp32
// when M, N, K >= kSgemmMinDim, in bf16 always; else matmul, and matmul where oneDNN has
// no bf16 jit gemm for the CPU. The choice depends on the shape alone, so a run repeats
// bit for bit. Tests force either.
enum class OneDnnKernel { automatic, matmul, gemm };
constexpr int64_t kSgemmMinDim = 512;
void set_onednn_kernel(OneDnnKernel kernel);  // both precisions
// The kernel a product of this shape runs on, fp32 or (`bf16`) bf16 operands.
OneDnnKernel onednn_kernel(bool bf16, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t batch);
// Matmul primitives the oneDNN backend holds (one per distinct call shape).
int64_t onednn_cached_primitives();
// A weight w: (N,K) row-major, f32 (bf16 when `bf16`), copied once into the layout
// oneDNN's matmul prefers for products of about M rows (decoding: the weights do not
// change). Null when oneDNN has no such layout. Opaque outside gemm_onednn.cpp.
struct PackedWeight;
std::shared_ptr<PackedWeight> pack_weight(const void* w, bool bf16, int64_t N, int64_t K, int64_t M);
// C: (M,N) = A: (M,K) row-major with leading dimension lda (f32, or bf16 when the weight
// is) @ w^T, plus bias: (N) on every row when not null (in the product's epilogue).
// Counted and profiled like gemm(). Returns false, C untouched, when oneDNN has only its
// reference kernel for this M (use the plain weight then).
bool gemm_packed(PackedWeight& w, int64_t M, const void* A, int64_t lda, const float* bias, float* C, int64_t ldc);
bool gemm_onednn_packed(PackedWeight& w, int64_t M, const void* A, int64_t lda, const float* bias, float* C,
                        int64_t ldc);
void packed_weight_size(const PackedWeight& w, int64_t& N, int64_t& K);
// Passes a thread count on to OpenBLAS now if it is loaded, else when it loads.
void openblas_set_threads(int n);
// OpenBLAS's name for the kernels it runs (e.g. "Cooperlake"); loads the library.
std::string openblas_core_name();
}  // namespace detail

}  // namespace attend
