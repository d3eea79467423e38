#include "layers/transformer_layer.h"

#include "core/ops.h"

namespace attend {
namespace {

AttentionOptions attention(const TransformerLayerOptions& o) {
  return {.d_model = o.d_model, .heads = o.heads, .dropout = o.attention_dropout, .gen = o.gen};
}
FeedForwardOptions feed_forward(const TransformerLayerOptions& o) {
  return {.d_model = o.d_model, .ffn_dim = o.ffn_dim, .activation = o.activation, .gen = o.gen};
}

// One residual sublayer with the norm placed after (post) or before (pre) f: post-norm
// norm(x + dropout(f(x))) as one fused op, pre-norm x + dropout(f(norm(x))) with the
// dropout and the add fused.
template <typename F>
Tensor residual(NormPlacement placement, const LayerNorm& norm, const Dropout& dropout, const Tensor& x, F&& f) {
  if (placement == NormPlacement::post) {
    const Tensor y = f(x);  // before add_layer_norm takes its dropout stream
    return add_layer_norm(x, y, norm.weight(), norm.bias(), norm.eps(), dropout.active_p(), dropout.gen());
  }
  return dropout.forward_add(x, f(norm.forward(x)));
}

}  // namespace

std::string_view norm_name(NormPlacement n) { return n == NormPlacement::post ? "post" : "pre"; }

EncoderLayer::EncoderLayer(const TransformerLayerOptions& options)
    : options_(options),
      self_attn_(attention(options)),
      self_attn_layer_norm_({.dim = options.d_model}),
      ffn_(feed_forward(options)),
      final_layer_norm_({.dim = options.d_model}),
      dropout_({.p = options.dropout, .gen = options.gen}) {
  register_module("self_attn", self_attn_);
  register_module("self_attn_layer_norm", self_attn_layer_norm_);
  register_module("", ffn_);
  register_module("final_layer_norm", final_layer_norm_);
  register_module("dropout", dropout_);
}

Tensor EncoderLayer::forward(const Tensor& x, const Tensor& key_padding, Tensor* probs) const {
  Tensor h = residual(options_.norm, self_attn_layer_norm_, dropout_, x, [&](const Tensor& in) {
    return self_attn_.self_attention(in, key_padding, /*causal=*/false, nullptr, probs);
  });
  return residual(options_.norm, final_layer_norm_, dropout_, h,
                  [&](const Tensor& in) { return ffn_.forward(in); });
}

DecoderLayer::DecoderLayer(const TransformerLayerOptions& options)
    : options_(options),
      self_attn_(attention(options)),
      self_attn_layer_norm_({.dim = options.d_model}),
      encoder_attn_(attention(options)),
      encoder_attn_layer_norm_({.dim = options.d_model}),
      ffn_(feed_forward(options)),
      final_layer_norm_({.dim = options.d_model}),
      dropout_({.p = options.dropout, .gen = options.gen}) {
  register_module("self_attn", self_attn_);
  register_module("self_attn_layer_norm", self_attn_layer_norm_);
  register_module("encoder_attn", encoder_attn_);
  register_module("encoder_attn_layer_norm", encoder_attn_layer_norm_);
  register_module("", ffn_);
  register_module("final_layer_norm", final_layer_norm_);
  register_module("dropout", dropout_);
}

Tensor DecoderLayer::forward(const Tensor& x, const Tensor& memory, const Tensor& memory_padding,
                             DecoderLayerCache* cache, Tensor* cross_probs) const {
  Tensor h = residual(options_.norm, self_attn_layer_norm_, dropout_, x, [&](const Tensor& in) {
    return self_attn_.self_attention(in, Tensor(), /*causal=*/true, cache ? &cache->self_attn : nullptr);
  });
  h = residual(options_.norm, encoder_attn_layer_norm_, dropout_, h, [&](const Tensor& in) {
    return encoder_attn_.cross_attention(in, memory, memory_padding, cache ? &cache->encoder_attn : nullptr,
                                         cross_probs);
  });
  return residual(options_.norm, final_layer_norm_, dropout_, h,
                  [&](const Tensor& in) { return ffn_.forward(in); });
}

}  // namespace attend
