// Classifier: names, pooling over non-pad tokens or the first token, bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "models/classifier.h"

using namespace attend;

namespace {

ModelConfig tiny(Pooling pooling) {
  ModelConfig c;
  c.type = "classifier";
  c.d_model = 8;
  c.heads = 2;
  c.ffn_dim = 16;
  c.encoder_layers = 2;
  c.src_vocab = 12;
  c.num_classes = 3;
  c.pooling = pooling;
  c.positions = PositionKind::learned;
  c.max_positions = 8;
  return c;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "element " << i;
}

}  // namespace

TEST(Classifier, NamesAreEncoderPlusClassificationHead) {
  Classifier m(tiny(Pooling::mean), 1);
  auto s = m.state();
  EXPECT_EQ(m.parameter("classifier.dense.weight").shape(), Shape({8, 8}));
  EXPECT_EQ(m.parameter("classifier.out_proj.weight").shape(), Shape({3, 8}));
  EXPECT_EQ(m.parameter("classifier.out_proj.bias").shape(), Shape({3}));
  for (auto& [name, t] : s) EXPECT_TRUE(name.starts_with("encoder.") || name.starts_with("classifier.")) << name;
}

TEST(Classifier, LogitsPerSentence) {
  Classifier m(tiny(Pooling::first), 1);
  EXPECT_EQ(m.forward(Tensor::from_ids({4, 5, 6, 7, 0, 0}, {2, 3})).shape(), Shape({2, 3}));
}

TEST(Classifier, MeanPoolingIgnoresPadding) {
  Classifier m(tiny(Pooling::mean), 1);
  m.eval();
  std::vector<float> short_batch = m.forward(Tensor::from_ids({4, 5, 6, 7, 8, 0}, {2, 3})).to_vector();
  std::vector<float> padded = m.forward(Tensor::from_ids({4, 5, 6, 0, 0, 7, 8, 0, 0, 0}, {2, 5})).to_vector();
  expect_close(short_batch, padded, 1e-5f);
}

TEST(Classifier, FirstTokenPoolingIgnoresPaddingToo) {
  Classifier m(tiny(Pooling::first), 1);
  m.eval();
  std::vector<float> a = m.forward(Tensor::from_ids({4, 5, 6}, {1, 3})).to_vector();
  std::vector<float> b = m.forward(Tensor::from_ids({4, 5, 6, 0, 0}, {1, 5})).to_vector();
  expect_close(a, b, 1e-5f);
}

TEST(Classifier, MeanPoolingOverAllPaddingIsAnError) {
  Classifier m(tiny(Pooling::mean), 1);
  EXPECT_THROW(m.forward(Tensor::from_ids({4, 5, 0, 0}, {2, 2})), Error);
}

TEST(Classifier, IdPastVocabIsAnError) {
  Classifier m(tiny(Pooling::mean), 1);
  try {
    m.forward(Tensor::from_ids({4, 12}, {1, 2}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("source token id 12"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vocab size 12"), std::string::npos) << e.what();
  }
}
