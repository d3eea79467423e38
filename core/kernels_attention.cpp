#include "core/kernels_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/kernels.h"
#include "core/kernels_attention_impl.h"
#include "core/kernels_math.h"
#include "core/kernels_reduce.h"
#include "core/rng.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace attend::kernels {
namespace attention_detail {
namespace {

// 16 floats (one AVX-512 register), loadable from any float address.
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

// c[i*ldc + n] (+)= sum_{t<K} a[i*ars + t*acs] * x[t*ldx + n] for i < R, n < 16*NV: an
// R x 16NV tile of a product kept in registers while it runs over K.
template <int R, int NV, bool kAccumulate>
void tile(float* c, int64_t ldc, const float* a, int64_t ars, int64_t acs, const float* x, int64_t ldx, int64_t K) {
  v16 acc[R][NV];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v)
      acc[i][v] = kAccumulate ? *reinterpret_cast<const v16*>(c + i * ldc + 16 * v) : v16{};
  for (int64_t t = 0; t < K; ++t) {
    v16 xv[NV];
    for (int v = 0; v < NV; ++v) xv[v] = *reinterpret_cast<const v16*>(x + t * ldx + 16 * v);
    for (int i = 0; i < R; ++i) {
      const float s = a[i * ars + t * acs];
      for (int v = 0; v < NV; ++v) acc[i][v] += s * xv[v];
    }
  }
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<v16*>(c + i * ldc + 16 * v) = acc[i][v];
}

using TileFn = void (*)(float*, int64_t, const float*, int64_t, int64_t, const float*, int64_t, int64_t);

template <bool kAccumulate, int R> constexpr TileFn tile_for(int nv) {
  return nv == 1 ? tile<R, 1, kAccumulate> : nv == 2 ? tile<R, 2, kAccumulate> : nv == 3 ? tile<R, 3, kAccumulate>
                                                                                        : tile<R, 4, kAccumulate>;
}

// C (+)= A X with C: (M,N) row stride ldc, A: (M,K) element (i,t) at a[i*ars + t*acs],
// X: (K,N) row stride ldx; N a multiple of 16.
template <bool kAccumulate>
void product(float* c, int64_t ldc, const float* a, int64_t ars, int64_t acs, const float* x, int64_t ldx,
             int64_t M, int64_t K, int64_t N) {
  static constexpr TileFn fns[4][4] = {
      {tile_for<kAccumulate, 1>(1), tile_for<kAccumulate, 1>(2), tile_for<kAccumulate, 1>(3), tile_for<kAccumulate, 1>(4)},
      {tile_for<kAccumulate, 2>(1), tile_for<kAccumulate, 2>(2), tile_for<kAccumulate, 2>(3), tile_for<kAccumulate, 2>(4)},
      {tile_for<kAccumulate, 3>(1), tile_for<kAccumulate, 3>(2), tile_for<kAccumulate, 3>(3), tile_for<kAccumulate, 3>(4)},
      {tile_for<kAccumulate, 4>(1), tile_for<kAccumulate, 4>(2), tile_for<kAccumulate, 4>(3), tile_for<kAccumulate, 4>(4)}};
  for (int64_t i = 0; i < M; i += 4) {
    const int64_t r = std::min<int64_t>(4, M - i);
    for (int64_t n = 0; n < N; n += 64) {
      const int64_t nv = std::min<int64_t>(4, (N - n) / 16);
      fns[r - 1][nv - 1](c + i * ldc + n, ldc, a + i * ars, ars, acs, x + n, ldx, K);
    }
  }
}

// bits: keep bits of one row of n keys (words of 16) from the row's uniforms u.
void pack_keep_bits(uint16_t* bits, const float* u, int64_t n, float p) {
  for (int64_t c = 0; 16 * c < n; ++c) {
#if defined(__AVX512F__)
    const __mmask16 valid = first(n - 16 * c);
    bits[c] = uint16_t(_mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, u + 16 * c), _mm512_set1_ps(p),
                                               _CMP_GE_OQ));
#else
    const int64_t left = std::min<int64_t>(16, n - 16 * c);
    uint32_t word = 0;
    for (int64_t e = 0; e < left; ++e) word |= uint32_t(u[16 * c + e] >= p) << e;
    bits[c] = uint16_t(word);
#endif
  }
}

}  // namespace

