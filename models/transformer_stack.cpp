#include "models/transformer_stack.h"

#include "core/ops.h"

namespace attend {
namespace {

TransformerLayerOptions layer_options(const ModelConfig& c, Generator* gen) {
  return {.d_model = c.d_model,
          .heads = c.heads,
          .ffn_dim = c.ffn_dim,
          .dropout = c.dropout,
          .attention_dropout = c.attention_dropout,
          .activation = c.activation,
          .norm = c.norm,
          .gen = gen};
}

std::unique_ptr<Positions> make_positions(const ModelConfig& c, Generator* gen) {
  const PositionOptions options{.max_positions = c.max_positions, .dim = c.d_model, .gen = gen};
  if (c.positions == PositionKind::learned) return std::make_unique<LearnedPositions>(options);
  return std::make_unique<SinusoidalPositions>(options);
}

// dropout(embed(ids) * sqrt(D) + positions); ids: (B,T) -> (B,T,D)
Tensor embed(const Embedding& tokens, const Positions& positions, const Dropout& dropout, const Tensor& ids,
             int64_t start) {
  CHECK(ids.dim() == 2, "token ids must be (B, T), got {}", ids.str());
  return dropout.forward(tokens.forward(ids) + positions.forward(start, ids.size(1)));
}

}  // namespace

TransformerEncoder::TransformerEncoder(const ModelConfig& c, Generator* gen)
    : embed_tokens_(std::make_unique<Embedding>(EmbeddingOptions{
          .vocab = c.src_vocab, .dim = c.d_model, .padding_idx = c.pad_id, .gen = gen, .label = "source token"})),
      embed_positions_(make_positions(c, gen)),
      dropout_({.p = c.dropout, .gen = gen}) {
  register_module("embed_tokens", *embed_tokens_);
  register_module("embed_positions", *embed_positions_);
  register_module("dropout", dropout_);
  for (int64_t i = 0; i < c.encoder_layers; ++i) {
    layers_.push_back(std::make_unique<EncoderLayer>(layer_options(c, gen)));
    register_module(fmt::format("layers.{}", i), *layers_.back());
  }
  if (c.norm == NormPlacement::pre) {
    layer_norm_ = std::make_unique<LayerNorm>(LayerNormOptions{.dim = c.d_model});
    register_module("layer_norm", *layer_norm_);
  }
}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& key_padding) const {
  Tensor x = embed(*embed_tokens_, *embed_positions_, dropout_, src, 0);
  for (const auto& layer : layers_) x = layer->forward(x, key_padding);
  return layer_norm_ ? layer_norm_->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(const ModelConfig& c, Generator* gen, const Tensor& shared_embedding)
    : embed_positions_(make_positions(c, gen)), dropout_({.p = c.dropout, .gen = gen}) {
  const EmbeddingOptions embedding{
      .vocab = c.tgt_vocab, .dim = c.d_model, .padding_idx = c.pad_id, .gen = gen, .label = "target token"};
  embed_tokens_ = c.tie_embeddings == TieEmbeddings::all ? std::make_unique<Embedding>(embedding, shared_embedding)
                                                         : std::make_unique<Embedding>(embedding);
  register_module("embed_tokens", *embed_tokens_);
  register_module("embed_positions", *embed_positions_);
  register_module("dropout", dropout_);
  for (int64_t i = 0; i < c.decoder_layers; ++i) {
    layers_.push_back(std::make_unique<DecoderLayer>(layer_options(c, gen)));
    register_module(fmt::format("layers.{}", i), *layers_.back());
  }
  if (c.norm == NormPlacement::pre) {
    layer_norm_ = std::make_unique<LayerNorm>(LayerNormOptions{.dim = c.d_model});
    register_module("layer_norm", *layer_norm_);
  }
  const LinearOptions projection{.in = c.d_model, .out = c.tgt_vocab, .bias = false, .gen = gen};
  output_projection_ = c.tie_embeddings == TieEmbeddings::none
                           ? std::make_unique<Linear>(projection)
                           : std::make_unique<Linear>(projection, embed_tokens_->weight());
  register_module("output_projection", *output_projection_);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& memory_padding,
                                   std::vector<DecoderLayerCache>* caches, int64_t start, Tensor* alignment,
                                   std::vector<Tensor>* layer_attention) const {
  return output_projection_->forward(hidden(tgt, memory, memory_padding, caches, start, alignment, layer_attention));
}

Tensor TransformerDecoder::hidden(const Tensor& tgt, const Tensor& memory, const Tensor& memory_padding) const {
  return hidden(tgt, memory, memory_padding, nullptr, 0, nullptr, nullptr);
}

Tensor TransformerDecoder::hidden(const Tensor& tgt, const Tensor& memory, const Tensor& memory_padding,
                                  std::vector<DecoderLayerCache>* caches, int64_t start, Tensor* alignment,
                                  std::vector<Tensor>* layer_attention) const {
  CHECK(!caches || caches->size() == layers_.size(), "decoder: {} caches for {} layers", caches->size(),
        layers_.size());
  Tensor x = embed(*embed_tokens_, *embed_positions_, dropout_, tgt, start);
  Tensor probs;
  if (layer_attention) layer_attention->clear();
  for (size_t i = 0; i < layers_.size(); ++i) {
    const bool want = layer_attention || (i + 1 == layers_.size() && alignment);
    x = layers_[i]->forward(x, memory, memory_padding, caches ? &(*caches)[i] : nullptr, want ? &probs : nullptr);
    if (layer_attention) layer_attention->push_back(probs);
  }
  if (alignment) *alignment = mean(probs, {1});  // (B,H,T,S) -> (B,T,S)
  if (layer_norm_) x = layer_norm_->forward(x);
  return x;
}

}  // namespace attend
