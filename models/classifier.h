// Classifier: a Transformer encoder, pooling, and a classification head (as RoBERTa's):
//   pooled = mean of the encoder output over non-pad tokens (pooling: mean) or its
//            first token (pooling: first)
//   logits = classifier.out_proj(dropout(tanh(classifier.dense(dropout(pooled)))))
// Names: encoder.* as in Seq2Seq, classifier.dense.{weight [D,D], bias [D]},
// classifier.out_proj.{weight [C,D], bias [C]}.
//
//   Classifier model(config, /*seed=*/1);
//   Tensor logits = model.forward(src);    // (B,S) right-padded ids -> (B,C)
#pragma once

#include "models/model.h"
#include "models/transformer_stack.h"

namespace attend {

class ClassificationHead : public Module {
 public:
  ClassificationHead(const ModelConfig& config, Generator* gen);
  Tensor forward(const Tensor& pooled) const;  // (B,D) -> (B,C)

 private:
  Linear dense_, out_proj_;
  Dropout dropout_;
};

class Classifier : public Model {
 public:
  Classifier(const ModelConfig& config, uint64_t seed);
  Tensor forward(const Tensor& src) const;  // (B,S) -> logits (B,C)
  const TransformerEncoder& encoder() const { return encoder_; }

 private:
  TransformerEncoder encoder_;
  ClassificationHead head_;
};

}  // namespace attend
