// Raw-pointer kernels of the fused attention op (core/ops.h `attention`): scores, masks,
// softmax, dropout and the weighted sum of values in one blocked pass that never holds
// a (B,H,T,S) tensor. Forward runs an online softmax (running max and sum) over blocks
// of keys for each block of queries and saves one log-sum-exp per query row; backward
// recomputes the probabilities block by block from q, k and that log-sum-exp
// (FlashAttention-2, Dao 2023). Work is split over (b,h) pairs on the OpenMP threads,
// each pair computed by one thread in a fixed order: results do not depend on the
// thread count. Operands, gradients included, are (B,H,L,Dh) with any strides except a
// contiguous last dim: heads side by side in (B,L,H*Dh) rows are (B,H,L,Dh) with strides
// {L*H*Dh, Dh, H*Dh}. q, k, v (and backward's o) may also be bf16 (mixed-precision
// training keeps them so, core/ops_attention.cpp): each value is widened to fp32 as it is
// read, so the results are those of the fp32 call on the same (rounded) values.
//
//   kernels::attention_forward(o, os, lse, q, qs, k, ks, v, vs, shape, mask, drop);
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace attend::kernels {

struct AttentionShape {
  int64_t B, H, T, S, Dh;  // T queries, S keys/values per (b,h), Dh per head
  // Products (q k^T, p v and backward's) on bf16-rounded operands with fp32 accumulation
  // (AVX512-BF16); softmax, masks and dropout stay fp32. Ignored without AVX512-BF16 and
  // below 64 queries or keys (16 for bf16 operands), where rounding and packing the operands
  // costs more than it saves.
  bool bf16 = false;
};
// Element strides of a (B,H,L,Dh) operand over b, h and l (its last dim has stride 1).
struct HeadStrides {
  int64_t b, h, l;
};
// Scores masked by key_padding ((B,S), nonzero = masked; null = none) or, when causal, for
// keys after the query (queries are the last T of S positions) become -1e30, as the
// composed path's masked_fill does: a row with every key masked attends uniformly.
struct AttentionMask {
  const float* key_padding = nullptr;
  bool causal = false;
};
// Probability (b,h,t,s) is kept when dropout_uniform(seed, stream, ((b*H+h)*T+t)*S+s) >= p and
// scaled by 1/(1-p): the mask the dropout op draws on a contiguous (B,H,T,S) tensor.
// keep_bits, if set, holds (B,H,T,ceil(S/16)) words of 16 bits (bit e of word c: key 16c+e
// kept): forward writes the mask there and backward reads it instead of drawing it again.
struct AttentionDropout {
  float p = 0.0f;
  uint64_t seed = 0, stream = 0;
  uint16_t* keep_bits = nullptr;
};
// Words of AttentionDropout::keep_bits for a shape.
inline int64_t attention_keep_words(const AttentionShape& sh) { return sh.B * sh.H * sh.T * ((sh.S + 15) / 16); }

// o = dropout(softmax(scale * q k^T masked)) v. q: (B,H,T,Dh) strides qs; k, v: (B,H,S,Dh)
// strides ks, vs; o: (B,H,T,Dh) strides os (written); lse: (B,H,T) contiguous or null,
// receives log(sum_s exp(score)) of every row for backward.
void attention_forward(float* o, HeadStrides os, float* lse, const float* q, HeadStrides qs, const float* k,
                       HeadStrides ks, const float* v, HeadStrides vs, float scale, const AttentionShape& shape,
                       const AttentionMask& mask, const AttentionDropout& drop);
void attention_forward(float* o, HeadStrides os, float* lse, const bf16* q, HeadStrides qs, const bf16* k,
                       HeadStrides ks, const bf16* v, HeadStrides vs, float scale, const AttentionShape& shape,
                       const AttentionMask& mask, const AttentionDropout& drop);
// With keys and values from a bf16 decoding cache.
void attention_forward(float* o, HeadStrides os, float* lse, const float* q, HeadStrides qs, const bf16* k,
                       HeadStrides ks, const bf16* v, HeadStrides vs, float scale, const AttentionShape& shape,
                       const AttentionMask& mask, const AttentionDropout& drop);
// How attention_backward stores each of dq, dk, dv: added to what the buffer holds (+=),
// or assigned (=) when the buffer is new: backward writes every element of them.
struct AttentionAssign {
  bool q = false, k = false, v = false;
};
// dq += d/dq, dk += d/dk, dv += d/dv of sum(do * o) (each null when not wanted; = instead
// of += where `assign` says).
// dq: (B,H,T,Dh) strides dqs, dk, dv: (B,H,S,Dh) strides dks, dvs; dout, o: (B,H,T,Dh)
// strides ds, os; q, k, v as in forward; lse: (B,H,T) from forward.
void attention_backward(float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv, HeadStrides dvs,
                        const float* dout, HeadStrides ds, const float* o,
                        HeadStrides os, const float* lse, const float* q, HeadStrides qs, const float* k,
                        HeadStrides ks, const float* v, HeadStrides vs, float scale, const AttentionShape& shape,
                        const AttentionMask& mask, const AttentionDropout& drop, const AttentionAssign& assign = {});
void attention_backward(float* dq, HeadStrides dqs, float* dk, HeadStrides dks, float* dv, HeadStrides dvs,
                        const float* dout, HeadStrides ds, const bf16* o, HeadStrides os, const float* lse,
                        const bf16* q, HeadStrides qs, const bf16* k, HeadStrides ks, const bf16* v, HeadStrides vs,
                        float scale, const AttentionShape& shape, const AttentionMask& mask,
                        const AttentionDropout& drop, const AttentionAssign& assign = {});

}  // namespace attend::kernels
