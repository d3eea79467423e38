// Layer norm kernels (declared in core/kernels_fused.h): layer_norm, and add_layer_norm,
// which forms z = x + dropout(y) row by row and normalises it while the row is in L1.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/gemm_bf16.h"
#include "core/kernels.h"
#include "core/kernels_fused.h"

namespace attend::kernels {
namespace {

// Rows per partial sum of dgamma and dbeta.
constexpr int64_t kRowChunk = 32;

inline float row_sum(const float* x, int64_t D) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < D; ++j) s += x[j];
  return s;
}

// One row: y = (x - mean) * rstd * gamma + beta, saving mean and rstd.
inline void layer_norm_row(float* __restrict yi, float& mean, float& rstd, const float* __restrict xi,
                           const float* gamma, const float* beta, int64_t D, float eps) {
  const float mu = row_sum(xi, D) / float(D);
  float var = 0;  // two passes: no cancellation when |mean| >> std
#pragma omp simd reduction(+ : var)
  for (int64_t j = 0; j < D; ++j) var += (xi[j] - mu) * (xi[j] - mu);
  const float r = 1.0f / std::sqrt(var / float(D) + eps);
  mean = mu;
  rstd = r;
#pragma omp simd
  for (int64_t j = 0; j < D; ++j) {
    const float xhat = (xi[j] - mu) * r;
    yi[j] = xhat * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
  }
}

// With xhat = (x - mean) * rstd and g = dy * gamma, per row (Ba et al. 2016; derivation
// as in llm.c's doc/layernorm/layernorm.md):
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma = sum_rows dy * xhat,  dbeta = sum_rows dy
// One pass over the rows; dgamma and dbeta are summed per chunk of kRowChunk rows, then
// the chunks in order, so the sums do not depend on how the chunks are shared out. Row
// i's dx is added to dx when dx is given, else (when want_dx) written to a scratch row
// passed to row_done(i, dx_row).
template <typename RowDone>
void layer_norm_backward_rows(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                              const float* mean, const float* rstd, const float* gamma, int64_t N, int64_t D,
                              bool want_dx, RowDone&& row_done) {
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  std::vector<float> part_gamma(dgamma ? size_t(chunks * D) : 0), part_beta(dbeta ? size_t(chunks * D) : 0);
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    float* pg = dgamma ? part_gamma.data() + c * D : nullptr;
    float* pb = dbeta ? part_beta.data() + c * D : nullptr;
    std::vector<float> scratch(want_dx && !dx ? size_t(D) : 0);
    for (int64_t i = c * kRowChunk; i < std::min(N, (c + 1) * kRowChunk); ++i) {
      const float* xi = x + i * D;
      const float* dyi = dy + i * D;
      const float mu = mean[i], r = rstd[i];
      float g_mean = 0, gx_mean = 0;
      if (pg && pb && want_dx) {  // the usual case: one pass for all four sums
        float* __restrict pgr = pg;
        float* __restrict pbr = pb;
#pragma omp simd reduction(+ : g_mean, gx_mean)
        for (int64_t j = 0; j < D; ++j) {
          pgr[j] += dyi[j] * (xi[j] - mu) * r;
          pbr[j] += dyi[j];
          const float g = dyi[j] * (gamma ? gamma[j] : 1.0f);
          g_mean += g;
          gx_mean += g * (xi[j] - mu) * r;
        }
      } else {
        if (pg) {
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) pg[j] += dyi[j] * (xi[j] - mu) * r;
        }
        if (pb) {
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) pb[j] += dyi[j];
        }
        if (!want_dx) continue;
#pragma omp simd reduction(+ : g_mean, gx_mean)
        for (int64_t j = 0; j < D; ++j) {
          const float g = dyi[j] * (gamma ? gamma[j] : 1.0f);
          g_mean += g;
          gx_mean += g * (xi[j] - mu) * r;
        }
      }
      g_mean /= float(D);
      gx_mean /= float(D);
      if (dx) {
        float* __restrict dxi = dx + i * D;
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) {
          const float g = dyi[j] * (gamma ? gamma[j] : 1.0f);
          dxi[j] += r * (g - g_mean - (xi[j] - mu) * r * gx_mean);
        }
      } else {
        float* __restrict dxi = scratch.data();
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) {
          const float g = dyi[j] * (gamma ? gamma[j] : 1.0f);
          dxi[j] = r * (g - g_mean - (xi[j] - mu) * r * gx_mean);
        }
        row_done(i, static_cast<const float*>(dxi));
      }
    }
  }
  for (int64_t c = 0; c < chunks; ++c) {
    if (dgamma) kernels::accumulate(dgamma, part_gamma.data() + c * D, D);
    if (dbeta) kernels::accumulate(dbeta, part_beta.data() + c * D, D);
  }
}

}  // namespace

