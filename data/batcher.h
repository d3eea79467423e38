// Batcher: turns a Dataset into padded batches under a token budget, epoch after epoch.
//
// Each epoch's plan is a pure function of (dataset, options, seed, epoch): examples get a
// seeded random order (the tie-break), are sorted by (max(S, T), S, T) (bucketing, so
// padding stays small), packed greedily while B * max(S, T) <= max_tokens (and B <= max_sentences),
// and the batches are shuffled. So a BatchPosition (seed, epoch, batch index) is the whole
// state: restore() it and a resumed run sees exactly the batches it would have seen.
// A background thread prepares the next `prefetch` batches; the order never changes.
//
//   Batcher batcher(std::make_shared<Dataset>(std::move(train)), BatchOptions{});
//   batcher.restore(BatchPosition::from_json(saved));          // optional: resume
//   while (auto batch = batcher.next()) step(*batch);           // one epoch
//   std::string state = batcher.position().to_json();           // goes into a checkpoint
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"
#include "data/options.h"
#include "data/prefetch.h"

namespace attend::data {

struct BatchPosition {
  uint64_t seed = 1;
  int64_t epoch = 0;     // 0-based
  int64_t batch = 0;     // index in the epoch of the batch next() returns
  int64_t examples = 0;  // dataset size, checked on restore

  std::string to_json() const;  // {"batch":0,"epoch":0,"examples":29000,"seed":1}
  static BatchPosition from_json(const std::string& json);
  bool operator==(const BatchPosition&) const = default;
};

// B rows; S = longest source row, T = longest target row. Source rows are
// [<s>] pieces [</s>] (BatchOptions::source_bos / source_eos), padded with kPadId.
struct Batch {
  Tensor src;          // (B,S) i32
  Tensor src_mask;     // (B,S) f32: 1 for a token, 0 for padding
  Tensor src_lengths;  // (B) i32: tokens per source row
  Tensor tgt_in;       // (B,T) i32: <s> pieces            (translation only)
  Tensor tgt_out;      // (B,T) i32: pieces </s>           (translation only)
  Tensor tgt_mask;     // (B,T) f32: 1 for a token, 0 for padding
  Tensor tgt_lengths;  // (B) i32: tokens per target row (pieces + 1)
  Tensor labels;       // (B) i32                          (classification only)
  std::vector<int64_t> indices;  // corpus row (Example::index) of each batch row
  int64_t src_tokens = 0;        // non-pad tokens in src
  int64_t tgt_tokens = 0;        // non-pad tokens in tgt_out (what the loss counts)
  BatchPosition position;        // epoch and index of this batch

  int64_t size() const { return int64_t(indices.size()); }
};

// Padding of a plan: cells are B*S + B*T summed over batches, real the non-pad tokens.
struct PlanStats {
  int64_t batches = 0;
  int64_t examples = 0;
  int64_t real_tokens = 0;
  int64_t cells = 0;
  int64_t max_cost = 0;  // largest B * max(S, T) of any batch
  double padding_ratio() const { return cells ? 1.0 - double(real_tokens) / double(cells) : 0.0; }
};

class Batcher {
 public:
  Batcher(std::shared_ptr<const Dataset> data, const BatchOptions& options);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // The next batch of the current epoch; nullopt once at its end, after which the next
  // call starts the following epoch.
  std::optional<Batch> next();
  BatchPosition position() const { return position_; }  // of the batch next() returns
  // Continue from `position` (its seed replaces options.seed). Throws when it does not fit
  // this dataset.
  void restore(const BatchPosition& position);

  // The plan of an epoch: for each batch, the rows (indices into data->examples).
  std::vector<std::vector<int64_t>> plan(int64_t epoch) const;
  Batch make_batch(std::span<const int64_t> rows) const;
  PlanStats stats(const std::vector<std::vector<int64_t>>& plan) const;

 private:
  int64_t src_len(int64_t row) const;  // tokens in the source row, specials included
  int64_t tgt_len(int64_t row) const;  // tokens in tgt_in (= in tgt_out); 0 without target
  std::optional<Batch> produce();      // on the prefetch thread when options.prefetch > 0

  std::shared_ptr<const Dataset> data_;
  BatchOptions options_;
  BatchPosition position_;  // the consumer's
  BatchPosition cursor_;    // the producer's: it runs up to `prefetch` batches ahead
  std::vector<std::vector<int64_t>> plan_;
  int64_t plan_epoch_ = -1;
  std::unique_ptr<Prefetcher<std::optional<Batch>>> ahead_;
};

}  // namespace attend::data
