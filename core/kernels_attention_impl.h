// Internals shared by the fused attention kernels (kernels_attention.cpp: fp32 products;
// kernels_attention_bf16.cpp: bf16 operands, fp32 accumulation): block sizes, the mask one
// (b,h) pair sees, scratch memory, dropout factors, and the per-head bf16 entry points.
// Not for use outside those two files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/kernels.h"
#include "core/kernels_attention.h"
#include "core/kernels_math.h"
#include "core/kernels_reduce.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace attend::kernels::attention_detail {

// Queries and keys per block: a block's scores (kBq x kBk floats, 16 KiB) stay in L1.
constexpr int64_t kBq = 32, kBk = 128;
// The composed path's masked_fill value (layers/attention.cpp): exp() of it is exactly 0.
constexpr float kMasked = -1e30f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

#if defined(__AVX512F__)
// The first n of 16 lanes: none when n <= 0, all when n >= 16.
inline __mmask16 first(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
#endif

// Per-thread scratch that grows to the largest call and is reused.
inline float* scratch(size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// What one (b,h) pair sees of the mask, and the dropout draw of its rows.
struct HeadMask {
  const float* pad;      // (S) or null
  int64_t first_open;    // first key not padded (S when all are)
  int64_t T, S;
  bool causal;
  // Keys j > limit(i) are masked by causality.
  int64_t limit(int64_t i) const { return causal ? i + S - T : S; }
  // Row i has every key masked (then it attends uniformly to all S keys).
  bool fully_masked(int64_t i) const { return first_open >= std::min(S, limit(i) + 1); }
  // Keys a block of queries [i0, i0+R) must visit: those up to the last row's limit, or
  // all when the block's first row is fully masked (rows later in the block see more).
  int64_t key_end(int64_t i0, int64_t R) const {
    return fully_masked(i0) ? S : std::min(S, limit(i0 + R - 1) + 1);
  }
  // Scores of row i against keys [j0, j0+J) (in s) that are masked become kMasked.
  void apply(float* s, int64_t i, int64_t j0, int64_t J) const {
    const int64_t lim = limit(i) - j0;
    const float* p = pad ? pad + j0 : nullptr;
    if (p) {
#pragma omp simd
      for (int64_t j = 0; j < J; ++j) s[j] = (p[j] != 0.0f || j > lim) ? kMasked : s[j];
    } else if (lim < J) {
#pragma omp simd
      for (int64_t j = 0; j < J; ++j) s[j] = j > lim ? kMasked : s[j];
    }
  }
};

inline HeadMask head_mask(const AttentionMask& mask, const AttentionShape& sh, int64_t b) {
  HeadMask m{mask.key_padding ? mask.key_padding + b * sh.S : nullptr, 0, sh.T, sh.S, mask.causal};
  if (m.pad)
    while (m.first_open < sh.S && m.pad[m.first_open] != 0.0f) ++m.first_open;
  return m;
}

// Dropout's keep mask of the T query rows of one (b,h) pair (first row `row0` of all
// B*H*T), laid out as AttentionDropout::keep_bits: (S+15)/16 words of 16 bits per row.
// Forward draws the whole head at once (its T*S elements are consecutive), into keep_bits
// when set (saved for backward), else into per-thread scratch; backward reads keep_bits,
// or draws again when forward saved none. Inactive (and never asked) when p is 0.
class HeadKeep {
 public:
  HeadKeep(const AttentionDropout& d, int64_t row0, int64_t T, int64_t S, bool draw);
  bool active() const { return bits_ != nullptr; }
  // z[j], j < n: dropout's factors (1/(1-p) kept, else 0) of keys j0 + j (j0 a multiple
  // of 16) of the head's query row i.
  void factors(float* z, int64_t n, int64_t i, int64_t j0) const {
    const uint16_t* w = bits_ + i * words_ + j0 / 16;
#if defined(__AVX512F__)
    const __m512 kept = _mm512_set1_ps(scale_);
    for (int64_t c = 0; 16 * c < n; ++c)
      _mm512_mask_storeu_ps(z + 16 * c, first(n - 16 * c), _mm512_maskz_mov_ps(__mmask16(w[c]), kept));
#else
    for (int64_t j = 0; j < n; ++j) z[j] = (w[j >> 4] >> (j & 15)) & 1u ? scale_ : 0.0f;
#endif
  }

 private:
  const uint16_t* bits_ = nullptr;
  int64_t words_ = 0;
  float scale_ = 0.0f;
};

// Forward of query row i over keys [j0, j0+J) (Jp: J padded to whole vectors), online
// softmax: the row's scores s become exp(s - m) times dropout's factors, its running max m
// and sum l take in this block, and its output accumulated so far (o_row, Dhp wide) is
// rescaled to the new max. The caller then adds s times the block's values to o_row.
inline void forward_row(float* s, float* zb, float* o_row, int64_t Dhp, float& m_run, float& l_run, int64_t i,
                        int64_t j0, int64_t J, int64_t Jp, const HeadMask& hm, const HeadKeep& keep) {
  hm.apply(s, i, j0, J);
  std::fill(s + J, s + Jp, kNegInf);
  const float m = std::max(m_run, row_max(s, Jp)), correction = exp_fast(m_run - m);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < Jp; ++j) sum += (s[j] = exp_fast(s[j] - m));
  l_run = l_run * correction + sum;
  m_run = m;
  if (correction != 1.0f)
    for (int64_t d = 0; d < Dhp; ++d) o_row[d] *= correction;
  if (keep.active()) {
    keep.factors(zb, Jp, i, j0);
#pragma omp simd
    for (int64_t j = 0; j < Jp; ++j) s[j] *= zb[j];
  }
}

// The R finished rows of a block: out row r (stride ldo, Dh used) = o_row / l, and
// lse[r] = m + log l when lse is not null. ob: (R, Dhp) accumulated outputs.
inline void finish_rows(float* out, int64_t ldo, float* lse, const float* ob, int64_t Dhp, int64_t Dh,
                        const float* mrow, const float* lrow, int64_t R) {
  for (int64_t r = 0; r < R; ++r) {
    const float inv = 1.0f / lrow[r];
    for (int64_t d = 0; d < Dh; ++d) out[r * ldo + d] = ob[r * Dhp + d] * inv;
    if (lse) lse[r] = mrow[r] + std::log(lrow[r]);
  }
}

// Backward of query row i over keys [j0, j0+J) (Jp: J padded to whole vectors): the row's
// recomputed scores p become its probabilities times dropout's factors, and g = (dO V^T)
// of the row becomes dS = P*(Z*g - delta) (Dao 2023); a fully masked row attends
// uniformly and passes no gradient. l: the row's log-sum-exp, dl: its delta = dO . O.
inline void backward_row(float* p, float* g, float* zb, int64_t i, int64_t j0, int64_t J, int64_t Jp, int64_t S,
                         float l, float dl, const HeadMask& hm, const HeadKeep& keep) {
  if (hm.fully_masked(i)) {
    std::fill(p, p + J, 1.0f / float(S));
    if (keep.active()) {
      keep.factors(zb, J, i, j0);
      for (int64_t j = 0; j < J; ++j) p[j] *= zb[j];
    }
    std::fill(g, g + J, 0.0f);
    return;
  }
  hm.apply(p, i, j0, J);
  std::fill(p + J, p + Jp, kNegInf);
  if (keep.active()) {
    keep.factors(zb, Jp, i, j0);
#pragma omp simd
    for (int64_t j = 0; j < Jp; ++j) {
      const float z = zb[j];
      const float pj = exp_fast(p[j] - l);
      p[j] = pj * z;
      g[j] = pj * (g[j] * z - dl);
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < Jp; ++j) {
      const float pj = exp_fast(p[j] - l);
      p[j] = pj;
      g[j] = pj * (g[j] - dl);
    }
  }
}

// A stored operand's value as fp32: In is float or bf16.
inline float widen(float x) { return x; }
inline float widen(bf16 x) { return from_bf16(x); }

// delta[r] = dO_r . O_r for the R rows of a block of queries (delta_i = sum_s P_is dP_is):
// dout rows of stride ldd, o rows (f32 or bf16) of stride ldo.
template <typename In>
void row_deltas(float* delta, const float* dout, int64_t ldd, const In* o, int64_t ldo, int64_t R, int64_t Dh) {
  for (int64_t r = 0; r < R; ++r) {
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < Dh; ++d) sum += dout[r * ldd + d] * widen(o[r * ldo + d]);
    delta[r] = sum;
  }
}

