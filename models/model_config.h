// ModelConfig: the architecture of a model, a plain struct with in-class defaults
// (DESIGN.md "model:" section plus the sizes the data decides). The tools layer maps
// YAML onto it; layers and models never see YAML.
//
//   ModelConfig c;                       // defaults: base Transformer, 6+6 layers
//   c.src_vocab = c.tgt_vocab = 8000;
//   c.validate();                        // throws "model.heads: 6 does not divide d_model 512"
//   auto fields = c.to_fields();         // every field as (name, text), defaults spelled out
//   ModelConfig d = ModelConfig::from_fields({{"d_model", "256"}, {"norm", "pre"}});
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
  // Every field as text, in declaration order (for saving; defaults included).
  std::vector<std::pair<std::string, std::string>> to_fields() const;
  // Starts from the defaults; an unknown field or a malformed value is an error naming it.
  static ModelConfig from_fields(const std::map<std::string, std::string>& fields);
};

// Enum <-> text; parse errors name the field and list the valid values.
std::string_view to_string(PositionKind v);
std::string_view to_string(TieEmbeddings v);
std::string_view to_string(Pooling v);
Activation parse_activation(std::string_view text);
NormPlacement parse_norm(std::string_view text);
PositionKind parse_positions(std::string_view text);
TieEmbeddings parse_tie_embeddings(std::string_view text);
Pooling parse_pooling(std::string_view text);

}  // namespace attend
