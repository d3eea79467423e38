// Tokenized examples, ready for the batcher. Building a dataset tokenizes every line (on
// all cores) and, for training data, skips empty lines and lines over max_length pieces;
// the skipped ones are counted, logged and returned in FilterStats, never dropped silently.
//
//   ParallelCorpus text = read_parallel(src_path, tgt_path);
//   FilterStats stats;
//   Dataset train = make_translation_dataset(text, vocabs.source, vocabs.target,
//                                            {.max_length = 128}, "train", &stats);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/options.h"
#include "data/tokenizer.h"

namespace attend::data {

struct Example {
  std::vector<int32_t> src;  // pieces of the source text, no specials
  std::vector<int32_t> tgt;  // pieces of the target text, no specials (empty: classification)
  int32_t label = -1;        // classification label id; -1 = none
  int64_t index = 0;         // 0-based row of the example in its corpus (before skipping)
};

struct Dataset {
  std::string name;  // for messages ("train", "valid")
  std::vector<Example> examples;
  bool has_target = false;
  bool has_labels = false;
  int64_t size() const { return int64_t(examples.size()); }
};

struct FilterStats {
  int64_t read = 0;      // rows in the corpus
  int64_t kept = 0;
  int64_t empty = 0;     // skipped: empty source or target
  int64_t too_long = 0;  // skipped: more than max_length pieces on a side
};

// Translation: source pieces from `source`, target pieces from `target`.
Dataset make_translation_dataset(const ParallelCorpus& corpus, const Tokenizer& source,
                                 const Tokenizer& target, const DatasetOptions& options,
                                 const std::string& name, FilterStats* stats = nullptr);

// Classification: text pieces as source; labels through `labels` when the corpus has them.
Dataset make_classification_dataset(const LabelledCorpus& corpus, const Tokenizer& tokenizer,
                                     const LabelMap* labels, const DatasetOptions& options,
                                     const std::string& name, FilterStats* stats = nullptr);

// Source lines only (translating or classifying unlabelled input).
Dataset make_source_dataset(const std::vector<std::string>& lines, const Tokenizer& tokenizer,
                            const DatasetOptions& options, const std::string& name,
                            FilterStats* stats = nullptr);

}  // namespace attend::data
