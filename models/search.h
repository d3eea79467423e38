// Decoding a Seq2Seq model: greedy and beam search over a batch of source sentences, on
// the incremental-decoding cache (each step costs O(T), not O(T^2)), and decode_all, which
// sorts many sentences by length into batches under a token budget and returns their
// results in input order.
//
//   SearchOptions opt{.beam = 4, .length_penalty = 0.6f, .nbest = 2};
//   std::vector<std::vector<Hypothesis>> out = beam_search(model, batch.src, opt);  // n-best per row
//   auto all = decode_all(model, sources, opt, /*batch_tokens=*/4096);             // input order
//
// Length: a hypothesis takes at most L = min(floor(a*|src| + b), max_positions) decoder
// steps, |src| counting the source's non-pad tokens (</s> included). It either ends with
// </s> (finished, at most L-1 tokens) or is cut after L tokens (not finished).
// Scores: `score` sums the natural-log probabilities of the steps taken (</s> included
// when produced); hypotheses are ranked by `normalized` = score / lp(len) with GNMT's
// lp(len) = ((5 + len) / 6)^alpha, len = decoder steps = tokens + 1 for a finished one
// (fairseq's convention). <pad> and <s> are never produced, <unk> only if allow_unk.
//
// Beam search keeps `beam` live hypotheses per sentence; each step the 2*beam best
// extensions are ranked, those among the first `beam` that end (</s> or the length limit)
// are kept as finished, and the best `beam` that do not end live on. A sentence stops
// when its `nbest` best finished hypotheses can no longer be beaten by a live one (scores
// only fall, and lp is bounded by lp(L)), when `beam` hypotheses have finished (fairseq
// and Marian's rule, so beam 1 is greedy search), or at the length limit.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/seq2seq.h"

namespace attend {

struct SearchOptions {
  int beam = 1;
  float length_penalty = 0.6f;  // GNMT alpha; 0 = rank by the raw log-probability
  float max_length_a = 1.2f;
  int max_length_b = 10;
  int nbest = 1;  // hypotheses returned per sentence, at most beam
  int32_t bos_id = 2;
  int32_t eos_id = 3;
  int32_t unk_id = 1;
  bool allow_unk = true;  // false: <unk> is never produced
};

struct Hypothesis {
  std::vector<int32_t> tokens;  // without <s> and </s>
  float score = 0.0f;           // sum of log-probs
  float normalized = 0.0f;      // score / lp(len): what beam search ranks by
  bool finished = false;        // ended with </s> (not cut at the length limit)
  int64_t length() const { return int64_t(tokens.size()) + (finished ? 1 : 0); }  // decoder steps
};

// src: (B,S) i32 right-padded -> B hypotheses, in row order.
std::vector<Hypothesis> greedy_search(const Seq2Seq& model, const Tensor& src, const SearchOptions& options);

// src: (B,S) i32 right-padded -> per row, its min(nbest, found) best hypotheses, best first.
std::vector<std::vector<Hypothesis>> beam_search(const Seq2Seq& model, const Tensor& src,
                                                 const SearchOptions& options);

// The length limit L (decoder steps) for a source of `src_len` non-pad tokens.
int64_t max_target_length(int64_t src_len, const SearchOptions& options, int64_t max_positions = INT64_MAX);

// GNMT length penalty ((5 + len) / 6)^alpha.
float length_penalty(int64_t len, float alpha);

// Sentences (index lists into `lengths`) sorted by length, longest first, packed while
// rows * longest <= batch_tokens (a sentence longer than the budget gets its own batch).
std::vector<std::vector<int64_t>> plan_decode_batches(const std::vector<int64_t>& lengths, int64_t batch_tokens);

// Searches every source (token ids, </s> included, no padding) in batches of
// plan_decode_batches with a budget of batch_tokens / beam (each sentence runs `beam`
// decoder rows); beam 1 runs greedy_search. Returns the n-best lists in input order.
// progress(done, total) is called after each batch.
//
// Memory: the searches hand the caching allocator's free blocks back after every step at
// which rows left the batch, since the next steps allocate tensors of new shapes that the
// allocator would otherwise keep beside the old ones (test2016, demo model, beam 4: 2.0 ->
// 0.6 GB). Steps that keep the row count reuse the previous step's blocks; the
// self-attention caches grow by doubling (KVCache), not by one position a step.
std::vector<std::vector<Hypothesis>> decode_all(
    const Seq2Seq& model, const std::vector<std::vector<int32_t>>& sources, const SearchOptions& options,
    int64_t batch_tokens, const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace attend
