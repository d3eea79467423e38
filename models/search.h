// Decoding a Seq2Seq model: greedy search over a batch of source sentences, on the
// incremental-decoding cache (each step costs O(T), not O(T^2)).
//
//   SearchOptions opt{.max_length_a = 1.2f, .max_length_b = 10};
//   std::vector<Hypothesis> out = greedy_search(model, batch.src, opt);   // one per row
//
// Rows stop at </s> (not included in tokens) or at max_length_a * |src| + max_length_b
// tokens; a finished row leaves the batch so the remaining rows decode faster.
// Scores are sums of natural-log probabilities, </s> included when it was produced.
#pragma once

#include <cstdint>
#include <vector>

#include "models/seq2seq.h"

namespace attend {

struct SearchOptions {
  int beam = 1;
  float length_penalty = 0.6f;  // GNMT alpha (beam search)
  float max_length_a = 1.2f;
  int max_length_b = 10;
  int nbest = 1;
  int32_t bos_id = 2;
  int32_t eos_id = 3;
};

struct Hypothesis {
  std::vector<int32_t> tokens;  // without <s> and </s>
  float score = 0.0f;           // sum of log-probs
  bool finished = false;        // ended with </s> (not cut at the length limit)
};

// src: (B,S) i32 right-padded -> B hypotheses, in row order.
std::vector<Hypothesis> greedy_search(const Seq2Seq& model, const Tensor& src, const SearchOptions& options);

// The length limit for a source of `src_len` tokens.
int64_t max_target_length(int64_t src_len, const SearchOptions& options);

}  // namespace attend