HeadKeep::HeadKeep(const AttentionDropout& d, int64_t row0, int64_t T, int64_t S, bool draw) {
  if (d.p <= 0.0f) return;
  words_ = (S + 15) / 16;
  scale_ = 1.0f / (1.0f - d.p);
  if (d.keep_bits && !draw) {
    bits_ = d.keep_bits + row0 * words_;
    return;
  }
  uint16_t* bits = d.keep_bits ? d.keep_bits + row0 * words_ : nullptr;
  if (!bits) {
    thread_local std::vector<uint16_t> own;
    if (own.size() < size_t(T * words_)) own.resize(size_t(T * words_));
    bits = own.data();
  }
  // Uniforms of whole rows, about 4096 at a time: one run of counters per draw.
  thread_local std::vector<float> u;
  const int64_t rows = std::max<int64_t>(1, 4096 / std::max<int64_t>(S, 1));
  if (u.size() < size_t(rows * S)) u.resize(size_t(rows * S));
  for (int64_t r0 = 0; r0 < T; r0 += rows) {
    const int64_t n = std::min(rows, T - r0);
    dropout_uniforms(u.data(), d.seed, d.stream, uint64_t(row0 + r0) * uint64_t(S), n * S);
    for (int64_t r = 0; r < n; ++r) pack_keep_bits(bits + (r0 + r) * words_, u.data() + r * S, S, d.p);
  }
  bits_ = bits;
}

}  // namespace attention_detail

namespace {

using namespace attention_detail;

// x (L rows of stride ls, Dh used) -> dst (L rows of Dhp, zero padded), times s.
template <typename In>
void copy_rows(float* dst, int64_t Dhp, const In* x, int64_t ls, int64_t L, int64_t Dh, float s) {
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t d = 0; d < Dh; ++d) dst[l * Dhp + d] = s * widen(x[l * ls + d]);
    std::fill(dst + l * Dhp + Dh, dst + (l + 1) * Dhp, 0.0f);
  }
}

// x (L rows of stride ls) -> dst (Dh rows of Lp, columns L..Lp zero)
template <typename In>
void transpose_rows(float* dst, int64_t Lp, const In* x, int64_t ls, int64_t L, int64_t Dh) {
  for (int64_t d = 0; d < Dh; ++d) {
    float* row = dst + d * Lp;
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) row[l] = widen(x[l * ls + d]);
    std::fill(row + L, row + Lp, 0.0f);
  }
}

// bf16 products pay for rounding and pair-packing their operands: below this many keys
// (and queries) they save nothing for fp32 operands (bench/bench_attention.cpp: at B64xL30
// both cost the same, at B64xL128 bf16 takes a third less), so the exact fp32 products
// run. Operands stored in bf16 (training) are rounded already, and the fp32 products
// would need fp32 copies of them: from 16 positions bf16 products are faster (B64xL30
// forward + backward: 2.3 ms against 3.3 ms with fp32 products on the same bf16 operands).
constexpr int64_t kBf16MinLength = 64, kBf16MinLengthRounded = 16;

bool run_parallel(const AttentionShape& sh) { return sh.B * sh.H > 1 && sh.B * sh.H * sh.T * sh.S * sh.Dh >= kParallelMin; }

// Queries at most this many (decoding steps) skip the blocked path's transposed copies of k
// and v, which cost as much as the few products they would serve.
constexpr int64_t kDirectMaxRows = 2;

template <typename Q, typename KV>
bool use_bf16(const AttentionShape& sh) {
  const bool rounded = std::is_same_v<Q, bf16> && std::is_same_v<KV, bf16>;
  const int64_t min_length = rounded ? kBf16MinLengthRounded : kBf16MinLength;
  return kHaveBf16 && sh.bf16 && sh.T > kDirectMaxRows && std::min(sh.T, sh.S) >= min_length;
}

