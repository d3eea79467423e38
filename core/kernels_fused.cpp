#include "core/kernels_fused.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/kernels.h"
#include "core/gemm_bf16.h"
#include "core/kernels_math.h"
#include "core/kernels_reduce.h"
#include "core/rng.h"

namespace attend::kernels {
namespace {

// Column block of the kernels that reduce over rows (one AVX-512 register is 16 floats).
constexpr int64_t kColumnBlock = 64;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline float row_sum(const float* x, int64_t D) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < D; ++j) s += x[j];
  return s;
}

inline float row_dot(const float* a, const float* b, int64_t D) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < D; ++j) s += a[j] * b[j];
  return s;
}

// sum_j exp(x[j] - m)
inline float row_sum_exp(const float* x, float m, int64_t D) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < D; ++j) s += exp_fast(x[j] - m);
  return s;
}

// log(sum_j exp(x[j])) in one pass over memory: blocks small enough to stay in L1 are
// read twice (max, then sum of exp), the running sum rescaled when the max grows.
// Also sums x into *sum_x when it is given.
inline float row_log_sum_exp(const float* x, int64_t D, float* sum_x) {
  constexpr int64_t kBlock = 1024;
  float m = kNegInf, s = 0, sx = 0;
  for (int64_t b = 0; b < D; b += kBlock) {
    const int64_t len = std::min(kBlock, D - b);
    const float bm = row_max(x + b, len);
    if (bm > m) {
      s *= exp_fast(m - bm);
      m = bm;
    }
    if (m != kNegInf) s += row_sum_exp(x + b, m, len);
    if (sum_x) sx += row_sum(x + b, len);
  }
  if (sum_x) *sum_x = sx;
  return m + std::log(s);
}

}  // namespace

void softmax_forward(float* y, const float* x, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const float* xi = x + i * D;
    float* yi = y + i * D;
    const float m = row_max(xi, D);
    if (m == kNegInf) {
      std::fill(yi, yi + D, 0.0f);
      continue;
    }
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < D; ++j) {
      yi[j] = exp_fast(xi[j] - m);
      s += yi[j];
    }
    const float inv = 1.0f / s;
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) yi[j] *= inv;
  }
}

void softmax_backward(float* dx, const float* y, const float* dy, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const float* yi = y + i * D;
    const float* dyi = dy + i * D;
    float* dxi = dx + i * D;
    const float s = row_dot(dyi, yi, D);
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) dxi[j] += yi[j] * (dyi[j] - s);
  }
}

void log_softmax_forward(float* y, const float* x, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const float* xi = x + i * D;
    float* yi = y + i * D;
    const float m = row_max(xi, D);
    if (m == kNegInf) {
      std::fill(yi, yi + D, kNegInf);
      continue;
    }
    const float log_s = std::log(row_sum_exp(xi, m, D));
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) yi[j] = (xi[j] - m) - log_s;
  }
}

void log_softmax_backward(float* dx, const float* y, const float* dy, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const float* yi = y + i * D;
    const float* dyi = dy + i * D;
    float* dxi = dx + i * D;
    const float s = row_sum(dyi, D);
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) dxi[j] += dyi[j] - exp_fast(yi[j]) * s;
  }
}

namespace {

// Elements per block of the dropout kernels: the block's keep bits are drawn in one
// vectorised loop (dropout_uniforms() of core/rng.h), then applied.
constexpr int64_t kDropoutBlock = 1024;

// keep[j] = 1 when element i0 + j (j < len) is kept: dropout_uniform(seed, stream, i0 + j) >= p.
inline void draw_keep(uint8_t* __restrict keep, int64_t i0, int64_t len, float p, uint64_t seed, uint64_t stream) {
  float u[kDropoutBlock];
  for (int64_t c = 0; c < len; c += kDropoutBlock) {
    const int64_t m = std::min(kDropoutBlock, len - c);
    dropout_uniforms(u, seed, stream, uint64_t(i0 + c), m);
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) keep[c + j] = u[j] >= p ? 1 : 0;
  }
}

