// Layer norm kernels (declared in core/kernels_fused.h): layer_norm, and add_layer_norm,
// which forms z = x + dropout(y) row by row and normalises it while the row is in L1.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

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
// i's dx goes to emit(i, j, dx_ij) when want_dx.
template <typename Emit>
void layer_norm_backward_rows(float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                              const float* rstd, const float* gamma, int64_t N, int64_t D, bool want_dx,
                              Emit&& emit) {
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  std::vector<float> part_gamma(dgamma ? size_t(chunks * D) : 0), part_beta(dbeta ? size_t(chunks * D) : 0);
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    float* pg = dgamma ? part_gamma.data() + c * D : nullptr;
    float* pb = dbeta ? part_beta.data() + c * D : nullptr;
    for (int64_t i = c * kRowChunk; i < std::min(N, (c + 1) * kRowChunk); ++i) {
      const float* xi = x + i * D;
      const float* dyi = dy + i * D;
      const float mu = mean[i], r = rstd[i];
      if (pg) {
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) pg[j] += dyi[j] * (xi[j] - mu) * r;
      }
      if (pb) {
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) pb[j] += dyi[j];
      }
      if (!want_dx) continue;
      float g_mean = 0, gx_mean = 0;
#pragma omp simd reduction(+ : g_mean, gx_mean)
      for (int64_t j = 0; j < D; ++j) {
        const float g = dyi[j] * (gamma ? gamma[j] : 1.0f);
        g_mean += g;
        gx_mean += g * (xi[j] - mu) * r;
      }
      g_mean /= float(D);
      gx_mean /= float(D);
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) {
        const float g = dyi[j] * (gamma ? gamma[j] : 1.0f);
        emit(i, j, r * (g - g_mean - (xi[j] - mu) * r * gx_mean));
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
                        const float* beta, int64_t N, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t i = 0; i < N; ++i) layer_norm_row(y + i * D, mean[i], rstd[i], x + i * D, gamma, beta, D, eps);
}

void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* gamma, int64_t N, int64_t D) {
  layer_norm_backward_rows(dgamma, dbeta, dy, x, mean, rstd, gamma, N, D, dx != nullptr,
                           [dx, D](int64_t i, int64_t j, float v) { dx[i * D + j] += v; });
}

void add_layer_norm_forward(float* out, float* z, uint8_t* mask, float* mean, float* rstd, const float* x,
                            const float* y, const float* gamma, const float* beta, int64_t N, int64_t D, float eps,
                            float p, uint64_t seed, uint64_t stream) {
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
    }
  }
}

namespace {

// add_layer_norm_backward with which of dx, dy and mask there are fixed at compile time,
// so the per-element loop has no branch but the mask's select.
template <bool kDx, bool kDy, bool kMask>
void add_layer_norm_backward_as(float* dx, float* dy, float* dgamma, float* dbeta, const float* dout, const float* z,
                                const uint8_t* mask, const float* mean, const float* rstd, const float* gamma,
                                int64_t N, int64_t D, float scale) {
  layer_norm_backward_rows(dgamma, dbeta, dout, z, mean, rstd, gamma, N, D, kDx || kDy,
                           [=](int64_t i, int64_t j, float v) {
                             if constexpr (kDx) dx[i * D + j] += v;
                             if constexpr (kDy) dy[i * D + j] += kMask ? (mask[i * D + j] ? v * scale : 0.0f) : v;
                           });
}

}  // namespace

void add_layer_norm_backward(float* dx, float* dy, float* dgamma, float* dbeta, const float* dout, const float* z,
                             const uint8_t* mask, const float* mean, const float* rstd, const float* gamma, int64_t N,
                             int64_t D, float scale) {
  auto run = [&](auto dx_on, auto dy_on, auto mask_on) {
    add_layer_norm_backward_as<decltype(dx_on)::value, decltype(dy_on)::value, decltype(mask_on)::value>(
        dx, dy, dgamma, dbeta, dout, z, mask, mean, rstd, gamma, N, D, scale);
  };
  using T = std::true_type;
  using F = std::false_type;
  if (dx && dy) mask ? run(T{}, T{}, T{}) : run(T{}, T{}, F{});
  else if (dy) mask ? run(F{}, T{}, T{}) : run(F{}, T{}, F{});
  else if (dx) run(T{}, F{}, F{});
  else run(F{}, F{}, F{});  // only dgamma, dbeta
}

}  // namespace attend::kernels
