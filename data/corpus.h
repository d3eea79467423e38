// Corpus readers on top of LineReader (plain or .gz, UTF-8 checked):
//  - read_parallel: source and target files paired line by line; different line
//    counts are an error that gives both counts;
//  - read_labelled: a TSV/CSV table with a header (SST-2: sentence<TAB>label), columns
//    chosen by name, RFC 4180 quoting;
//  - LabelMap: label strings <-> ids in a stable order, saved with the model (labels.txt).
//
//   ParallelCorpus train = read_parallel("train.de.gz", "train.en.gz");
//   LabelledCorpus sst = read_labelled("train.tsv", TableOptions{});
//   LabelMap labels = LabelMap::from_labels(sst.labels);   // "0" -> 0, "1" -> 1
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/options.h"

namespace attend::data {

struct ParallelCorpus {
  std::vector<std::string> source;
  std::vector<std::string> target;  // target[i] translates source[i]
};

ParallelCorpus read_parallel(const std::string& source_path, const std::string& target_path);

struct LabelledCorpus {
  std::vector<std::string> text;
  std::vector<std::string> labels;  // empty when the table was read without a label column
  std::vector<int64_t> lines;       // 1-based file line where each row starts
};

LabelledCorpus read_labelled(const std::string& path, const TableOptions& options = {});

// Labels in a stable order: numerically when every label is an integer ("2" < "10"),
// else by bytes. The id of a label is its position in that order.
class LabelMap {
 public:
  LabelMap() = default;
  explicit LabelMap(std::vector<std::string> names);  // names[i] gets id i
  static LabelMap from_labels(const std::vector<std::string>& labels);

  int32_t id(const std::string& label) const;  // throws for an unknown label, listing the known
  const std::string& name(int32_t id) const;
  int32_t size() const { return int32_t(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }

  void save(const std::string& path) const;  // one label per line, line i = id i (atomic)
  static LabelMap load(const std::string& path);

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace attend::data