// The sum of a register's 16 lanes, as a tree of halves.
inline float lane_sum(v16 t) {
  typedef float v8 __attribute__((vector_size(32)));
  typedef float v4 __attribute__((vector_size(16)));
  const v8 a = __builtin_shufflevector(t, t, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(t, t, 8, 9, 10, 11, 12, 13, 14, 15);
  const v4 c = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (c[0] + c[2]) + (c[1] + c[3]);
}

// 16 stored values as floats: fp32 as they are, bf16 widened (the bits moved up by 16).
inline v16 load16(const float* p) { return *reinterpret_cast<const v16*>(p); }
inline v16 load16(const bf16* p) {
  typedef uint16_t u16x16 __attribute__((vector_size(32), aligned(2), may_alias));
  typedef uint32_t u32x16 __attribute__((vector_size(64)));
  return reinterpret_cast<v16>(__builtin_convertvector(*reinterpret_cast<const u16x16*>(p), u32x16) << 16);
}

// One query against S keys with Dh = 16*NV, q and the weighted sum held in registers (a
// decoding step; the generic loops below keep them in memory); keys and values fp32 or
// bf16 (a bf16 decoding cache). s: (S) <- scale q.k_j
template <int NV, typename KV>
void row_scores(float* s, const float* qi, float scale, const KV* kh, int64_t ldk, int64_t S) {
  v16 q[NV];
  for (int n = 0; n < NV; ++n) q[n] = load16(qi + 16 * n) * scale;
  for (int64_t j = 0; j < S; ++j) {
    const KV* kj = kh + j * ldk;
    v16 t = q[0] * load16(kj);
    for (int n = 1; n < NV; ++n) t += q[n] * load16(kj + 16 * n);
    s[j] = lane_sum(t);
  }
}

// out: (Dh) <- inv * sum_j p[j] v_j
template <int NV, typename KV>
void row_weighted_sum(float* out, const float* p, float inv, const KV* vh, int64_t ldv, int64_t S) {
  v16 acc[NV];
  for (int n = 0; n < NV; ++n) acc[n] = v16{};
  for (int64_t j = 0; j < S; ++j) {
    const KV* vj = vh + j * ldv;
    const float pj = p[j];
    for (int n = 0; n < NV; ++n) acc[n] += pj * load16(vj + 16 * n);
  }
  for (int n = 0; n < NV; ++n) *reinterpret_cast<v16*>(out + 16 * n) = acc[n] * inv;
}

template <typename KV> using RowScoresFn = void (*)(float*, const float*, float, const KV*, int64_t, int64_t);
template <typename KV> using RowSumFn = void (*)(float*, const float*, float, const KV*, int64_t, int64_t);
template <typename KV> using RowFns = std::pair<RowScoresFn<KV>, RowSumFn<KV>>;

// The register versions for Dh = 16, 32, ..., 128; null for other head sizes.
template <int NV, typename KV> constexpr RowFns<KV> row_fns() { return {row_scores<NV, KV>, row_weighted_sum<NV, KV>}; }
template <typename KV>
RowFns<KV> direct_row_fns(int64_t Dh) {
  static constexpr RowFns<KV> fns[8] = {row_fns<1, KV>(), row_fns<2, KV>(), row_fns<3, KV>(), row_fns<4, KV>(),
                                        row_fns<5, KV>(), row_fns<6, KV>(), row_fns<7, KV>(), row_fns<8, KV>()};
  if (Dh % 16 != 0 || Dh < 16 || Dh > 128) return {nullptr, nullptr};
  return fns[Dh / 16 - 1];
}

// forward_head for few queries: dot products and sums straight over the rows of k and v
// (in registers for an fp32 q).
template <typename Q, typename KV>
void forward_head_direct(int64_t b, int64_t h, float* o, HeadStrides os, float* lse, const Q* q,
                         HeadStrides qs, const KV* k, HeadStrides ks, const KV* v, HeadStrides vs, float scale,
                         const AttentionShape& sh, const AttentionMask& mask, const AttentionDropout& drop) {
  const int64_t T = sh.T, S = sh.S, Dh = sh.Dh;
  float* qrow = scratch(size_t(2 * Dh + 2 * S));
  float* acc = qrow + Dh;
  float* s = acc + Dh;
  float* zb = s + S;
  const KV* kh = k + b * ks.b + h * ks.h;
  const KV* vh = v + b * vs.b + h * vs.h;
  const HeadMask hm = head_mask(mask, sh, b);
  const HeadKeep keep(drop, (b * sh.H + h) * sh.T, sh.T, sh.S, /*draw=*/true);
  const int64_t row0 = (b * sh.H + h) * T;
  RowFns<KV> fast{nullptr, nullptr};
  if constexpr (std::is_same_v<Q, float>) fast = direct_row_fns<KV>(Dh);
  const auto [fast_scores, fast_sum] = fast;
  for (int64_t i = 0; i < T; ++i) {
    const Q* qi = q + b * qs.b + h * qs.h + i * qs.l;
    if constexpr (std::is_same_v<Q, float>)
      if (fast_scores) fast_scores(s, qi, scale, kh, ks.l, S);
    if (!fast_scores) {
      for (int64_t d = 0; d < Dh; ++d) qrow[d] = widen(qi[d]) * scale;
      for (int64_t j = 0; j < S; ++j) {
        const KV* kj = kh + j * ks.l;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t d = 0; d < Dh; ++d) dot += qrow[d] * widen(kj[d]);
        s[j] = dot;
      }
    }
    hm.apply(s, i, 0, S);
    const float m = row_max(s, S);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < S; ++j) sum += (s[j] = exp_fast(s[j] - m));
    if (keep.active()) {
      keep.factors(zb, S, i, 0);
      for (int64_t j = 0; j < S; ++j) s[j] *= zb[j];
    }
    float* out = o + b * os.b + h * os.h + i * os.l;
    const float inv = 1.0f / sum;
    if (fast_sum) fast_sum(out, s, inv, vh, vs.l, S);
    if (!fast_sum) {
      std::fill(acc, acc + Dh, 0.0f);
      for (int64_t j = 0; j < S; ++j) {
        const KV* vj = vh + j * vs.l;
        const float pj = s[j];
#pragma omp simd
        for (int64_t d = 0; d < Dh; ++d) acc[d] += pj * widen(vj[d]);
      }
      for (int64_t d = 0; d < Dh; ++d) out[d] = acc[d] * inv;
    }
    if (lse) lse[row0 + i] = m + std::log(sum);
  }
}

