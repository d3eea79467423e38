#include "layers/embedding.h"

#include <algorithm>
#include <cmath>

#include "core/ops.h"
#include "layers/init.h"

namespace attend {
namespace {

template <typename T>
void check_ids(const T* ids, int64_t n, int64_t vocab, const std::string& label) {
  for (int64_t i = 0; i < n; ++i)
    CHECK(ids[i] >= 0 && ids[i] < vocab, "{} id {} (element {}) is out of range for vocab size {}", label,
          int64_t(ids[i]), i, vocab);
}

}  // namespace

Embedding::Embedding(const EmbeddingOptions& options) : options_(options) {
  CHECK(options.vocab > 0 && options.dim > 0, "Embedding: sizes must be positive, got vocab {} dim {}",
        options.vocab, options.dim);
  CHECK(options.padding_idx < options.vocab, "Embedding: padding_idx {} is not below vocab size {}",
        options.padding_idx, options.vocab);
  CHECK(options.gen, "Embedding: options.gen is needed to initialise the weight");
  Tensor w = init::normal({options.vocab, options.dim}, 0.0f, 1.0f / std::sqrt(float(options.dim)), *options.gen);
  if (options.padding_idx >= 0) std::fill_n(w.data() + options.padding_idx * options.dim, options.dim, 0.0f);
  weight_ = register_parameter("weight", w);
}

Embedding::Embedding(const EmbeddingOptions& options, const Tensor& shared_weight) : options_(options) {
  CHECK(shared_weight.defined() && shared_weight.shape() == Shape({options.vocab, options.dim}),
        "Embedding: shared weight has shape {}, expected [{}, {}]",
        shared_weight.defined() ? shape_str(shared_weight.shape()) : "undefined", options.vocab, options.dim);
  weight_ = register_parameter("weight", shared_weight);
}

Tensor Embedding::forward(const Tensor& ids_in) const {
  Tensor ids = ids_in.contiguous();
  if (ids.dtype() == DType::i32) {
    check_ids(ids.data_as<int32_t>(), ids.numel(), options_.vocab, options_.label);
  } else {
    CHECK(ids.dtype() == DType::i64, "Embedding: ids must be i32 or i64, got {}", ids.str());
    check_ids(ids.data_as<int64_t>(), ids.numel(), options_.vocab, options_.label);
  }
  Tensor x = embedding(ids, weight_, options_.padding_idx);
  return options_.scale ? x * std::sqrt(float(options_.dim)) : x;
}

Tensor sinusoidal_table(int64_t start, int64_t length, int64_t dim) {
  Tensor t = Tensor::empty({length, dim});
  float* p = t.data();
  for (int64_t pos = 0; pos < length; ++pos)
    for (int64_t i = 0; i < dim; i += 2) {
      const double angle = double(start + pos) / std::pow(10000.0, double(i) / double(dim));
      p[pos * dim + i] = float(std::sin(angle));
      if (i + 1 < dim) p[pos * dim + i + 1] = float(std::cos(angle));
    }
  return t;
}

SinusoidalPositions::SinusoidalPositions(const PositionOptions& options) : options_(options) {
  CHECK(options.max_positions > 0 && options.dim > 0,
        "SinusoidalPositions: sizes must be positive, got max_positions {} dim {}", options.max_positions,
        options.dim);
  table_ = sinusoidal_table(0, options.max_positions, options.dim);
}

Tensor SinusoidalPositions::forward(int64_t start, int64_t length) const {
  CHECK(start >= 0 && length >= 0, "SinusoidalPositions: bad range start {} length {}", start, length);
  if (start + length <= options_.max_positions) return table_.slice(0, start, start + length);
  return sinusoidal_table(start, length, options_.dim);
}

LearnedPositions::LearnedPositions(const PositionOptions& options) : options_(options) {
  CHECK(options.max_positions > 0 && options.dim > 0,
        "LearnedPositions: sizes must be positive, got max_positions {} dim {}", options.max_positions,
        options.dim);
  CHECK(options.gen, "LearnedPositions: options.gen is needed to initialise the weight");
  weight_ = register_parameter(
      "weight", init::normal({options.max_positions, options.dim}, 0.0f, 1.0f / std::sqrt(float(options.dim)),
                             *options.gen));
}

Tensor LearnedPositions::forward(int64_t start, int64_t length) const {
  CHECK(start >= 0 && length >= 0, "LearnedPositions: bad range start {} length {}", start, length);
  CHECK_HINT(start + length <= options_.max_positions, "raise model.max_positions or shorten the input",
             "sequence needs {} positions but learned positions stop at max_positions {}", start + length,
             options_.max_positions);
  return slice(weight_, 0, start, start + length);
}

}  // namespace attend
