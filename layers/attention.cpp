#include "layers/attention.h"

#include <algorithm>
#include <cmath>

#include "core/bf16_weights.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"

namespace attend {
namespace {

// Added to masked scores: exp() of it underflows to exactly 0, and unlike -inf it
// cannot turn a row whose keys are all masked into NaN.
constexpr float kMasked = -1e30f;

LinearOptions projection(const AttentionOptions& o) { return {.in = o.d_model, .out = o.d_model, .gen = o.gen}; }

template <typename T> void mark_pads(float* mask, const T* ids, int64_t n, int64_t pad_id) {
  for (int64_t i = 0; i < n; ++i) mask[i] = ids[i] == pad_id ? 1.0f : 0.0f;
}

}  // namespace

DType KVCache::decoding_dtype() { return gemm_precision() == GemmPrecision::bf16 ? DType::bf16 : DType::f32; }

void KVCache::append(const Tensor& k_new, const Tensor& v_new) {
  CHECK(k_new.dim() == 4 && v_new.shape() == k_new.shape(), "KVCache::append: keys {} and values {} must be (B,H,T,Dh)",
        k_new.str(), v_new.str());
  if (!empty())
    CHECK(k.size(0) == k_new.size(0) && k.size(1) == k_new.size(1) && k.size(3) == k_new.size(3),
          "KVCache::append: cache holds {}, new keys are {}", k.str(), k_new.str());
  if (autograd::needs_grad({k_new, v_new})) {  // differentiable: concatenate
    const bool first = empty();
    k = first ? k_new.contiguous() : concat({k, k_new}, 2);
    v = first ? v_new.contiguous() : concat({v, v_new}, 2);
    k_store = v_store = Tensor();
    return;
  }
  const int64_t L = length(), T = k_new.size(2);
  const DType dtype = empty() ? decoding_dtype() : k.dtype();
  if (L + T > capacity() || !k_store.defined()) {  // move into stores twice as large
    Shape shape = k_new.shape();
    shape[2] = std::max({L + T, 2 * capacity(), kMinCapacity});
    Tensor ks = Tensor::empty(shape, dtype), vs = Tensor::empty(shape, dtype);
    if (L > 0) {
      copy_strided(ks.slice(2, 0, L), k);
      copy_strided(vs.slice(2, 0, L), v);
    }
    k_store = ks, v_store = vs;
  }
  copy_strided(k_store.slice(2, L, L + T), to_dtype(k_new, dtype));
  copy_strided(v_store.slice(2, L, L + T), to_dtype(v_new, dtype));
  k = k_store.slice(2, 0, L + T);
  v = v_store.slice(2, 0, L + T);
}

void KVCache::reorder(const Tensor& index) {
  if (empty()) return;
  if (k_store.defined()) {  // keep the room for more positions
    const int64_t L = length();
    k_store = index_select(k_store, 0, index);
    v_store = index_select(v_store, 0, index);
    k = k_store.slice(2, 0, L);
    v = v_store.slice(2, 0, L);
    return;
  }
  k = index_select(k, 0, index);
  v = index_select(v, 0, index);
}

Tensor padding_mask(const Tensor& ids_in, int64_t pad_id) {
  CHECK(ids_in.dim() == 2, "padding_mask: ids must be (B,S), got {}", ids_in.str());
  Tensor ids = ids_in.contiguous();
  Tensor mask = Tensor::empty({ids.size(0), 1, 1, ids.size(1)});
  if (ids.dtype() == DType::i32) {
    mark_pads(mask.data(), ids.data_as<int32_t>(), ids.numel(), pad_id);
  } else {
    CHECK(ids.dtype() == DType::i64, "padding_mask: ids must be i32 or i64, got {}", ids.str());
    mark_pads(mask.data(), ids.data_as<int64_t>(), ids.numel(), pad_id);
  }
  return mask;
}

Tensor causal_mask(int64_t T, int64_t S) {
  CHECK(T <= S, "causal_mask: {} queries but only {} keys", T, S);
  Tensor mask = Tensor::empty({T, S});
  float* m = mask.data();
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j) m[i * S + j] = j > i + (S - T) ? 1.0f : 0.0f;
  return mask;
}

MultiHeadAttention::MultiHeadAttention(const AttentionOptions& options)
    : options_(options),
      q_proj_(projection(options)),
      k_proj_(projection(options)),
      v_proj_(projection(options)),
      out_proj_(projection(options)),
      dropout_({.p = options.dropout, .gen = options.gen}) {
  CHECK(options.heads > 0 && options.d_model % options.heads == 0,
        "MultiHeadAttention: heads {} does not divide d_model {}", options.heads, options.d_model);
  register_module("q_proj", q_proj_);
  register_module("k_proj", k_proj_);
  register_module("v_proj", v_proj_);
  register_module("out_proj", out_proj_);
  register_module("dropout", dropout_);
}

Tensor MultiHeadAttention::split_heads(const Tensor& x) const {
  const int64_t B = x.size(0), T = x.size(1), H = options_.heads;
  return x.reshape({B, T, H, options_.d_model / H}).permute({0, 2, 1, 3});
}

Tensor MultiHeadAttention::merge_heads(const Tensor& x) const {
  const int64_t B = x.size(0), T = x.size(2);
  return x.permute({0, 2, 1, 3}).reshape({B, T, options_.d_model});
}

