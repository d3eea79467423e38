// The golden test (STYLE.md rule 6): each fixture written by
// tests/reference/make_fixtures.py (plain PyTorch ops, float64) holds a tiny model's
// weights, a padded batch, and PyTorch's logits, loss and every parameter gradient.
// We rebuild the model from the fixture's config, load the weights by name, and
// require logits and loss within 1e-4 (max abs) and gradients within 1e-3 (relative:
// max abs difference over max abs value, per tensor). A gradient that is zero in exact
// arithmetic (k_proj.bias: softmax ignores a constant added to one query's scores, so
// PyTorch's float64 value is ~1e-18 rounding noise) has no relative scale; ours must
// then be below 1e-6 in absolute value, float32 noise on an O(1) loss.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/ops.h"
#include "core/safetensors.h"
#include "models/classifier.h"
#include "models/seq2seq.h"

using namespace attend;

namespace {

std::string fixture_path(const std::string& name) {
  const char* env = std::getenv("ATTEND_SOURCE_DIR");
  std::string root = env ? env : ATTEND_SOURCE_DIR;
  return root + "/tests/reference/fixtures/" + name + ".safetensors";
}

struct Fixture {
  ModelConfig config;
  std::map<std::string, Tensor> weights, grads;
  SafetensorsFile file;
  float label_smoothing = 0;
  int64_t ignore_index = -100;
};

template <typename E> E enum_named(const EnumNames<E>& names, const std::string& text) {
  for (const auto& [name, value] : names)
    if (name == text) return value;
  throw std::runtime_error("fixture metadata: unknown enum value " + text);
}

// The fixture's __metadata__ holds every ModelConfig field as text (make_fixtures.py).
ModelConfig config_from_metadata(const std::map<std::string, std::string>& m) {
  ModelConfig c;
  c.type = m.at("type");
  c.d_model = std::stoll(m.at("d_model"));
  c.heads = std::stoll(m.at("heads"));
  c.ffn_dim = std::stoll(m.at("ffn_dim"));
  c.encoder_layers = std::stoll(m.at("encoder_layers"));
  c.decoder_layers = std::stoll(m.at("decoder_layers"));
  c.dropout = std::stof(m.at("dropout"));
  c.attention_dropout = std::stof(m.at("attention_dropout"));
  c.activation = enum_named(activation_names(), m.at("activation"));
  c.norm = enum_named(norm_names(), m.at("norm"));
  c.positions = enum_named(position_names(), m.at("positions"));
  c.max_positions = std::stoll(m.at("max_positions"));
  c.tie_embeddings = enum_named(tie_names(), m.at("tie_embeddings"));
  c.src_vocab = std::stoll(m.at("src_vocab"));
  c.tgt_vocab = std::stoll(m.at("tgt_vocab"));
  c.num_classes = std::stoll(m.at("num_classes"));
  c.pooling = enum_named(pooling_names(), m.at("pooling"));
  c.pad_id = std::stoll(m.at("pad_id"));
  return c;
}

Fixture load_fixture(const std::string& name) {
  Fixture f;
  f.file = load_safetensors(fixture_path(name));
  f.label_smoothing = std::stof(f.file.metadata.at("label_smoothing"));
  f.ignore_index = std::stoll(f.file.metadata.at("loss_ignore_index"));
  f.config = config_from_metadata(f.file.metadata);
  for (const auto& [n, t] : f.file.tensors) {
    if (n.starts_with("grad.")) f.grads[n.substr(5)] = t;
    else if (!n.starts_with("input.") && !n.starts_with("output.")) f.weights[n] = t;
  }
  return f;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  float m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

float max_abs(const Tensor& a) {
  float m = 0;
  for (float v : a.to_vector()) m = std::max(m, std::fabs(v));
  return m;
}

void run_parity(const std::string& name) {
  Fixture f = load_fixture(name);
  std::unique_ptr<Model> model = make_model(f.config, /*seed=*/1);
  model->load_state(f.weights, name);
  model->train();  // dropout is 0 in every fixture: training mode must still match

  const SafetensorsFile& io = f.file;
  Tensor logits, loss;
  CrossEntropyOptions ce{.label_smoothing = f.label_smoothing, .ignore_index = f.ignore_index};
  if (f.config.type == "seq2seq") {
    logits = model->as<Seq2Seq>().forward(io.at("input.src"), io.at("input.tgt_in"));
    const int64_t V = logits.size(-1);
    loss = cross_entropy(logits.reshape({-1, V}), io.at("input.tgt_out").reshape({-1}), ce);
  } else {
    logits = model->as<Classifier>().forward(io.at("input.src"));
    loss = cross_entropy(logits, io.at("input.labels"), ce);
  }
  ASSERT_EQ(logits.shape(), io.at("output.logits").shape());
  const float logit_err = max_abs_diff(logits, io.at("output.logits"));
  const float loss_err = std::fabs(loss.item() - io.at("output.loss").item());
  EXPECT_LE(logit_err, 1e-4f) << name << ": logits";
  EXPECT_LE(loss_err, 1e-4f) << name << ": loss " << loss.item() << " vs " << io.at("output.loss").item();

  loss.backward();
  ASSERT_EQ(model->named_parameters().size(), f.grads.size()) << name;
  float worst = 0;
  std::string worst_name;
  for (const auto& [pname, p] : model->named_parameters()) {
    ASSERT_TRUE(f.grads.count(pname)) << name << ": no reference gradient for " << pname;
    const Tensor& want = f.grads.at(pname);
    Tensor got = p.grad().defined() ? p.grad() : Tensor::zeros(p.shape());
    const float scale = max_abs(want);
    if (scale < 1e-12f) {
      EXPECT_LE(max_abs(got), 1e-6f) << name << ": gradient of " << pname << " should be zero";
      continue;
    }
    const float rel = max_abs_diff(got, want) / scale;
    EXPECT_LE(rel, 1e-3f) << name << ": gradient of " << pname << " (max |ref| " << scale << ")";
    if (rel > worst) worst = rel, worst_name = pname;
  }
  std::printf("  %-30s logits %.2e  loss %.2e  worst gradient %.2e (%s)\n", name.c_str(), logit_err, loss_err, worst,
              worst_name.c_str());
}

}  // namespace

TEST(Parity, Seq2SeqPostNormSinusoidalTiedAll) { run_parity("s2s_post_sinusoidal_tie_all"); }
TEST(Parity, Seq2SeqPreNormLearnedUntied) { run_parity("s2s_pre_learned_untied"); }
TEST(Parity, Seq2SeqPostNormLearnedTiedDecoder) { run_parity("s2s_post_learned_tie_decoder"); }
TEST(Parity, Seq2SeqPreNormSinusoidalTiedAll) { run_parity("s2s_pre_sinusoidal_tie_all"); }
TEST(Parity, ClassifierPostNormSinusoidalMeanPooling) { run_parity("cls_post_sinusoidal_mean"); }
TEST(Parity, ClassifierPreNormLearnedFirstToken) { run_parity("cls_pre_learned_first"); }

TEST(Parity, EveryFixtureFileHasATest) {
  const char* env = std::getenv("ATTEND_SOURCE_DIR");
  std::string dir = std::string(env ? env : ATTEND_SOURCE_DIR) + "/tests/reference/fixtures";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors") ++n;
  EXPECT_EQ(n, 6);
}
