// ModelConfig validation, text round trip, and the model factory.
#include <gtest/gtest.h>

#include "models/classifier.h"
#include "models/model.h"
#include "models/seq2seq.h"
#include "common/error_of.h"

using namespace attend;

namespace {

ModelConfig valid() {
  ModelConfig c;
  c.src_vocab = c.tgt_vocab = 8000;
  return c;
}

#define EXPECT_ERROR_CONTAINS(statement, text)       \
  do {                                               \
    std::string msg_ = error_of([&] { statement; }); \
    EXPECT_NE(msg_.find(text), std::string::npos) << msg_; \
  } while (0)

}  // namespace

TEST(ModelConfig, DefaultsWithVocabularyAreValid) { EXPECT_NO_THROW(valid().validate()); }

TEST(ModelConfig, HeadsMustDivideDModel) {
  ModelConfig c = valid();
  c.heads = 6;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.heads: 6 does not divide d_model 512");
}

TEST(ModelConfig, SizesMustBePositive) {
  ModelConfig c = valid();
  c.ffn_dim = 0;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.ffn_dim: must be positive, got 0");
  c = valid();
  c.encoder_layers = -1;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.encoder_layers: must be positive, got -1");
  c = valid();
  c.src_vocab = 0;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.src_vocab: must be positive, got 0");
}

TEST(ModelConfig, DropoutMustBeAProbability) {
  ModelConfig c = valid();
  c.attention_dropout = 1.0f;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.attention_dropout: must be in [0, 1), got 1");
}

TEST(ModelConfig, TieAllNeedsOneVocabulary) {
  ModelConfig c = valid();
  c.tgt_vocab = 7000;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.tie_embeddings: 'all' needs one shared vocabulary");
  c.tie_embeddings = TieEmbeddings::decoder;
  EXPECT_NO_THROW(c.validate());
}

TEST(ModelConfig, ClassifierNeedsClasses) {
  ModelConfig c = valid();
  c.type = "classifier";
  EXPECT_ERROR_CONTAINS(c.validate(), "model.num_classes");
  c.num_classes = 2;
  EXPECT_NO_THROW(c.validate());
}

TEST(ModelConfig, PadIdMustBeInTheVocabulary) {
  ModelConfig c = valid();
  c.pad_id = 8000;
  EXPECT_ERROR_CONTAINS(c.validate(), "model.pad_id: 8000 is not below src_vocab 8000");
}


TEST(MakeModel, BuildsTheArchitectureNamedByType) {
  ModelConfig c = valid();
  c.d_model = 16;
  c.heads = 2;
  c.ffn_dim = 16;
  c.encoder_layers = c.decoder_layers = 1;
  c.src_vocab = c.tgt_vocab = 10;
  EXPECT_NO_THROW(make_model(c)->as<Seq2Seq>());
  c.type = "classifier";
  c.num_classes = 3;
  std::unique_ptr<Model> m = make_model(c);
  EXPECT_NO_THROW(m->as<Classifier>());
  EXPECT_THROW(m->as<Seq2Seq>(), Error);
}

TEST(MakeModel, UnknownTypeListsTheRegisteredOnes) {
  ModelConfig c = valid();
  c.type = "lstm";
  EXPECT_ERROR_CONTAINS(make_model(c), "model.type: 'lstm' is not a registered model (valid: classifier, seq2seq");
}

TEST(MakeModel, ValidatesTheConfig) {
  ModelConfig c = valid();
  c.heads = 7;
  EXPECT_ERROR_CONTAINS(make_model(c), "model.heads: 7 does not divide d_model 512");
}

TEST(MakeModel, RegisterModelAddsAName) {
  register_model("tiny_seq2seq_for_test", [](const ModelConfig& c, uint64_t seed) {
    ModelConfig t = c;
    t.type = "seq2seq";
    return std::make_unique<Seq2Seq>(t, seed);
  });
  ModelConfig c = valid();
  c.type = "tiny_seq2seq_for_test";
  c.d_model = 8;
  c.heads = 2;
  c.ffn_dim = 8;
  c.encoder_layers = c.decoder_layers = 1;
  c.src_vocab = c.tgt_vocab = 10;
  EXPECT_NO_THROW(make_model(c)->as<Seq2Seq>());
  EXPECT_THROW(register_model("seq2seq", nullptr), Error);
}
