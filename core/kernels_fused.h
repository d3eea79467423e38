// Raw-pointer kernels behind the fused ops of core/ops.h (softmax, log_softmax,
// layer_norm, add_layer_norm (in kernels_layer_norm.cpp), dropout, dropout_add, embedding,
// cross_entropy), forward and backward side by side.
// Shapes: N rows, D (or V) columns, all row-major and contiguous. Backward kernels
// accumulate (+=) into their gradient outputs. Rows are split over OpenMP threads and
// each row's arithmetic runs in a fixed order, so results do not depend on the thread
// count; reductions across rows (dgamma, dbeta, dweight) are split over columns instead.
//
//   kernels::softmax_forward(y.data(), x.data(), N, D);
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace attend::kernels {

// y = softmax(x) per row. x, y: (N,D). A row of only -inf gives zeros.
void softmax_forward(float* y, const float* x, int64_t N, int64_t D);
// dx += y * (dy - sum(dy * y)) per row. dx, y, dy: (N,D)
void softmax_backward(float* dx, const float* y, const float* dy, int64_t N, int64_t D);

// y = x - max - log(sum(exp(x - max))) per row. x, y: (N,D)
void log_softmax_forward(float* y, const float* x, int64_t N, int64_t D);
// dx += dy - exp(y) * sum(dy) per row. dx, y, dy: (N,D)
void log_softmax_backward(float* dx, const float* y, const float* dy, int64_t N, int64_t D);

// y = (x - mean) * rstd * gamma + beta per row, rstd = 1/sqrt(var + eps) (biased var).
// x, y: (N,D); gamma, beta: (D) or null (1 and 0); saves mean, rstd: (N)
// y16: (N,D) or null: also receives y rounded to bf16.
void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                        const float* beta, int64_t N, int64_t D, float eps, bf16* y16 = nullptr);
// dx, dy, x: (N,D); dgamma, dbeta: (D) or null (not wanted); gamma: (D) or null; mean, rstd: (N).
// dx may be null (not wanted).
void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* gamma, int64_t N, int64_t D);

// out = layer_norm(z) with z = x + dropout(y) (p > 0) or x + y (p = 0), row by row. x, y,
// out, z (saved for backward): (N,D); mask: (N,D) or null, dropout_forward's mask of the
// (N,D) tensor y; gamma, beta: (D) or null; mean, rstd: (N). Stream as dropout_forward.
// out16: (N,D) or null: also receives out rounded to bf16.
void add_layer_norm_forward(float* out, float* z, uint8_t* mask, float* mean, float* rstd, const float* x,
                            const float* y, const float* gamma, const float* beta, int64_t N, int64_t D, float eps,
                            float p, uint64_t seed, uint64_t stream, bf16* out16 = nullptr);
// dz from layer_norm_backward, then dx += dz and dy += dz * mask * scale (mask null: dy +=
// dz), or = where assign_x, assign_y say (new gradient buffers); dx, dy, dgamma, dbeta
// null when not wanted. Shapes as add_layer_norm_forward.
void add_layer_norm_backward(float* dx, float* dy, float* dgamma, float* dbeta, const float* dout, const float* z,
                             const uint8_t* mask, const float* mean, const float* rstd, const float* gamma, int64_t N,
                             int64_t D, float scale, bool assign_x = false, bool assign_y = false);

// Element i is kept when dropout_uniform(seed, stream, i) >= p (core/rng.h), then scaled
// by 1/(1-p); the draws run vectorised, eight elements per Philox evaluation. y, x: (n);
// mask: (n) or null, 1 where kept.
void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float p, uint64_t seed,
                     uint64_t stream);
// dx += dy * mask * scale. dx, dy, mask: (n)
void dropout_backward(float* dx, const uint8_t* mask, const float* dy, int64_t n, float scale);
// keep: (len) = dropout_forward's mask of elements i0 .. i0+len-1 (one thread).
void dropout_keep(uint8_t* keep, int64_t i0, int64_t len, float p, uint64_t seed, uint64_t stream);
// mask: (n) = dropout_forward's mask, without applying it (tests, benchmarks).
void dropout_keep_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream);
// z = x + dropout(y) with dropout_forward's mask. z, x, y: (n); mask: (n) or null.
void dropout_add_forward(float* z, uint8_t* mask, const float* x, const float* y, int64_t n, float p,
                         uint64_t seed, uint64_t stream);
// dx += dz, dy += dz * mask * scale; dx or dy null when not wanted. All (n).
void dropout_add_backward(float* dx, float* dy, const uint8_t* mask, const float* dz, int64_t n, float scale);

// y[i] = w[ids[i]]. y: (n,D), ids: (n) in [0,V), w: (V,D)
void embedding_forward(float* y, const int64_t* ids, const float* w, int64_t n, int64_t D);
// dw[ids[i]] += dy[i] unless ids[i] == padding_idx. dw: (V,D), dy: (n,D)
void embedding_backward(float* dw, const int64_t* ids, const float* dy, int64_t n, int64_t D,
                        int64_t padding_idx);

// loss[i] = (1-e) * -logp[i,t_i] + e * mean_v(-logp[i,v]), 0 where t_i == ignore_index.
// logits: (N,V), target: (N) in [0,V) or ignore_index; loss, lse (log-sum-exp saved for
// backward): (N)
void cross_entropy_forward(float* loss, float* lse, const float* logits, const int64_t* target, int64_t N,
                           int64_t V, float e, int64_t ignore_index);
// The same on bf16 logits (each row widened to f32; the arithmetic is f32).
void cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int64_t* target, int64_t N,
                           int64_t V, float e, int64_t ignore_index);
// dlogits[i] += scale[i] * (softmax(logits[i]) - (1-e) * onehot(t_i) - e/V); ignored rows get
// nothing. overwrite: = instead of += (ignored rows become 0), and dlogits may be logits.
// dlogits, logits: (N,V); lse, target, scale: (N)
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int64_t* target,
                            const float* scale, int64_t N, int64_t V, float e, int64_t ignore_index,
                            bool overwrite = false);
// bf16 logits: the gradient (overwrite, computed in f32 from the bf16 logits, rounded to
// nearest even) written over them.
void cross_entropy_backward_bf16(bf16* logits, const float* lse, const int64_t* target, const float* scale,
                                 int64_t N, int64_t V, float e, int64_t ignore_index);

}  // namespace attend::kernels