template <typename Q, typename KV>
void forward_head(int64_t b, int64_t h, float* o, HeadStrides os, float* lse, const Q* q, HeadStrides qs,
                  const KV* k, HeadStrides ks, const KV* v, HeadStrides vs, float scale,
                  const AttentionShape& sh, const AttentionMask& mask, const AttentionDropout& drop) {
  if (sh.T <= kDirectMaxRows) return forward_head_direct(b, h, o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop);
  if constexpr (kHaveBf16)
    if (use_bf16<Q, KV>(sh)) return forward_head_bf16(b, h, o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop);
  const int64_t T = sh.T, S = sh.S, Dh = sh.Dh, Sp = round16(S), Dhp = round16(Dh);
  float* kt = scratch(size_t(Dh * Sp + S * Dhp + 2 * kBq * Dhp + kBq * kBk + 2 * kBq + kBk));
  float* vp = kt + Dh * Sp;
  float* qb = vp + S * Dhp;
  float* ob = qb + kBq * Dhp;
  float* sb = ob + kBq * Dhp;
  float* mrow = sb + kBq * kBk;
  float* lrow = mrow + kBq;
  float* zb = lrow + kBq;  // dropout factors of one row of a block
  transpose_rows(kt, Sp, k + b * ks.b + h * ks.h, ks.l, S, Dh);
  // With fp32 operands and Dh a multiple of 16 the rows of v serve the product in place;
  // else a padded fp32 copy.
  const bool in_place = std::is_same_v<KV, float> && Dh == Dhp;
  const float* vx = in_place ? reinterpret_cast<const float*>(v + b * vs.b + h * vs.h) : vp;
  const int64_t ldv = in_place ? vs.l : Dhp;
  if (!in_place) copy_rows(vp, Dhp, v + b * vs.b + h * vs.h, vs.l, S, Dh, 1.0f);
  const HeadMask hm = head_mask(mask, sh, b);
  const HeadKeep keep(drop, (b * sh.H + h) * sh.T, sh.T, sh.S, /*draw=*/true);
  const uint64_t row0 = uint64_t((b * sh.H + h) * T);
  for (int64_t i0 = 0; i0 < T; i0 += kBq) {
    const int64_t R = std::min(kBq, T - i0), kend = hm.key_end(i0, R);
    copy_rows(qb, Dhp, q + b * qs.b + h * qs.h + i0 * qs.l, qs.l, R, Dh, scale);
    std::fill(ob, ob + R * Dhp, 0.0f);
    std::fill(mrow, mrow + R, kNegInf);
    std::fill(lrow, lrow + R, 0.0f);
    for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
      // Elementwise loops run over Jp columns (whole vectors); columns J..Jp are -inf: probability 0.
      const int64_t J = std::min(kBk, kend - j0), Jp = round16(J);
      product<false>(sb, kBk, qb, Dhp, 1, kt + j0, Sp, R, Dh, Jp);
      for (int64_t r = 0; r < R; ++r)
        forward_row(sb + r * kBk, zb, ob + r * Dhp, Dhp, mrow[r], lrow[r], i0 + r, j0, J, Jp, hm, keep);
      product<true>(ob, Dhp, sb, kBk, 1, vx + j0 * ldv, ldv, R, J, Dhp);
    }
    finish_rows(o + b * os.b + h * os.h + i0 * os.l, os.l, lse ? lse + int64_t(row0) + i0 : nullptr, ob, Dhp, Dh,
                mrow, lrow, R);
  }
}