// f(i0, len, keep) for every block of n elements, blocks split over the threads; keep
// points into mask when it is given, else into a block-sized scratch array.
template <typename F>
void for_each_dropout_block(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream, F&& f) {
  const int64_t blocks = (n + kDropoutBlock - 1) / kDropoutBlock;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t scratch[kDropoutBlock];
    const int64_t i0 = b * kDropoutBlock, len = std::min(kDropoutBlock, n - i0);
    uint8_t* keep = mask ? mask + i0 : scratch;
    draw_keep(keep, i0, len, p, seed, stream);
    f(i0, len, keep);
  }
}

}  // namespace

void dropout_keep(uint8_t* keep, int64_t i0, int64_t len, float p, uint64_t seed, uint64_t stream) {
  draw_keep(keep, i0, len, p, seed, stream);
}

void dropout_keep_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) {
  for_each_dropout_block(mask, n, p, seed, stream, [](int64_t, int64_t, const uint8_t*) {});
}

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float p, uint64_t seed,
                     uint64_t stream) {
  const float scale = 1.0f / (1.0f - p);
  for_each_dropout_block(mask, n, p, seed, stream, [&](int64_t i0, int64_t len, const uint8_t* keep) {
    float* __restrict yb = y + i0;
    const float* __restrict xb = x + i0;
    const float s = scale;
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) yb[j] = keep[j] ? xb[j] * s : 0.0f;
  });
}

void dropout_backward(float* dx, const uint8_t* mask, const float* dy, int64_t n, float scale) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += mask[i] ? dy[i] * scale : 0.0f;
}

void dropout_add_forward(float* z, uint8_t* mask, const float* x, const float* y, int64_t n, float p,
                         uint64_t seed, uint64_t stream) {
  const float scale = 1.0f / (1.0f - p);
  for_each_dropout_block(mask, n, p, seed, stream, [&](int64_t i0, int64_t len, const uint8_t* keep) {
    float* __restrict zb = z + i0;
    const float* __restrict xb = x + i0;
    const float* __restrict yb = y + i0;
    const float s = scale;  // a local: a captured reference could alias zb and block vectorising
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) zb[j] = xb[j] + (keep[j] ? yb[j] * s : 0.0f);
  });
}

void dropout_add_backward(float* dx, float* dy, const uint8_t* mask, const float* dz, int64_t n, float scale) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t b = 0; b < n; b += kDropoutBlock) {
    const int64_t len = std::min(kDropoutBlock, n - b);
    const float* __restrict dzb = dz + b;
    if (dx) {
      float* __restrict dxb = dx + b;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) dxb[j] += dzb[j];
    }
    if (dy) {
      float* __restrict dyb = dy + b;
      const uint8_t* mb = mask + b;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) dyb[j] += mb[j] ? dzb[j] * scale : 0.0f;
    }
  }
}

void embedding_forward(float* y, const int64_t* ids, const float* w, int64_t n, int64_t D) {
#pragma omp parallel for schedule(static) if (n * D >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) std::copy(w + ids[i] * D, w + ids[i] * D + D, y + i * D);
}

void embedding_backward(float* dw, const int64_t* ids, const float* dy, int64_t n, int64_t D,
                        int64_t padding_idx) {
  // Split over column blocks so every dw element sums its rows in the order of ids.
  const int64_t blocks = (D + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (n * D >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kColumnBlock, j1 = std::min(D, j0 + kColumnBlock);
    for (int64_t i = 0; i < n; ++i) {
      if (ids[i] == padding_idx) continue;
      float* dwi = dw + ids[i] * D;
      const float* dyi = dy + i * D;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) dwi[j] += dyi[j];
    }
  }
}

