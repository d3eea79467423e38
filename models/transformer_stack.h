// The encoder and decoder stacks shared by Seq2Seq and Classifier:
//   x = dropout(embed_tokens(ids) * sqrt(D) + positions(0..T-1)), then the layers,
//   then (pre-norm only) a final layer_norm. Batches are right-padded with pad_id.
// Names under the stack: embed_tokens.weight, embed_positions.weight (learned only),
// layers.{i}.*, layer_norm.* (pre-norm only); the decoder adds output_projection.weight.
//
//   TransformerEncoder encoder(config, &gen);
//   Tensor mask = padding_mask(src, config.pad_id);       // (B,1,1,S)
//   Tensor memory = encoder.forward(src, mask);           // (B,S) -> (B,S,D)
//   TransformerDecoder decoder(config, &gen, encoder.embed_tokens().weight());  // tie: all
//   Tensor logits = decoder.forward(tgt_in, memory, mask); // (B,T) -> (B,T,V)
#pragma once

#include <memory>
#include <vector>

#include "layers/attention.h"
#include "layers/dropout.h"
#include "layers/embedding.h"
#include "layers/layer_norm.h"
#include "layers/linear.h"
#include "layers/transformer_layer.h"
#include "models/model_config.h"

namespace attend {

class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const ModelConfig& config, Generator* gen);
  // src: (B,S) ids, key_padding: (B,1,1,S) -> (B,S,D)
  Tensor forward(const Tensor& src, const Tensor& key_padding) const;
  const Embedding& embed_tokens() const { return *embed_tokens_; }

 private:
  std::unique_ptr<Embedding> embed_tokens_;
  std::unique_ptr<Positions> embed_positions_;
  Dropout dropout_;
  std::vector<std::unique_ptr<EncoderLayer>> layers_;
  std::unique_ptr<LayerNorm> layer_norm_;
};

class TransformerDecoder : public Module {
 public:
  // shared_embedding: the encoder's embedding weight when tie_embeddings is all, else undefined.
  TransformerDecoder(const ModelConfig& config, Generator* gen, const Tensor& shared_embedding);
  // tgt: (B,T) ids at positions start..start+T-1, memory: (B,S,D), memory_padding:
  // (B,1,1,S) -> logits (B,T,V). With caches (one per layer), tgt holds the new positions
  // only. alignment, if given, receives the last layer's encoder attention averaged over
  // heads: (B,T,S). layer_attention, if given, receives every layer's encoder attention
  // (B,H,T,S), first layer first.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& memory_padding,
                 std::vector<DecoderLayerCache>* caches = nullptr, int64_t start = 0,
                 Tensor* alignment = nullptr, std::vector<Tensor>* layer_attention = nullptr) const;
  // forward() without its output projection: (B,T) -> (B,T,D), for a loss that applies
  // the projection itself (linear_cross_entropy with output_weight()).
  Tensor hidden(const Tensor& tgt, const Tensor& memory, const Tensor& memory_padding) const;
  const Tensor& output_weight() const { return output_projection_->weight(); }  // (V,D); the projection has no bias
  int64_t num_layers() const { return int64_t(layers_.size()); }

 private:
  Tensor hidden(const Tensor& tgt, const Tensor& memory, const Tensor& memory_padding,
                std::vector<DecoderLayerCache>* caches, int64_t start, Tensor* alignment,
                std::vector<Tensor>* layer_attention) const;
  std::unique_ptr<Embedding> embed_tokens_;
  std::unique_ptr<Positions> embed_positions_;
  Dropout dropout_;
  std::vector<std::unique_ptr<DecoderLayer>> layers_;
  std::unique_ptr<LayerNorm> layer_norm_;
  std::unique_ptr<Linear> output_projection_;
};

}  // namespace attend
