#include "models/model_config.h"


namespace attend {
namespace {


void check_positive(std::string_view field, int64_t v) {
  CHECK(v > 0, "model.{}: must be positive, got {}", field, v);
}

void check_probability(std::string_view field, float v) {
  CHECK(v >= 0.0f && v < 1.0f, "model.{}: must be in [0, 1), got {}", field, v);
}

}  // namespace

std::string_view to_string(PositionKind v) { return v == PositionKind::sinusoidal ? "sinusoidal" : "learned"; }
std::string_view to_string(TieEmbeddings v) {
  return v == TieEmbeddings::none ? "none" : v == TieEmbeddings::decoder ? "decoder" : "all";
}
std::string_view to_string(Pooling v) { return v == Pooling::mean ? "mean" : "first"; }

const EnumNames<Activation>& activation_names() {
  static const EnumNames<Activation> names = {{"relu", Activation::relu}, {"gelu", Activation::gelu}};
  return names;
}
const EnumNames<NormPlacement>& norm_names() {
  static const EnumNames<NormPlacement> names = {{"post", NormPlacement::post}, {"pre", NormPlacement::pre}};
  return names;
}
const EnumNames<PositionKind>& position_names() {
  static const EnumNames<PositionKind> names = {{"sinusoidal", PositionKind::sinusoidal},
                                                {"learned", PositionKind::learned}};
  return names;
}
const EnumNames<TieEmbeddings>& tie_names() {
  static const EnumNames<TieEmbeddings> names = {
      {"none", TieEmbeddings::none}, {"decoder", TieEmbeddings::decoder}, {"all", TieEmbeddings::all}};
  return names;
}
const EnumNames<Pooling>& pooling_names() {
  static const EnumNames<Pooling> names = {{"mean", Pooling::mean}, {"first", Pooling::first}};
  return names;
}

void ModelConfig::validate() const {
  check_positive("d_model", d_model);
  check_positive("heads", heads);
  CHECK(d_model % heads == 0, "model.heads: {} does not divide d_model {}", heads, d_model);
  check_positive("ffn_dim", ffn_dim);
  check_positive("encoder_layers", encoder_layers);
  check_probability("dropout", dropout);
  check_probability("attention_dropout", attention_dropout);
  check_positive("max_positions", max_positions);
  CHECK(src_vocab > 0, "model.src_vocab: must be positive, got {} (set it from the vocabulary)", src_vocab);
  CHECK(pad_id >= 0 && pad_id < src_vocab, "model.pad_id: {} is not below src_vocab {}", pad_id, src_vocab);
  if (type == "seq2seq") {
    check_positive("decoder_layers", decoder_layers);
    CHECK(tgt_vocab > 0, "model.tgt_vocab: must be positive, got {} (set it from the vocabulary)", tgt_vocab);
    CHECK(pad_id < tgt_vocab, "model.pad_id: {} is not below tgt_vocab {}", pad_id, tgt_vocab);
    CHECK(tie_embeddings != TieEmbeddings::all || src_vocab == tgt_vocab,
          "model.tie_embeddings: 'all' needs one shared vocabulary, but src_vocab {} != tgt_vocab {}", src_vocab,
          tgt_vocab);
  } else if (type == "classifier") {
    CHECK(num_classes >= 2, "model.num_classes: a classifier needs at least 2 classes, got {}", num_classes);
  }
}

}  // namespace attend