// dq rows (stride ldq) += scale * the R rows of dqb (Dhp wide, Dh used); = when `assign`.
inline void add_scaled_rows(float* dq, int64_t ldq, const float* dqb, int64_t Dhp, int64_t R, int64_t Dh,
                            float scale, bool assign) {
  for (int64_t r = 0; r < R; ++r)
    if (assign) {
#pragma omp simd
      for (int64_t d = 0; d < Dh; ++d) dq[r * ldq + d] = scale * dqb[r * Dhp + d];
    } else {
#pragma omp simd
      for (int64_t d = 0; d < Dh; ++d) dq[r * ldq + d] += scale * dqb[r * Dhp + d];
    }
}

// A head's accumulated dK and dV (S rows of Dhp, Dh used) added to dk, dv (rows of strides
// ldk, ldv; either null when not wanted), or copied where `assign` says.
inline void add_key_gradients(float* dk, int64_t ldk, float* dv, int64_t ldv, const float* dka, const float* dva,
                              int64_t Dhp, int64_t S, int64_t Dh, const AttentionAssign& assign) {
  auto store = [Dh](float* dst, const float* src, bool copy) {
    if (copy) std::copy(src, src + Dh, dst);
    else accumulate(dst, src, Dh);
  };
  for (int64_t s = 0; s < S; ++s) {
    if (dk) store(dk + s * ldk, dka + s * Dhp, assign.k);
    if (dv) store(dv + s * ldv, dva + s * Dhp, assign.v);
  }
}

