// Fused attention with bf16 products (AttentionShape::bf16): the blocked forward and the
// recomputing backward of kernels_attention.cpp, with every product (q k^T, p v, dO v^T,
// p^T dO, dS^T q, dS k) on bf16-rounded operands accumulated in fp32 by vdpbf16ps, which
// multiplies pairs along the inner dimension: the right operand is stored pair-interleaved
// ("x2": rows 2t and 2t+1 of X side by side, 2N bf16 per pair row), the left one row-major
// with the inner dimension padded to even. Softmax, masks, dropout and the log-sum-exp stay
// fp32, as in the fp32 kernels.
#include "core/kernels_attention_impl.h"

#if defined(__AVX512BF16__)

#include <immintrin.h>

#include <cmath>
#include <type_traits>

#include "core/kernels.h"
#include "core/kernels_math.h"
#include "core/kernels_reduce.h"

namespace attend::kernels::attention_detail {
namespace {

using bf = uint16_t;

int64_t round2(int64_t n) { return (n + 1) / 2 * 2; }

// 16 values (the first n of x, the rest 0) as floats.
inline __m512 load16(const float* x, int64_t n) { return _mm512_maskz_loadu_ps(first(n), x); }
inline __m512 load16(const bf16* x, int64_t n) {
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(0xffff, _mm256_maskz_loadu_epi16(first(n), x));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, wide, 16));
}

// 16 values (the first n of x, the rest 0) times s, rounded to bf16 (nearest even); bf16
// values times 1 come back unchanged.
template <typename In>
inline __m256i load_bf16(const In* x, int64_t n, float s) {
  if constexpr (std::is_same_v<In, bf16>)
    if (s == 1.0f) return _mm256_maskz_loadu_epi16(first(n), x);
  return (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(load16(x, n), _mm512_set1_ps(s)));
}

