// ModelConfig: the architecture of a model, a plain struct with in-class defaults
// (DESIGN.md "model:" section plus the sizes the data decides). The tools layer maps
// YAML onto it; layers and models never see YAML.
//
//   ModelConfig c;                       // defaults: base Transformer, 6+6 layers
//   c.src_vocab = c.tgt_vocab = 8000;
//   c.validate();                        // throws "model.heads: 6 does not divide d_model 512"
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layers/feed_forward.h"
#include "layers/transformer_layer.h"

namespace attend {

enum class PositionKind { sinusoidal, learned };
enum class TieEmbeddings { none, decoder, all };  // decoder: decoder input = output projection
enum class Pooling { mean, first };               // classifier: mean over non-pad tokens, or token 0

struct ModelConfig {
  std::string type = "seq2seq";  // a registered model name: seq2seq, classifier
  int64_t d_model = 512;
  int64_t heads = 8;
  int64_t ffn_dim = 2048;
  int64_t encoder_layers = 6;
  int64_t decoder_layers = 6;  // seq2seq only
  float dropout = 0.1f;
  float attention_dropout = 0.0f;
  Activation activation = Activation::relu;
  NormPlacement norm = NormPlacement::post;
  PositionKind positions = PositionKind::sinusoidal;
  int64_t max_positions = 1024;
  TieEmbeddings tie_embeddings = TieEmbeddings::all;  // seq2seq only
  int64_t src_vocab = 0;    // from the tokenizer
  int64_t tgt_vocab = 0;    // seq2seq only
  int64_t num_classes = 0;  // classifier only
  Pooling pooling = Pooling::mean;  // classifier only
  int64_t pad_id = 0;

  // Throws naming the field and the rule it breaks (prefix "model."). The type itself
  // is checked by make_model against the registry.
  void validate() const;
};

// How each enum value is spelled in configs (the tools layer reads and writes YAML with these).
template <typename E> using EnumNames = std::vector<std::pair<std::string, E>>;
const EnumNames<Activation>& activation_names();
const EnumNames<NormPlacement>& norm_names();
const EnumNames<PositionKind>& position_names();
const EnumNames<TieEmbeddings>& tie_names();
const EnumNames<Pooling>& pooling_names();
std::string_view to_string(PositionKind v);
std::string_view to_string(TieEmbeddings v);
std::string_view to_string(Pooling v);

}  // namespace attend
