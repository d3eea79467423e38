// One Transformer encoder layer and one decoder layer (Vaswani et al. 2017) with the
// norm placed after (post) or before (pre) each sublayer f:
//   post: x = LN(x + dropout(f(x)))        pre: x = x + dropout(f(LN(x)))
// (a pre-norm stack adds a final LayerNorm; the stack owns it).
// Parameter names follow fairseq: self_attn.*, self_attn_layer_norm.*, encoder_attn.*,
// encoder_attn_layer_norm.* (decoder), fc1.*, fc2.*, final_layer_norm.*.
//
//   EncoderLayer layer(options);
//   x = layer.forward(x, padding_mask(src, pad));                  // (B,S,D) -> (B,S,D)
//   DecoderLayer dec(options);
//   y = dec.forward(y, x, padding_mask(src, pad));                 // (B,T,D) -> (B,T,D)
//   y_t = dec.forward(y_t, x, mask, &cache);                       // one step: (B,1,D)
#pragma once

#include <string_view>

#include "core/rng.h"
#include "layers/attention.h"
#include "layers/dropout.h"
#include "layers/feed_forward.h"
#include "layers/layer_norm.h"

namespace attend {

enum class NormPlacement { post, pre };
std::string_view norm_name(NormPlacement n);

struct TransformerLayerOptions {
  int64_t d_model = 0;
  int64_t heads = 0;
  int64_t ffn_dim = 0;
  float dropout = 0.0f;            // on each sublayer's output
  float attention_dropout = 0.0f;  // on attention probabilities
  Activation activation = Activation::relu;
  NormPlacement norm = NormPlacement::post;
  Generator* gen = nullptr;
};

class EncoderLayer : public Module {
 public:
  explicit EncoderLayer(const TransformerLayerOptions& options);
  // x: (B,S,D), key_padding: (B,1,1,S) or undefined -> (B,S,D); probs: self-attention (B,H,S,S)
  Tensor forward(const Tensor& x, const Tensor& key_padding, Tensor* probs = nullptr) const;

 private:
  TransformerLayerOptions options_;
  MultiHeadAttention self_attn_;
  LayerNorm self_attn_layer_norm_;
  FeedForward ffn_;
  LayerNorm final_layer_norm_;
  Dropout dropout_;
};

// What a decoder layer keeps between decoding steps.
struct DecoderLayerCache {
  KVCache self_attn;     // keys/values of past target positions
  KVCache encoder_attn;  // keys/values of the source, computed on the first step
  void reorder(const Tensor& index) {
    self_attn.reorder(index);
    encoder_attn.reorder(index);
  }
};

class DecoderLayer : public Module {
 public:
  explicit DecoderLayer(const TransformerLayerOptions& options);
  // x: (B,T,D), memory: (B,S,D), memory_padding: (B,1,1,S) or undefined -> (B,T,D).
  // Causal self-attention. With a cache, x holds only the new positions.
  // cross_probs: encoder-attention probabilities (B,H,T,S).
  Tensor forward(const Tensor& x, const Tensor& memory, const Tensor& memory_padding,
                 DecoderLayerCache* cache = nullptr, Tensor* cross_probs = nullptr) const;

 private:
  TransformerLayerOptions options_;
  MultiHeadAttention self_attn_;
  LayerNorm self_attn_layer_norm_;
  MultiHeadAttention encoder_attn_;
  LayerNorm encoder_attn_layer_norm_;
  FeedForward ffn_;
  LayerNorm final_layer_norm_;
  Dropout dropout_;
};

}  // namespace attend
