// Token embeddings and position encodings.
//
//   Embedding embed({.vocab = V, .dim = D, .padding_idx = 0, .gen = &gen});
//   Tensor x = embed.forward(ids);              // ids: (B,T) i32/i64 -> (B,T,D), scaled by sqrt(D)
//   SinusoidalPositions pos({.max_positions = 1024, .dim = D});
//   x = x + pos.forward(/*start=*/0, /*length=*/T);   // (T,D), broadcast over B
//
// Embedding: parameter "weight" [V, D], N(0, D^-0.5) with the padding row zero; that
// row gets no gradient from lookups. Ids outside [0, V) are an error naming the id.
// SinusoidalPositions: no parameters; PE[t, 2i] = sin(t / 10000^(2i/D)),
// PE[t, 2i+1] = cos(t / 10000^(2i/D)), first position t = 0 (Vaswani et al. 2017).
// LearnedPositions: parameter "weight" [max_positions, D]; row t is position t, and a
// sequence reaching past max_positions is an error.
#pragma once

#include <string>

#include "core/rng.h"
#include "layers/module.h"

namespace attend {

struct EmbeddingOptions {
  int64_t vocab = 0;
  int64_t dim = 0;
  int64_t padding_idx = -1;    // -1: none
  bool scale = true;           // multiply by sqrt(dim)
  Generator* gen = nullptr;    // initialisation; not needed with a shared weight
  std::string label = "token";  // names the vocabulary in errors ("source", "target")
};

class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(const EmbeddingOptions& options, const Tensor& shared_weight);  // tied weight [V, D]

  Tensor forward(const Tensor& ids) const;  // ids: (...) i32/i64 -> (..., D)

  const Tensor& weight() const { return weight_; }
  const EmbeddingOptions& options() const { return options_; }

 private:
  EmbeddingOptions options_;
  Tensor weight_;
};

struct PositionOptions {
  int64_t max_positions = 0;
  int64_t dim = 0;
  Generator* gen = nullptr;  // learned positions only
};

// Position encodings for positions start .. start+length-1 -> (length, D).
class Positions : public Module {
 public:
  virtual Tensor forward(int64_t start, int64_t length) const = 0;
};

class SinusoidalPositions : public Positions {
 public:
  explicit SinusoidalPositions(const PositionOptions& options);
  Tensor forward(int64_t start, int64_t length) const override;

 private:
  PositionOptions options_;
  Tensor table_;  // (max_positions, D); positions past it are computed on demand
};

class LearnedPositions : public Positions {
 public:
  explicit LearnedPositions(const PositionOptions& options);
  Tensor forward(int64_t start, int64_t length) const override;
  const Tensor& weight() const { return weight_; }

 private:
  PositionOptions options_;
  Tensor weight_;
};

// The sinusoidal table for positions start .. start+length-1: (length, dim).
Tensor sinusoidal_table(int64_t start, int64_t length, int64_t dim);

}  // namespace attend