template <typename In>
void backward_head(int64_t b, int64_t h, float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv,
                   HeadStrides dvs, const float* dout, HeadStrides ds,
                   const In* o, HeadStrides os, const float* lse, const In* q, HeadStrides qs, const In* k,
                   HeadStrides ks, const In* v, HeadStrides vs, float scale, const AttentionShape& sh,
                   const AttentionMask& mask, const AttentionDropout& drop,
                   const AttentionAssign& assign) {
  if constexpr (kHaveBf16)
    if (use_bf16<In, In>(sh))
      return backward_head_bf16(b, h, dq, dqs, dk, dks, dv, dvs, dout, ds, o, os, lse, q, qs, k, ks, v, vs, scale, sh,
                                mask, drop, assign);
  const int64_t T = sh.T, S = sh.S, Dh = sh.Dh, Sp = round16(S), Dhp = round16(Dh);
  float* kt = scratch(size_t(2 * Dh * Sp + 3 * S * Dhp + 3 * kBq * Dhp + 2 * kBq * kBk + kBq + kBk));
  float* vt = kt + Dh * Sp;
  float* kp = vt + Dh * Sp;
  float* dka = kp + S * Dhp;
  float* dva = dka + S * Dhp;
  float* qb = dva + S * Dhp;
  float* dob = qb + kBq * Dhp;
  float* dqb = dob + kBq * Dhp;
  float* pb = dqb + kBq * Dhp;
  float* db = pb + kBq * kBk;
  float* delta = db + kBq * kBk;
  float* zb = delta + kBq;  // dropout factors of one row of a block
  const In* kh = k + b * ks.b + h * ks.h;
  transpose_rows(kt, Sp, kh, ks.l, S, Dh);
  transpose_rows(vt, Sp, v + b * vs.b + h * vs.h, vs.l, S, Dh);
  // k's rows serve dQ's product in place, as v's in forward
  const bool in_place = std::is_same_v<In, float> && Dh == Dhp;
  const float* kx = in_place ? reinterpret_cast<const float*>(kh) : kp;
  const int64_t ldk = in_place ? ks.l : Dhp;
  if (!in_place) copy_rows(kp, Dhp, kh, ks.l, S, Dh, 1.0f);
  std::fill(dka, dka + 2 * S * Dhp, 0.0f);
  const HeadMask hm = head_mask(mask, sh, b);
  const HeadKeep keep(drop, (b * sh.H + h) * sh.T, sh.T, sh.S, /*draw=*/false);
  const int64_t row0 = (b * sh.H + h) * T;
  for (int64_t i0 = 0; i0 < T; i0 += kBq) {
    const int64_t R = std::min(kBq, T - i0), kend = hm.key_end(i0, R);
    copy_rows(qb, Dhp, q + b * qs.b + h * qs.h + i0 * qs.l, qs.l, R, Dh, scale);
    const float* dorow = dout + b * ds.b + h * ds.h + i0 * ds.l;
    copy_rows(dob, Dhp, dorow, ds.l, R, Dh, 1.0f);
    row_deltas(delta, dorow, ds.l, o + b * os.b + h * os.h + i0 * os.l, os.l, R, Dh);
    std::fill(dqb, dqb + R * Dhp, 0.0f);
    for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
      const int64_t J = std::min(kBk, kend - j0), Jp = round16(J);  // as in forward
      product<false>(pb, kBk, qb, Dhp, 1, kt + j0, Sp, R, Dh, Jp);   // scores
      product<false>(db, kBk, dob, Dhp, 1, vt + j0, Sp, R, Dh, Jp);  // dO V^T
      for (int64_t r = 0; r < R; ++r)
        backward_row(pb + r * kBk, db + r * kBk, zb, i0 + r, j0, J, Jp, S, lse[row0 + i0 + r], delta[r],
                     hm, keep);
      // dV += P_dropped^T dO, dK += dS^T (scale q), dQ += dS K (times scale below)
      if (dv) product<true>(dva + j0 * Dhp, Dhp, pb, 1, kBk, dob, Dhp, J, R, Dhp);
      if (dk) product<true>(dka + j0 * Dhp, Dhp, db, 1, kBk, qb, Dhp, J, R, Dhp);
      if (dq) product<true>(dqb, Dhp, db, kBk, 1, kx + j0 * ldk, ldk, R, J, Dhp);
    }
    if (dq) add_scaled_rows(dq + b * dqs.b + h * dqs.h + i0 * dqs.l, dqs.l, dqb, Dhp, R, Dh, scale, assign.q);
  }
  add_key_gradients(dk ? dk + b * dks.b + h * dks.h : nullptr, dks.l, dv ? dv + b * dvs.b + h * dvs.h : nullptr,
                    dvs.l, dka, dva, Dhp, S, Dh, assign);
}

