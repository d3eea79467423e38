#include "models/model_config.h"

#include <charconv>
#include <functional>

namespace attend {
namespace {

template <typename E, size_t N>
E parse_enum(std::string_view field, std::string_view text, const std::pair<std::string_view, E> (&values)[N]) {
  std::vector<std::string_view> names;
  for (const auto& [name, value] : values) {
    if (name == text) return value;
    names.push_back(name);
  }
  ATTEND_ERROR("model.{}: '{}' is not one of {}", field, text, fmt::join(names, ", "));
}

constexpr std::pair<std::string_view, Activation> kActivations[] = {{"relu", Activation::relu},
                                                                    {"gelu", Activation::gelu}};
constexpr std::pair<std::string_view, NormPlacement> kNorms[] = {{"post", NormPlacement::post},
                                                                 {"pre", NormPlacement::pre}};
constexpr std::pair<std::string_view, PositionKind> kPositions[] = {{"sinusoidal", PositionKind::sinusoidal},
                                                                    {"learned", PositionKind::learned}};
constexpr std::pair<std::string_view, TieEmbeddings> kTies[] = {
    {"none", TieEmbeddings::none}, {"decoder", TieEmbeddings::decoder}, {"all", TieEmbeddings::all}};
constexpr std::pair<std::string_view, Pooling> kPoolings[] = {{"mean", Pooling::mean}, {"first", Pooling::first}};

int64_t parse_int(std::string_view field, const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  CHECK(ec == std::errc() && end == text.data() + text.size(), "model.{}: '{}' is not an integer", field, text);
  return v;
}

float parse_float(std::string_view field, const std::string& text) {
  float v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  CHECK(ec == std::errc() && end == text.data() + text.size(), "model.{}: '{}' is not a number", field, text);
  return v;
}

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
Activation parse_activation(std::string_view t) { return parse_enum("activation", t, kActivations); }
NormPlacement parse_norm(std::string_view t) { return parse_enum("norm", t, kNorms); }
PositionKind parse_positions(std::string_view t) { return parse_enum("positions", t, kPositions); }
TieEmbeddings parse_tie_embeddings(std::string_view t) { return parse_enum("tie_embeddings", t, kTies); }
Pooling parse_pooling(std::string_view t) { return parse_enum("pooling", t, kPoolings); }

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

std::vector<std::pair<std::string, std::string>> ModelConfig::to_fields() const {
  return {{"type", type},
          {"d_model", fmt::format("{}", d_model)},
          {"heads", fmt::format("{}", heads)},
          {"ffn_dim", fmt::format("{}", ffn_dim)},
          {"encoder_layers", fmt::format("{}", encoder_layers)},
          {"decoder_layers", fmt::format("{}", decoder_layers)},
          {"dropout", fmt::format("{}", dropout)},
          {"attention_dropout", fmt::format("{}", attention_dropout)},
          {"activation", std::string(activation_name(activation))},
          {"norm", std::string(norm_name(norm))},
          {"positions", std::string(to_string(positions))},
          {"max_positions", fmt::format("{}", max_positions)},
          {"tie_embeddings", std::string(to_string(tie_embeddings))},
          {"src_vocab", fmt::format("{}", src_vocab)},
          {"tgt_vocab", fmt::format("{}", tgt_vocab)},
          {"num_classes", fmt::format("{}", num_classes)},
          {"pooling", std::string(to_string(pooling))},
          {"pad_id", fmt::format("{}", pad_id)}};
}

ModelConfig ModelConfig::from_fields(const std::map<std::string, std::string>& fields) {
  ModelConfig c;
  using Setter = std::function<void(const std::string&)>;
  const std::vector<std::pair<std::string_view, Setter>> setters = {
      {"type", [&](const std::string& v) { c.type = v; }},
      {"d_model", [&](const std::string& v) { c.d_model = parse_int("d_model", v); }},
      {"heads", [&](const std::string& v) { c.heads = parse_int("heads", v); }},
      {"ffn_dim", [&](const std::string& v) { c.ffn_dim = parse_int("ffn_dim", v); }},
      {"encoder_layers", [&](const std::string& v) { c.encoder_layers = parse_int("encoder_layers", v); }},
      {"decoder_layers", [&](const std::string& v) { c.decoder_layers = parse_int("decoder_layers", v); }},
      {"dropout", [&](const std::string& v) { c.dropout = parse_float("dropout", v); }},
      {"attention_dropout", [&](const std::string& v) { c.attention_dropout = parse_float("attention_dropout", v); }},
      {"activation", [&](const std::string& v) { c.activation = parse_activation(v); }},
      {"norm", [&](const std::string& v) { c.norm = parse_norm(v); }},
      {"positions", [&](const std::string& v) { c.positions = parse_positions(v); }},
      {"max_positions", [&](const std::string& v) { c.max_positions = parse_int("max_positions", v); }},
      {"tie_embeddings", [&](const std::string& v) { c.tie_embeddings = parse_tie_embeddings(v); }},
      {"src_vocab", [&](const std::string& v) { c.src_vocab = parse_int("src_vocab", v); }},
      {"tgt_vocab", [&](const std::string& v) { c.tgt_vocab = parse_int("tgt_vocab", v); }},
      {"num_classes", [&](const std::string& v) { c.num_classes = parse_int("num_classes", v); }},
      {"pooling", [&](const std::string& v) { c.pooling = parse_pooling(v); }},
      {"pad_id", [&](const std::string& v) { c.pad_id = parse_int("pad_id", v); }},
  };
  for (const auto& [key, value] : fields) {
    const Setter* setter = nullptr;
    std::vector<std::string_view> names;
    for (const auto& [name, s] : setters) {
      if (name == key) setter = &s;
      names.push_back(name);
    }
    CHECK(setter, "model.{}: unknown field (valid: {})", key, fmt::join(names, ", "));
    (*setter)(value);
  }
  return c;
}

}  // namespace attend
