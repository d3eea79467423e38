// Raw-pointer kernels for the non-product work of linear() and linear_relu()
// (core/ops_matmul.cpp): setting the bias, adding bias and relu after the gemm, and the
// bias gradient, fused with relu's backward mask and bf16 rounding of dy when needed. Shapes: R rows
// (tokens), N output columns, row-major and contiguous. Sums over rows run in a fixed
// order (per chunk of rows, then the chunks in order), so they do not depend on the
// thread count. Backward kernels accumulate (+=) into gradients.
//
//   kernels::bias_relu_forward(y.data(), bias.data(), R, N);   // after y = x @ w^T
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace attend::kernels {

// y: (R,N) = every row set to bias: (N)
void linear_bias_forward(float* y, const float* bias, int64_t R, int64_t N);
// dbias: (N) += dy: (R,N) summed over rows
void linear_bias_backward(float* dbias, const float* dy, int64_t R, int64_t N);

// y: (R,N) += bias: (N) on every row (after a product with beta = 0: measured a few
// per cent faster than setting y to the bias and multiplying with beta = 1)
void bias_add_forward(float* y, const float* bias, int64_t R, int64_t N);
// y: (R,N) = max(y + bias, 0); bias: (N) or null (no bias)
void bias_relu_forward(float* y, const float* bias, int64_t R, int64_t N);
// dz = dy * [y > 0] (or dz = dy when y is null: no relu) and dbias += dz summed over
// rows, in one pass over dy. dy, y: (R,N); dz: (R,N) f32, or null when dz16 takes it
// rounded to bf16 instead (for a bf16 gemm); dbias: (N) or null (not wanted).
void linear_output_backward(float* dz, bf16* dz16, float* dbias, const float* dy, const float* y, int64_t R,
                            int64_t N);
// The same with relu's output kept rounded to bf16 (y16 > 0 exactly where y > 0, but for
// outputs below the smallest normal float, which rounding may flush to zero).
void linear_output_backward(float* dz, bf16* dz16, float* dbias, const float* dy, const bf16* y16, int64_t R,
                            int64_t N);

}  // namespace attend::kernels
