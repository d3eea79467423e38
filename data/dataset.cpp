#include "data/dataset.h"

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace attend::data {

namespace {

// Keeps the rows that pass the filters, moving their pieces into the dataset.
Dataset filter(std::vector<std::vector<int32_t>> src, std::vector<std::vector<int32_t>> tgt,
               const std::vector<int32_t>& labels, const DatasetOptions& options,
               const std::string& name, bool has_target, FilterStats* stats_out) {
  CHECK(options.max_length >= 0, "dataset '{}': max_length {} is negative", name, options.max_length);
  Dataset data;
  data.name = name;
  data.has_target = has_target;
  data.has_labels = !labels.empty();
  FilterStats stats;
  stats.read = int64_t(src.size());
  const size_t max_len = size_t(options.max_length);
  for (size_t i = 0; i < src.size(); ++i) {
    const bool empty = src[i].empty() || (has_target && tgt[i].empty());
    const bool too_long =
        max_len > 0 && (src[i].size() > max_len || (has_target && tgt[i].size() > max_len));
    if (options.skip_empty && empty) {
      ++stats.empty;
      continue;
    }
    if (too_long) {
      ++stats.too_long;
      continue;
    }
    Example ex;
    ex.src = std::move(src[i]);
    if (has_target) ex.tgt = std::move(tgt[i]);
    if (data.has_labels) ex.label = labels[i];
    ex.index = int64_t(i);
    data.examples.push_back(std::move(ex));
  }
  stats.kept = data.size();
  if (stats.empty || stats.too_long)
    spdlog::warn("dataset '{}': kept {} of {} rows; skipped {} empty and {} longer than {} pieces",
                 name, stats.kept, stats.read, stats.empty, stats.too_long, options.max_length);
  else
    spdlog::info("dataset '{}': {} rows", name, stats.kept);
  if (stats_out) *stats_out = stats;
  return data;
}

}  // namespace

Dataset make_translation_dataset(const ParallelCorpus& corpus, const Tokenizer& source,
                                 const Tokenizer& target, const DatasetOptions& options,
                                 const std::string& name, FilterStats* stats) {
  CHECK(corpus.source.size() == corpus.target.size(),
        "dataset '{}': {} source lines but {} target lines", name, corpus.source.size(),
        corpus.target.size());
  return filter(source.encode_all(corpus.source, options.threads),
                target.encode_all(corpus.target, options.threads), {}, options, name, true, stats);
}

Dataset make_classification_dataset(const LabelledCorpus& corpus, const Tokenizer& tokenizer,
                                    const LabelMap* labels, const DatasetOptions& options,
                                    const std::string& name, FilterStats* stats) {
  std::vector<int32_t> ids;
  if (labels && !corpus.labels.empty()) {
    ids.reserve(corpus.labels.size());
    for (size_t i = 0; i < corpus.labels.size(); ++i) {
      try {
        ids.push_back(labels->id(corpus.labels[i]));
      } catch (const Error& e) {
        ATTEND_ERROR("dataset '{}' line {}: {}", name, corpus.lines.at(i), e.what());
      }
    }
  }
  return filter(tokenizer.encode_all(corpus.text, options.threads), {}, ids, options, name, false,
                stats);
}

Dataset make_source_dataset(const std::vector<std::string>& lines, const Tokenizer& tokenizer,
                            const DatasetOptions& options, const std::string& name,
                            FilterStats* stats) {
  return filter(tokenizer.encode_all(lines, options.threads), {}, {}, options, name, false, stats);
}

}  // namespace attend::data
