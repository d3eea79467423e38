#include "models/classifier.h"

#include "core/ops.h"

namespace attend {

ClassificationHead::ClassificationHead(const ModelConfig& c, Generator* gen)
    : dense_({.in = c.d_model, .out = c.d_model, .gen = gen}),
      out_proj_({.in = c.d_model, .out = c.num_classes, .gen = gen}),
      dropout_({.p = c.dropout, .gen = gen}) {
  register_module("dense", dense_);
  register_module("out_proj", out_proj_);
  register_module("dropout", dropout_);
}

Tensor ClassificationHead::forward(const Tensor& pooled) const {
  Tensor h = tanh(dense_.forward(dropout_.forward(pooled)));
  return out_proj_.forward(dropout_.forward(h));
}

static const ModelConfig& validated(const ModelConfig& config) {
  config.validate();
  return config;
}

Classifier::Classifier(const ModelConfig& config, uint64_t seed)
    : Model(validated(config), seed), encoder_(config_, &gen_), head_(config_, &gen_) {
  register_module("encoder", encoder_);
  register_module("classifier", head_);
}

Tensor Classifier::forward(const Tensor& src) const {
  CHECK(src.dim() == 2, "Classifier: src must be (B,S) ids, got {}", src.str());
  const int64_t B = src.size(0), S = src.size(1);
  Tensor mask = padding_mask(src, config_.pad_id);  // (B,1,1,S), 1 at pads
  Tensor x = encoder_.forward(src, mask);           // (B,S,D)
  Tensor pooled;
  if (config_.pooling == Pooling::first) {
    pooled = x.slice(1, 0, 1).squeeze(1);
  } else {
    Tensor keep = Tensor::empty({B, S, 1});  // 1 at real tokens
    std::vector<float> counts(size_t(B), 0.0f);
    const float* m = mask.data();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s) {
        keep.data()[b * S + s] = 1.0f - m[b * S + s];
        counts[size_t(b)] += 1.0f - m[b * S + s];
      }
    for (int64_t b = 0; b < B; ++b)
      CHECK(counts[size_t(b)] > 0, "Classifier: row {} of src holds only padding", b);
    pooled = sum(x * keep, {1}) / Tensor::from_vector(counts, {B, 1});
  }
  return head_.forward(pooled);
}

}  // namespace attend