namespace {

// One row of cross_entropy_forward: xi (V) with target t (not ignored) -> loss, lse.
void cross_entropy_row(float* loss, float* lse, const float* xi, int64_t t, int64_t V, float e) {
  float sum_x = 0;
  const float log_z = row_log_sum_exp(xi, V, e > 0 ? &sum_x : nullptr);
  *lse = log_z;
  const float nll = log_z - xi[t];
  // mean_v(-logp_v) = log_z - mean_v(x_v)
  const float smooth = e > 0 ? log_z - sum_x / float(V) : 0.0f;
  *loss = (1.0f - e) * nll + e * smooth;
}

// dst: (n) = src: (n) widened
void widen(float* dst, const bf16* src, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dst[j] = from_bf16(src[j]);
}

// A per-thread row of floats (grows to the widest row seen).
float* row_scratch(int64_t n) {
  thread_local std::vector<float> row;
  if (row.size() < size_t(n)) row.resize(size_t(n));
  return row.data();
}

// A row of logits as f32: the row itself, or a bf16 row widened into per-thread scratch.
const float* row_as_f32(const float* x, int64_t) { return x; }
const float* row_as_f32(const bf16* x, int64_t V) {
  float* row = row_scratch(V);
  widen(row, x, V);
  return row;
}

// One row's loss gradient s * (softmax(x) - (1-e) * onehot(t) - e/V), from the row's
// log-sum-exp, assigned to d or (kAccumulate) added to it; d may be x when assigned (each
// element is read before it is written).
template <bool kAccumulate>
void cross_entropy_grad_row(float* d, const float* x, int64_t t, float s, float log_z, float e, int64_t V) {
  const float uniform_q = e / float(V);
#pragma omp simd
  for (int64_t j = 0; j < V; ++j) {
    const float g = s * (exp_fast(x[j] - log_z) - uniform_q);
    d[j] = kAccumulate ? d[j] + g : g;
  }
  d[t] -= s * (1.0f - e);
}

template <typename T>
void cross_entropy_rows(float* loss, float* lse, const T* logits, const int64_t* target, int64_t N, int64_t V,
                        float e, int64_t ignore_index) {
#pragma omp parallel for schedule(static) if (N * V >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = target[i];
    if (t == ignore_index) {
      loss[i] = 0;
      lse[i] = 0;
      continue;
    }
    cross_entropy_row(loss + i, lse + i, row_as_f32(logits + i * V, V), t, V, e);
  }
}

}  // namespace

void cross_entropy_forward(float* loss, float* lse, const float* logits, const int64_t* target, int64_t N,
                           int64_t V, float e, int64_t ignore_index) {
  cross_entropy_rows(loss, lse, logits, target, N, V, e, ignore_index);
}

void cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int64_t* target, int64_t N,
                           int64_t V, float e, int64_t ignore_index) {
  cross_entropy_rows(loss, lse, logits, target, N, V, e, ignore_index);
}

void cross_entropy_backward_bf16(bf16* logits, const float* lse, const int64_t* target, const float* scale,
                                 int64_t N, int64_t V, float e, int64_t ignore_index) {
#pragma omp parallel for schedule(static) if (N * V >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    bf16* row = logits + i * V;
    const int64_t t = target[i];
    if (t == ignore_index) {
      std::fill(row, row + V, bf16{});
      continue;
    }
    float* di = row_scratch(V);
    widen(di, row, V);
    cross_entropy_grad_row<false>(di, di, t, scale[i], lse[i], e, V);
    convert_to_bf16(row, di, 1, V, V);
  }
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int64_t* target,
                            const float* scale, int64_t N, int64_t V, float e, int64_t ignore_index, bool overwrite) {
#pragma omp parallel for schedule(static) if (N * V >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = target[i];
    float* di = dlogits + i * V;
    if (t == ignore_index) {
      if (overwrite) std::fill(di, di + V, 0.0f);
      continue;
    }
    const float* xi = logits + i * V;  // di may be xi when overwriting
    if (overwrite) cross_entropy_grad_row<false>(di, xi, t, scale[i], lse[i], e, V);
    else cross_entropy_grad_row<true>(di, xi, t, scale[i], lse[i], e, V);
  }
}

}  // namespace attend::kernels