// c[i*ldc + n] (+)= sum_{t<K2} sum_{e<2} A(i, 2t+e) * x2[t*ldx + 2n+e], i < R, n < 16*NV, where
// the pair (A(i,2t), A(i,2t+1)) is the 32-bit a[i*ars + t*acs].
template <int R, int NV, bool kAccumulate>
void tile(float* c, int64_t ldc, const uint32_t* a, int64_t ars, int64_t acs, const bf* x2, int64_t ldx, int64_t K2) {
  __m512 acc[R][NV];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = kAccumulate ? _mm512_loadu_ps(c + i * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t t = 0; t < K2; ++t) {
    __m512bh xv[NV];
    for (int v = 0; v < NV; ++v) xv[v] = (__m512bh)_mm512_loadu_si512(x2 + t * ldx + 32 * v);
    for (int i = 0; i < R; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(int(a[i * ars + t * acs]));
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, xv[v]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

using TileFn = void (*)(float*, int64_t, const uint32_t*, int64_t, int64_t, const bf*, int64_t, int64_t);

template <bool kAccumulate, int R> constexpr TileFn tile_for(int nv) {
  return nv == 1 ? tile<R, 1, kAccumulate> : nv == 2 ? tile<R, 2, kAccumulate> : nv == 3 ? tile<R, 3, kAccumulate>
                                                                                        : tile<R, 4, kAccumulate>;
}

// C: (M,N) (+)= A: (M,2*K2) @ X: (2*K2,N) pair-interleaved (ldx bf16 per pair row), the
// pair (A(i,2t), A(i,2t+1)) being the 32-bit a[i*ars + t*acs]; N a multiple of 16.
template <bool kAccumulate>
void product(float* c, int64_t ldc, const bf* a, int64_t ars, int64_t acs, const bf* x2, int64_t ldx, int64_t M,
             int64_t K2, int64_t N) {
  static constexpr TileFn fns[4][4] = {
      {tile_for<kAccumulate, 1>(1), tile_for<kAccumulate, 1>(2), tile_for<kAccumulate, 1>(3), tile_for<kAccumulate, 1>(4)},
      {tile_for<kAccumulate, 2>(1), tile_for<kAccumulate, 2>(2), tile_for<kAccumulate, 2>(3), tile_for<kAccumulate, 2>(4)},
      {tile_for<kAccumulate, 3>(1), tile_for<kAccumulate, 3>(2), tile_for<kAccumulate, 3>(3), tile_for<kAccumulate, 3>(4)},
      {tile_for<kAccumulate, 4>(1), tile_for<kAccumulate, 4>(2), tile_for<kAccumulate, 4>(3), tile_for<kAccumulate, 4>(4)}};
  const uint32_t* a32 = reinterpret_cast<const uint32_t*>(a);
  for (int64_t i = 0; i < M; i += 4) {
    const int64_t r = std::min<int64_t>(4, M - i);
    for (int64_t n = 0; n < N; n += 64) {
      const int64_t nv = std::min<int64_t>(4, (N - n) / 16);
      fns[r - 1][nv - 1](c + i * ldc + n, ldc, a32 + i * ars, ars, acs, x2 + 2 * n, ldx, K2);
    }
  }
}

// dst: (L, Cp) with row stride ldd = s * x: (L rows of stride ls, C used), columns C..Cp zero.
template <typename In>
void rows_bf16(bf* dst, int64_t ldd, int64_t Cp, const In* x, int64_t ls, int64_t L, int64_t C, float s) {
  for (int64_t l = 0; l < L; ++l)
    for (int64_t c = 0; c < Cp; c += 16)
      _mm256_mask_storeu_epi16(dst + l * ldd + c, first(Cp - c), load_bf16(x + l * ls + c, C - c, s));
}

// s * x: (L rows of stride ls, C used) as a pair-interleaved operand over L: pair row t holds
// rows 2t and 2t+1 interleaved, Cp (a multiple of 16) columns, 2*Cp bf16; rows L..Lp and
// columns C..Cp zero. Read as a left operand it is A(j, 2t+e) = x(2t+e, j): ars 1, acs Cp.
template <typename In>
void pairs_over_rows(bf* dst, int64_t Cp, const In* x, int64_t ls, int64_t L, int64_t Lp, int64_t C, float s) {
  for (int64_t t = 0; t < Lp / 2; ++t) {
    const int64_t n0 = 2 * t < L ? C : 0, n1 = 2 * t + 1 < L ? C : 0;
    const In* x0 = x + std::min(2 * t, L - 1) * ls;
    const In* x1 = x + std::min(2 * t + 1, L - 1) * ls;
    for (int64_t c = 0; c < Cp; c += 16) {
      // maskz forms: the plain ones trip GCC 12's -Wmaybe-uninitialized inside the intrinsics
      const __m512i lo = _mm512_maskz_cvtepu16_epi32(0xffff, load_bf16(x0 + c, n0 - c, s));
      const __m512i hi = _mm512_maskz_slli_epi32(0xffff, _mm512_maskz_cvtepu16_epi32(0xffff, load_bf16(x1 + c, n1 - c, s)), 16);
      _mm512_storeu_si512(dst + t * 2 * Cp + 2 * c, _mm512_or_si512(lo, hi));
    }
  }
}

// The 16 x 16 transpose of r[0..15] (rows of 16 32-bit values) in place: r[j] becomes
// column j. Pure moves: any bits (bf16 pairs here) pass unchanged. (maskz forms: the plain
// ones trip GCC 12's -Wmaybe-uninitialized inside the intrinsics.)
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {  // pairs of rows interleaved within each 128-bit lane
    t[2 * i] = _mm512_maskz_unpacklo_ps(0xffff, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(0xffff, r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i+c]: rows 4i..4i+3 of columns c, c+4, c+8, c+12 (one per lane)
    u[4 * i] = _mm512_maskz_shuffle_ps(0xffff, t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_maskz_shuffle_ps(0xffff, t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm512_maskz_shuffle_ps(0xffff, t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_maskz_shuffle_ps(0xffff, t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int c = 0; c < 4; ++c) {
    // t[c]: columns c, c+8, c, c+8 of rows 0-3, 0-3, 4-7, 4-7 (one per lane); t[c+4]: the
    // same of columns c+4, c+12; t[c+8], t[c+12]: likewise of rows 8-15.
    t[c] = _mm512_maskz_shuffle_f32x4(0xffff, u[c], u[4 + c], 0x88);
    t[c + 4] = _mm512_maskz_shuffle_f32x4(0xffff, u[c], u[4 + c], 0xdd);
    t[c + 8] = _mm512_maskz_shuffle_f32x4(0xffff, u[8 + c], u[12 + c], 0x88);
    t[c + 12] = _mm512_maskz_shuffle_f32x4(0xffff, u[8 + c], u[12 + c], 0xdd);
  }
  for (int c = 0; c < 8; ++c) {  // the first and second halves of t[c], t[c+8]: columns c and c+8
    r[c] = _mm512_maskz_shuffle_f32x4(0xffff, t[c], t[c + 8], 0x88);
    r[c + 8] = _mm512_maskz_shuffle_f32x4(0xffff, t[c], t[c + 8], 0xdd);
  }
}

// x^T as a pair-interleaved operand over C (x: L rows of stride ls, C used): pair row t holds
// (x(l, 2t), x(l, 2t+1)) for every l, Lp (a multiple of 16) pairs per row; rows L..Lp and
// an odd last column zero. The pairs (32 bits each) of 16 rows by 16 pair columns are
// transposed in registers, read straight from bf16 rows of even C and stride, else from a
// rounded copy in tmp (L * round2(C) bf16 of scratch).
template <typename In>
void pairs_over_cols(bf* dst, int64_t Lp, const In* x, int64_t ls, int64_t L, int64_t C, bf* tmp) {
  const int64_t C2 = round2(C), T = C2 / 2;
  const void* src = tmp;
  int64_t lds = T;  // pairs per source row
  if constexpr (std::is_same_v<In, bf16>) {
    if (C % 2 == 0 && ls % 2 == 0 && reinterpret_cast<uintptr_t>(x) % 4 == 0) src = x, lds = ls / 2;
  }
  if (src == tmp) rows_bf16(tmp, C2, C2, x, ls, L, C, 1.0f);
  const int32_t* pairs = static_cast<const int32_t*>(src);
  int32_t* out = reinterpret_cast<int32_t*>(dst);
  for (int64_t l0 = 0; l0 < Lp; l0 += 16)
    for (int64_t t0 = 0; t0 < T; t0 += 16) {
      const int64_t nt = std::min<int64_t>(16, T - t0);
      const __mmask16 cols = first(nt);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i)
        r[i] = l0 + i < L ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(cols, pairs + (l0 + i) * lds + t0))
                          : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t c = 0; c < nt; ++c) _mm512_storeu_si512(out + (t0 + c) * Lp + l0, _mm512_castps_si512(r[c]));
    }
}

// Scores computed from q rounded before it was scaled (bf16 operands) take the scale now:
// scaling and rounding q again would round it twice. s: R rows of stride ld, n used.
void scale_rows(float* s, int64_t ld, int64_t R, int64_t n, float scale) {
  for (int64_t r = 0; r < R; ++r)
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) s[r * ld + j] *= scale;
}

// bf16 operands are rounded already: q is then multiplied unscaled and the scale applied
// to the products' results (scores, dK) instead.
template <typename In> constexpr bool kRoundedOperands = std::is_same_v<In, bf16>;

}  // namespace

template <typename Q, typename KV>
void forward_head_bf16(int64_t b, int64_t h, float* o, HeadStrides os, float* lse, const Q* q, HeadStrides qs,
                       const KV* k, HeadStrides ks, const KV* v, HeadStrides vs, float scale,
                       const AttentionShape& sh, const AttentionMask& mask, const AttentionDropout& drop) {
  const int64_t T = sh.T, S = sh.S, Dh = sh.Dh, Sp = round16(S), Dhp = round16(Dh), Dh2 = round2(Dh);
  // floats: ob, sb, mrow, lrow, zb; then bf16: k pairs over Dh, v pairs over keys, q block, p block
  const size_t nf = size_t(kBq * Dhp + kBq * kBk + 2 * kBq + kBk);
  const size_t nb = size_t(2 * Dh2 * Sp + Sp * 2 * Dhp + kBq * Dh2 + kBq * kBk);
  float* ob = scratch(nf + (nb + 1) / 2 + 16);
  float* sb = ob + kBq * Dhp;
  float* mrow = sb + kBq * kBk;
  float* lrow = mrow + kBq;
  float* zb = lrow + kBq;
  bf* kt2 = reinterpret_cast<bf*>(zb + kBk);
  bf* v2 = kt2 + Dh2 * Sp;
  bf* qb = v2 + Sp * 2 * Dhp;
  bf* pb = qb + kBq * Dh2;
  bf* tmp = pb + kBq * kBk;
  pairs_over_cols(kt2, Sp, k + b * ks.b + h * ks.h, ks.l, S, Dh, tmp);
  pairs_over_rows(v2, Dhp, v + b * vs.b + h * vs.h, vs.l, S, Sp, Dh, 1.0f);
  const HeadMask hm = head_mask(mask, sh, b);
  const HeadKeep keep(drop, (b * sh.H + h) * sh.T, sh.T, sh.S, /*draw=*/true);
  const uint64_t row0 = uint64_t((b * sh.H + h) * T);
  for (int64_t i0 = 0; i0 < T; i0 += kBq) {
    const int64_t R = std::min(kBq, T - i0), kend = hm.key_end(i0, R);
    rows_bf16(qb, Dh2, Dh2, q + b * qs.b + h * qs.h + i0 * qs.l, qs.l, R, Dh, kRoundedOperands<Q> ? 1.0f : scale);
    std::fill(ob, ob + R * Dhp, 0.0f);
    std::fill(mrow, mrow + R, kNegInf);
    std::fill(lrow, lrow + R, 0.0f);
    for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
      const int64_t J = std::min(kBk, kend - j0), Jp = round16(J);
      product<false>(sb, kBk, qb, Dh2 / 2, 1, kt2 + 2 * j0, 2 * Sp, R, Dh2 / 2, Jp);
      if (kRoundedOperands<Q>) scale_rows(sb, kBk, R, Jp, scale);
      for (int64_t r = 0; r < R; ++r)
        forward_row(sb + r * kBk, zb, ob + r * Dhp, Dhp, mrow[r], lrow[r], i0 + r, j0, J, Jp, hm, keep);
      rows_bf16(pb, kBk, Jp, sb, kBk, R, Jp, 1.0f);
      // keys J..Jp have probability 0 and zero (or, past S, padded) rows of v2
      product<true>(ob, Dhp, pb, kBk / 2, 1, v2 + j0 * Dhp, 2 * Dhp, R, Jp / 2, Dhp);
    }
    finish_rows(o + b * os.b + h * os.h + i0 * os.l, os.l, lse ? lse + int64_t(row0) + i0 : nullptr, ob, Dhp, Dh,
                mrow, lrow, R);
  }
}

template <typename In>
void backward_head_bf16(int64_t b, int64_t h, float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv,
                        HeadStrides dvs, const float* dout, HeadStrides ds, const In* o, HeadStrides os,
                        const float* lse, const In* q, HeadStrides qs, const In* k, HeadStrides ks,
                        const In* v, HeadStrides vs, float scale, const AttentionShape& sh,
                        const AttentionMask& mask, const AttentionDropout& drop,
                        const AttentionAssign& assign) {
  const int64_t T = sh.T, S = sh.S, Dh = sh.Dh, Sp = round16(S), Dhp = round16(Dh), Dh2 = round2(Dh);
  constexpr int64_t kBq2 = kBq;  // kBq is even: a block's rows pair up
  // floats: dka, dva, dqb, pb, db, delta, zb; bf16: k, v pairs over Dh; k pairs over keys;
  // q block row-major and pairs over rows; dO likewise; p^T, dS^T, dS.
  const size_t nf = size_t(2 * S * Dhp + kBq * Dhp + 2 * kBq * kBk + kBq + kBk);
  const size_t nb = size_t(3 * Dh2 * Sp + Sp * 2 * Dhp + 2 * (kBq * Dh2 + kBq2 * 2 * Dhp) + 3 * kBk * kBq2);
  float* dka = scratch(nf + (nb + 1) / 2 + 16);
  float* dva = dka + S * Dhp;
  float* dqb = dva + S * Dhp;
  float* pb = dqb + kBq * Dhp;
  float* db = pb + kBq * kBk;
  float* delta = db + kBq * kBk;
  float* zb = delta + kBq;
  bf* kt2 = reinterpret_cast<bf*>(zb + kBk);
  bf* vt2 = kt2 + Dh2 * Sp;
  bf* kp2 = vt2 + Dh2 * Sp;
  bf* qb = kp2 + Sp * 2 * Dhp;
  bf* qp2 = qb + kBq * Dh2;
  bf* dob = qp2 + kBq2 * 2 * Dhp;
  bf* dop2 = dob + kBq * Dh2;
  bf* pp = dop2 + kBq2 * 2 * Dhp;  // P of a block, pairs over rows
  bf* gp = pp + kBk * kBq2;        // dS, pairs over rows
  bf* gb = gp + kBk * kBq2;        // dS, row-major
  bf* tmp = gb + kBk * kBq2;
  const In* kh = k + b * ks.b + h * ks.h;
  pairs_over_cols(kt2, Sp, kh, ks.l, S, Dh, tmp);
  pairs_over_cols(vt2, Sp, v + b * vs.b + h * vs.h, vs.l, S, Dh, tmp);
  pairs_over_rows(kp2, Dhp, kh, ks.l, S, Sp, Dh, 1.0f);
  std::fill(dka, dka + 2 * S * Dhp, 0.0f);
  const HeadMask hm = head_mask(mask, sh, b);
  const HeadKeep keep(drop, (b * sh.H + h) * sh.T, sh.T, sh.S, /*draw=*/false);
  const int64_t row0 = (b * sh.H + h) * T;
  for (int64_t i0 = 0; i0 < T; i0 += kBq) {
    const int64_t R = std::min(kBq, T - i0), R2 = round2(R), kend = hm.key_end(i0, R);
    const In* qrow = q + b * qs.b + h * qs.h + i0 * qs.l;
    const float* dorow = dout + b * ds.b + h * ds.h + i0 * ds.l;
    const float qscale = kRoundedOperands<In> ? 1.0f : scale;
    rows_bf16(qb, Dh2, Dh2, qrow, qs.l, R, Dh, qscale);
    pairs_over_rows(qp2, Dhp, qrow, qs.l, R, R2, Dh, qscale);
    rows_bf16(dob, Dh2, Dh2, dorow, ds.l, R, Dh, 1.0f);
    pairs_over_rows(dop2, Dhp, dorow, ds.l, R, R2, Dh, 1.0f);
    row_deltas(delta, dorow, ds.l, o + b * os.b + h * os.h + i0 * os.l, os.l, R, Dh);
    std::fill(dqb, dqb + R * Dhp, 0.0f);
    for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
      const int64_t J = std::min(kBk, kend - j0), Jp = round16(J), J2 = round2(J);
      product<false>(pb, kBk, qb, Dh2 / 2, 1, kt2 + 2 * j0, 2 * Sp, R, Dh2 / 2, Jp);   // scores
      if (kRoundedOperands<In>) scale_rows(pb, kBk, R, Jp, scale);
      product<false>(db, kBk, dob, Dh2 / 2, 1, vt2 + 2 * j0, 2 * Sp, R, Dh2 / 2, Jp);  // dO V^T
      for (int64_t r = 0; r < R; ++r)
        backward_row(pb + r * kBk, db + r * kBk, zb, i0 + r, j0, J, Jp, S, lse[row0 + i0 + r], delta[r],
                     hm, keep);
      // dV += P_dropped^T dO, dK += dS^T (scale q), dQ += dS K (times scale below); rows
      // R..R2 and columns J..Jp of the pair-packed P and dS are zero, as columns J..J2 of dS
      if (dv) {
        pairs_over_rows(pp, Jp, pb, kBk, R, R2, J, 1.0f);
        product<true>(dva + j0 * Dhp, Dhp, pp, 1, Jp, dop2, 2 * Dhp, J, R2 / 2, Dhp);
      }
      if (dk) {
        pairs_over_rows(gp, Jp, db, kBk, R, R2, J, 1.0f);
        product<true>(dka + j0 * Dhp, Dhp, gp, 1, Jp, qp2, 2 * Dhp, J, R2 / 2, Dhp);
      }
      if (dq) {
        rows_bf16(gb, J2, J2, db, kBk, R, J, 1.0f);
        product<true>(dqb, Dhp, gb, J2 / 2, 1, kp2 + j0 * Dhp, 2 * Dhp, R, J2 / 2, Dhp);
      }
    }
    if (dq) add_scaled_rows(dq + b * dqs.b + h * dqs.h + i0 * dqs.l, dqs.l, dqb, Dhp, R, Dh, scale, assign.q);
  }
  if (dk && kRoundedOperands<In>) scale_rows(dka, Dhp, S, Dh, scale);  // dK took unscaled q
  add_key_gradients(dk ? dk + b * dks.b + h * dks.h : nullptr, dks.l, dv ? dv + b * dvs.b + h * dvs.h : nullptr,
                    dvs.l, dka, dva, Dhp, S, Dh, assign);
}

