// Multi-head scaled dot-product attention (Vaswani et al. 2017), self or cross
// (encoder-decoder), with key-padding and causal masks, attention dropout, the
// attention probabilities on request, and a key/value cache for incremental decoding.
// Parameters: {q,k,v,out}_proj.{weight,bias}, each [D, D] / [D].
//
//   MultiHeadAttention attn({.d_model = D, .heads = H, .gen = &gen});
//   Tensor mask = padding_mask(src_ids, /*pad_id=*/0);           // (B,1,1,S)
//   Tensor y = attn.self_attention(x, mask, /*causal=*/false);    // (B,S,D) -> (B,S,D)
//   Tensor z = attn.cross_attention(y_dec, memory, mask);         // (B,T,D), (B,S,D) -> (B,T,D)
//
// Decoding one position at a time: pass a KVCache. Self-attention appends the new
// keys/values to it; cross-attention computes the memory's keys/values on the first
// call and reuses them, so each step costs O(T), not O(T^2). KVCache::reorder selects
// batch rows (beam search).
#pragma once

#include <initializer_list>

#include "core/rng.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/module.h"

namespace attend {

// Keys and values of past positions of one attention layer: (B,H,L,Dh) each (heads-major:
// a decoding step reads each head's keys as one contiguous block). append() writes new
// positions in place into stores with room for more (B,H,capacity,Dh), whose capacity
// doubles when full, so a decoding step copies only its own keys/values; k and v are then
// views of the stores' first L positions. (With gradients wanted, append concatenates
// instead, so keys/values stay differentiable.) Decoding in bf16 precision keeps them in
// bf16 (decoding_dtype): a step reads half the bytes; attention widens them as it reads.
struct KVCache {
  Tensor k, v;              // (B,H,L,Dh)
  Tensor k_store, v_store;  // (B,H,capacity,Dh) behind k and v, or undefined
  static constexpr int64_t kMinCapacity = 16;
  bool empty() const { return !k.defined(); }
  int64_t length() const { return empty() ? 0 : k.size(2); }
  int64_t capacity() const { return k_store.defined() ? k_store.size(2) : length(); }
  // k_new, v_new: (B,H,T,Dh) the keys/values of T new positions, B as the cache's.
  void append(const Tensor& k_new, const Tensor& v_new);
  void reorder(const Tensor& index);  // index: (B') i32/i64 rows of the batch to keep
  void clear() { k = v = k_store = v_store = Tensor(); }
  // What a new cache keeps keys and values in: bf16 under gemm precision bf16, else f32.
  static DType decoding_dtype();
};

// ids: (B,S) i32/i64 -> (B,1,1,S) f32 with 1 where ids == pad_id (keys to ignore).
Tensor padding_mask(const Tensor& ids, int64_t pad_id);
// (T,S) f32 with 1 where key j lies after query i, queries being the last T of S positions.
Tensor causal_mask(int64_t T, int64_t S);

struct AttentionOptions {
  int64_t d_model = 0;
  int64_t heads = 0;
  float dropout = 0.0f;      // on the attention probabilities, in training mode
  Generator* gen = nullptr;  // initialisation and dropout
};

class MultiHeadAttention : public Module {
 public:
  explicit MultiHeadAttention(const AttentionOptions& options);

  // x: (B,T,D), key_padding: (B,1,1,S) or undefined -> (B,T,D). causal: query i sees keys
  // <= i. With a cache, x holds only the new positions and S = cache length + T.
  // probs, if given, receives the attention probabilities (B,H,T,S).
  Tensor self_attention(const Tensor& x, const Tensor& key_padding, bool causal, KVCache* cache = nullptr,
                        Tensor* probs = nullptr) const;
  // x: (B,T,D) attends to memory: (B,S,D); key_padding: (B,1,1,S) or undefined -> (B,T,D).
  // With a cache, memory's keys/values are computed once and reused while it is filled.
  Tensor cross_attention(const Tensor& x, const Tensor& memory, const Tensor& key_padding,
                         KVCache* cache = nullptr, Tensor* probs = nullptr) const;

  // The attention math, in one place: q: (B,T,D), k, v: (B,S,D), heads side by side, or
  // (B,H,S,Dh) (from a KVCache) -> (B,T,D).
  // softmax(q k^T / sqrt(Dh) masked) v per head; masked keys get probability 0. Without probs
  // this is the fused `attention` op (core/ops.h), which never holds the (B,H,T,S)
  // probabilities; with probs, the composed ops (matmul, masked_fill, softmax, dropout,
  // matmul) on split heads, which keep them.
  Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding, bool causal,
                Tensor* probs) const;

  const AttentionOptions& options() const { return options_; }

 private:
  Tensor split_heads(const Tensor& x) const;  // (B,T,D) -> (B,H,T,Dh)
  Tensor merge_heads(const Tensor& x) const;  // (B,H,T,Dh) -> (B,T,D)
  // x through several projections (q|k|v, k|v) in one product, the results side by side:
  // in training the weights are concatenated in the forward (the concat's backward splits
  // their gradient); without gradients under a Bf16WeightCache (decoding) the
  // concatenation is made and packed once (cached_concat). Undefined otherwise (then one
  // product per projection). Parameter names are unchanged. The result is f32, or bf16
  // when `out` says (bf16 training, for the fused attention, which reads it rounded anyway).
  Tensor project(const Tensor& x, std::initializer_list<const Linear*> projections, DType out = DType::f32) const;
  float dropout_p() const { return dropout_.is_training() ? dropout_.p() : 0.0f; }

  AttentionOptions options_;
  Linear q_proj_, k_proj_, v_proj_, out_proj_;
  Dropout dropout_;
};

}  // namespace attend