// The bf16 products need AVX512-BF16 (vdpbf16ps) at compile time; without it the fp32
// kernels run whatever AttentionShape::bf16 says.
#if defined(__AVX512BF16__)
inline constexpr bool kHaveBf16 = true;
#else
inline constexpr bool kHaveBf16 = false;
#endif

// One (b,h) pair of attention_forward / attention_backward with bf16 products (more than
// 2 queries); arguments as there, q, k, v and o of type In (float or bf16), in forward q
// of type Q and k, v of type KV (float/float, bf16/bf16, float/bf16: the instantiations in
// kernels_attention_bf16.cpp).
template <typename Q, typename KV>
void forward_head_bf16(int64_t b, int64_t h, float* o, HeadStrides os, float* lse, const Q* q, HeadStrides qs,
                       const KV* k, HeadStrides ks, const KV* v, HeadStrides vs, float scale,
                       const AttentionShape& sh, const AttentionMask& mask, const AttentionDropout& drop);
template <typename In>
void backward_head_bf16(int64_t b, int64_t h, float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv,
                        HeadStrides dvs, const float* dout, HeadStrides ds, const In* o, HeadStrides os,
                        const float* lse, const In* q, HeadStrides qs, const In* k, HeadStrides ks,
                        const In* v, HeadStrides vs, float scale, const AttentionShape& sh,
                        const AttentionMask& mask, const AttentionDropout& drop,
                        const AttentionAssign& assign);

}  // namespace attend::kernels::attention_detail