Tensor MultiHeadAttention::project(const Tensor& x, std::initializer_list<const Linear*> projections,
                                   DType out) const {
  std::vector<Tensor> weights, biases;
  for (const Linear* p : projections) {
    weights.push_back(p->weight());
    if (p->bias().defined()) biases.push_back(p->bias());
  }
  std::vector<Tensor> inputs = weights;
  inputs.insert(inputs.end(), biases.begin(), biases.end());
  if (autograd::needs_grad(inputs) || autograd::needs_grad({x}))
    return linear(x, concat(weights, 0), biases.empty() ? Tensor() : concat(biases, 0), out);
  const Tensor w = cached_concat(weights);
  if (!w.defined()) return Tensor();
  return linear(x, w, biases.empty() ? Tensor() : cached_concat(biases), out);
}

Tensor MultiHeadAttention::attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding,
                                  bool causal, Tensor* probs) const {
  const int64_t B = q.size(0), T = q.size(1), S = k.size(k.dim() == 4 ? 2 : 1), H = options_.heads;
  const float scale = 1.0f / std::sqrt(float(options_.d_model / H));
  if (!probs)  // one fused op that never holds the (B,H,T,S) probabilities
    return attention(q, k, v, H, key_padding, causal, scale, dropout_p(), options_.gen);
  // With the probabilities asked for (alignments), the composed ops, which keep them.
  auto heads = [this](const Tensor& x) { return x.dim() == 4 ? to_dtype(x, DType::f32) : split_heads(x); };
  Tensor scores = matmul(split_heads(q) * scale, heads(k).transpose(2, 3));  // (B,H,T,S)
  if (key_padding.defined()) {
    CHECK(key_padding.shape() == Shape({B, 1, 1, S}), "attention: key padding mask {} does not match [{}, 1, 1, {}]",
          key_padding.str(), B, S);
    scores = masked_fill(scores, key_padding, kMasked);
  }
  if (causal && T > 1) scores = masked_fill(scores, causal_mask(T, S), kMasked);
  Tensor p = softmax(scores);
  *probs = p;
  return merge_heads(matmul(dropout_.forward(p), heads(v)));
}

Tensor MultiHeadAttention::self_attention(const Tensor& x, const Tensor& key_padding, bool causal, KVCache* cache,
                                          Tensor* probs) const {
  CHECK(x.dim() == 3 && x.size(2) == options_.d_model, "self_attention: input {} is not (B, T, {})", x.str(),
        options_.d_model);
  const int64_t D = options_.d_model;
  const DType type = cache ? DType::f32 : activation_dtype();  // a decoding cache appends f32 (or its own) rows
  const Tensor qkv = probs ? Tensor() : project(x, {&q_proj_, &k_proj_, &v_proj_}, type);  // (B,T,3D)
  if (qkv.defined() && !cache) {
    const float scale = 1.0f / std::sqrt(float(D / options_.heads));
    return out_proj_.forward(
        attention_qkv(qkv, options_.heads, key_padding, causal, scale, dropout_p(), options_.gen));
  }
  Tensor q, k, v;
  if (qkv.defined()) {
    q = qkv.slice(2, 0, D), k = qkv.slice(2, D, 2 * D), v = qkv.slice(2, 2 * D, 3 * D);
  } else {
    q = q_proj_.forward(x), k = k_proj_.forward(x), v = v_proj_.forward(x);
  }
  if (cache) {  // heads-major (B,H,L,Dh), as the cache keeps them
    CHECK(cache->empty() || cache->k.size(0) == x.size(0), "self_attention: cache holds {} rows, input has {}",
          cache->k.size(0), x.size(0));
    cache->append(split_heads(k), split_heads(v));  // in place, no copy of the past positions
    k = cache->k;
    v = cache->v;
  }
  return out_proj_.forward(attend(q, k, v, key_padding, causal, probs));
}

Tensor MultiHeadAttention::cross_attention(const Tensor& x, const Tensor& memory, const Tensor& key_padding,
                                           KVCache* cache, Tensor* probs) const {
  CHECK(x.dim() == 3 && x.size(2) == options_.d_model, "cross_attention: input {} is not (B, T, {})", x.str(),
        options_.d_model);
  if (!cache && !probs) {
    CHECK(memory.dim() == 3 && memory.size(0) == x.size(0) && memory.size(2) == options_.d_model,
          "cross_attention: memory {} does not match input {}", memory.str(), x.str());
    const Tensor kv = project(memory, {&k_proj_, &v_proj_}, activation_dtype());  // (B,S,2D)
    if (kv.defined()) {
      const float scale = 1.0f / std::sqrt(float(options_.d_model / options_.heads));
      return out_proj_.forward(attention_q_kv(q_proj_.forward(x, activation_dtype()), kv, options_.heads, key_padding,
                                              false, scale, dropout_p(), options_.gen));
    }
  }
  Tensor k, v;
  if (cache && !cache->empty()) {
    k = cache->k;
    v = cache->v;
  } else {
    CHECK(memory.dim() == 3 && memory.size(0) == x.size(0) && memory.size(2) == options_.d_model,
          "cross_attention: memory {} does not match input {}", memory.str(), x.str());
    k = k_proj_.forward(memory);
    v = v_proj_.forward(memory);
    if (cache) {
      const bool keep16 = KVCache::decoding_dtype() == DType::bf16 && !autograd::needs_grad({k, v});
      k = split_heads(k).contiguous(), v = split_heads(v).contiguous();
      cache->k = k = keep16 ? to_dtype(k, DType::bf16) : k;
      cache->v = v = keep16 ? to_dtype(v, DType::bf16) : v;
    }
  }
  return out_proj_.forward(attend(q_proj_.forward(x), k, v, key_padding, /*causal=*/false, probs));
}

}  // namespace attend