#define ATTEND_INSTANTIATE_FORWARD(Q, KV)                                                                           \
  template void forward_head_bf16<Q, KV>(int64_t, int64_t, float*, HeadStrides, float*, const Q*, HeadStrides,      \
                                         const KV*, HeadStrides, const KV*, HeadStrides, float,                     \
                                         const AttentionShape&, const AttentionMask&, const AttentionDropout&);
ATTEND_INSTANTIATE_FORWARD(float, float)
ATTEND_INSTANTIATE_FORWARD(bf16, bf16)
ATTEND_INSTANTIATE_FORWARD(float, bf16)
#undef ATTEND_INSTANTIATE_FORWARD

#define ATTEND_INSTANTIATE(In)                                                                                       \
  template void backward_head_bf16<In>(int64_t, int64_t, float*, HeadStrides, float*, HeadStrides, float*,           \
                                       HeadStrides, const float*, HeadStrides, const In*, HeadStrides, const float*, \
                                       const In*, HeadStrides, const In*, HeadStrides, const In*, HeadStrides, float, \
                                       const AttentionShape&, const AttentionMask&, const AttentionDropout&,       \
                                       const AttentionAssign&);
ATTEND_INSTANTIATE(float)
ATTEND_INSTANTIATE(bf16)
#undef ATTEND_INSTANTIATE

}  // namespace attend::kernels::attention_detail

#endif  // __AVX512BF16__