void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                        const float* beta, int64_t N, int64_t D, float eps, bf16* y16) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    layer_norm_row(y + i * D, mean[i], rstd[i], x + i * D, gamma, beta, D, eps);
    if (y16) convert_to_bf16(y16 + i * D, y + i * D, 1, D, D);  // the row is in L1
  }
}

void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* gamma, int64_t N, int64_t D) {
  layer_norm_backward_rows(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, N, D, dx != nullptr,
                           [](int64_t, const float*) {});
}

void add_layer_norm_forward(float* out, float* z, uint8_t* mask, float* mean, float* rstd, const float* x,
                            const float* y, const float* gamma, const float* beta, int64_t N, int64_t D, float eps,
                            float p, uint64_t seed, uint64_t stream, bf16* out16) {
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel if (N * D >= kParallelMin)
  {
    std::vector<uint8_t> scratch(p > 0.0f && !mask ? size_t(D) : 0);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      float* __restrict zi = z + i * D;
      const float* __restrict xi = x + i * D;
      const float* __restrict yi = y + i * D;
      if (p > 0.0f) {
        uint8_t* keep = mask ? mask + i * D : scratch.data();
        dropout_keep(keep, i * D, D, p, seed, stream);
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) zi[j] = xi[j] + (keep[j] ? yi[j] * scale : 0.0f);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) zi[j] = xi[j] + yi[j];
      }
      layer_norm_row(out + i * D, mean[i], rstd[i], zi, gamma, beta, D, eps);
      if (out16) convert_to_bf16(out16 + i * D, out + i * D, 1, D, D);  // the row is in L1
    }
  }
}

void add_layer_norm_backward(float* dx, float* dy, float* dgamma, float* dbeta, const float* dout, const float* z,
                             const uint8_t* mask, const float* mean, const float* rstd, const float* gamma, int64_t N,
                             int64_t D, float scale, bool assign_x, bool assign_y) {
  // dz row by row in L1, then dx (+)= dz and dy (+)= dz * mask * scale.
  layer_norm_backward_rows(nullptr, dgamma, dbeta, dout, z, mean, rstd, gamma, N, D, dx || dy,
                           [=](int64_t i, const float* __restrict dz) {
    // Locals, not the closure's members: stores through dy could alias those and keep the
    // loops from vectorising.
    const float s = scale;
    const int64_t n = D;
    if (dx) {
      float* __restrict dxi = dx + i * n;
      if (assign_x) {
        std::copy(dz, dz + n, dxi);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) dxi[j] += dz[j];
      }
    }
    if (dy) {
      float* __restrict dyi = dy + i * n;
      const uint8_t* mi = mask ? mask + i * n : nullptr;
      if (mi && assign_y) {
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) dyi[j] = mi[j] ? dz[j] * s : 0.0f;
      } else if (mi) {
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) dyi[j] += mi[j] ? dz[j] * s : 0.0f;
      } else if (assign_y) {
        std::copy(dz, dz + n, dyi);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) dyi[j] += dz[j];
      }
    }
  });
}

}  // namespace attend::kernels