template <typename Q, typename KV>
void forward_all(float* o, HeadStrides os, float* lse, const Q* q, HeadStrides qs, const KV* k, HeadStrides ks,
                 const KV* v, HeadStrides vs, float scale, const AttentionShape& sh, const AttentionMask& mask,
                 const AttentionDropout& drop) {
  const int64_t pairs = sh.B * sh.H;
#pragma omp parallel for schedule(dynamic, 1) if (run_parallel(sh))
  for (int64_t bh = 0; bh < pairs; ++bh)
    forward_head(bh / sh.H, bh % sh.H, o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop);
}

template <typename In>
void backward_all(float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv, HeadStrides dvs,
                  const float* dout, HeadStrides ds, const In* o, HeadStrides os, const float* lse, const In* q,
                  HeadStrides qs, const In* k, HeadStrides ks, const In* v, HeadStrides vs, float scale,
                  const AttentionShape& sh, const AttentionMask& mask, const AttentionDropout& drop,
                  const AttentionAssign& assign) {
  const int64_t pairs = sh.B * sh.H;
#pragma omp parallel for schedule(dynamic, 1) if (run_parallel(sh))
  for (int64_t bh = 0; bh < pairs; ++bh)
    backward_head(bh / sh.H, bh % sh.H, dq, dqs, dk, dks, dv, dvs, dout, ds, o, os, lse, q, qs, k, ks, v, vs, scale,
                  sh, mask, drop, assign);
}

}  // namespace

void attention_forward(float* o, HeadStrides os, float* lse, const float* q, HeadStrides qs, const float* k,
                       HeadStrides ks, const float* v, HeadStrides vs, float scale, const AttentionShape& sh,
                       const AttentionMask& mask, const AttentionDropout& drop) {
  forward_all(o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop);
}

void attention_forward(float* o, HeadStrides os, float* lse, const bf16* q, HeadStrides qs, const bf16* k,
                       HeadStrides ks, const bf16* v, HeadStrides vs, float scale, const AttentionShape& sh,
                       const AttentionMask& mask, const AttentionDropout& drop) {
  forward_all(o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop);
}

void attention_forward(float* o, HeadStrides os, float* lse, const float* q, HeadStrides qs, const bf16* k,
                       HeadStrides ks, const bf16* v, HeadStrides vs, float scale, const AttentionShape& sh,
                       const AttentionMask& mask, const AttentionDropout& drop) {
  forward_all(o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop);
}

void attention_backward(float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv, HeadStrides dvs,
                        const float* dout, HeadStrides ds, const float* o,
                        HeadStrides os, const float* lse, const float* q, HeadStrides qs, const float* k,
                        HeadStrides ks, const float* v, HeadStrides vs, float scale, const AttentionShape& sh,
                        const AttentionMask& mask, const AttentionDropout& drop, const AttentionAssign& assign) {
  backward_all(dq, dqs, dk, dks, dv, dvs, dout, ds, o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop, assign);
}

void attention_backward(float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv, HeadStrides dvs,
                        const float* dout, HeadStrides ds, const bf16* o, HeadStrides os, const float* lse,
                        const bf16* q, HeadStrides qs, const bf16* k, HeadStrides ks, const bf16* v, HeadStrides vs,
                        float scale, const AttentionShape& sh, const AttentionMask& mask,
                        const AttentionDropout& drop, const AttentionAssign& assign) {
  backward_all(dq, dqs, dk, dks, dv, dvs, dout, ds, o, os, lse, q, qs, k, ks, v, vs, scale, sh, mask, drop, assign);
}

}  // namespace attend::kernels
