#include "data/corpus.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "core/error.h"
#include "data/files.h"
#include "data/text_reader.h"

namespace attend::data {

ParallelCorpus read_parallel(const std::string& source_path, const std::string& target_path) {
  ParallelCorpus corpus;
  corpus.source = read_lines(source_path);
  corpus.target = read_lines(target_path);
  CHECK_HINT(corpus.source.size() == corpus.target.size(),
             "line i of the source must translate line i of the target",
             "parallel corpus: '{}' has {} lines but '{}' has {} lines", source_path,
             corpus.source.size(), target_path, corpus.target.size());
  return corpus;
}

namespace {

enum class Split { done, open_quote };

// Splits one record into fields. Returns open_quote when a quoted field runs past the
// end (the record continues on the next line). Throws on text after a closing quote.
Split split_record(const std::string& rec, char delim, bool quoting, std::vector<std::string>& fields,
                   const std::string& where) {
  fields.clear();
  size_t i = 0;
  const size_t n = rec.size();
  for (;;) {
    std::string field;
    if (quoting && i < n && rec[i] == '"') {
      ++i;
      for (;;) {
        if (i >= n) return Split::open_quote;
        if (rec[i] == '"') {
          if (i + 1 < n && rec[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += rec[i++];
      }
      CHECK(i == n || rec[i] == delim, "{}: unexpected '{}' after the closing quote of field {}",
            where, rec[i], fields.size() + 1);
    } else {
      size_t end = rec.find(delim, i);
      if (end == std::string::npos) end = n;
      field.assign(rec, i, end - i);
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= n) return Split::done;
    ++i;  // the delimiter
  }
}

char default_delimiter(const std::string& path) {
  return path.ends_with(".csv") || path.ends_with(".csv.gz") ? ',' : '\t';
}

bool is_integer(const std::string& s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

LabelledCorpus read_labelled(const std::string& path, const TableOptions& options) {
  const char delim = options.delimiter ? options.delimiter : default_delimiter(path);
  LineReader in(path);
  std::string line, record;
  std::vector<std::string> fields;

  // Reads one whole record (joining lines inside quotes); false at end of file.
  auto next_record = [&](int64_t& start_line) {
    if (!in.next(record)) return false;
    start_line = in.line_number();
    const std::string where = fmt::format("'{}' line {}", path, start_line);
    while (split_record(record, delim, options.quoting, fields, where) == Split::open_quote) {
      CHECK(in.next(line), "{}: quoted field not closed before the end of the file", where);
      record += '\n';
      record += line;
    }
    return true;
  };

  int64_t header_line = 0;
  CHECK(next_record(header_line), "'{}' is empty: expected a header line with columns '{}' and '{}'",
        path, options.text_column, options.label_column);
  const std::vector<std::string> header = fields;
  auto column = [&](const std::string& name) -> size_t {
    auto it = std::find(header.begin(), header.end(), name);
    CHECK_HINT(it != header.end(), "set the column names in the data section of the config",
               "'{}': no column '{}' in the header [{}]", path, name, fmt::join(header, ", "));
    return size_t(it - header.begin());
  };
  const size_t text_col = column(options.text_column);
  const bool labelled = !options.label_column.empty();
  const size_t label_col = labelled ? column(options.label_column) : 0;

  LabelledCorpus corpus;
  int64_t start = 0;
  while (next_record(start)) {
    if (record.empty()) continue;  // a blank line is no row (trailing newlines)
    CHECK(fields.size() == header.size(), "'{}' line {}: {} fields, but the header has {}", path,
          start, fields.size(), header.size());
    corpus.text.push_back(std::move(fields[text_col]));
    if (labelled) {
      CHECK(!fields[label_col].empty(), "'{}' line {}: empty label in column '{}'", path, start,
            options.label_column);
      corpus.labels.push_back(std::move(fields[label_col]));
    }
    corpus.lines.push_back(start);
  }
  return corpus;
}

LabelMap::LabelMap(std::vector<std::string> names) : names_(std::move(names)) {
  for (size_t i = 0; i < names_.size(); ++i)
    CHECK(ids_.emplace(names_[i], int32_t(i)).second, "label map: label '{}' appears twice", names_[i]);
}

LabelMap LabelMap::from_labels(const std::vector<std::string>& labels) {
  std::set<std::string> distinct(labels.begin(), labels.end());
  std::vector<std::string> names(distinct.begin(), distinct.end());
  if (std::all_of(names.begin(), names.end(), is_integer)) {
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return std::stoll(a) < std::stoll(b);
    });
  }
  return LabelMap(std::move(names));
}

int32_t LabelMap::id(const std::string& label) const {
  auto it = ids_.find(label);
  CHECK(it != ids_.end(), "unknown label '{}' (known labels: {})", label, fmt::join(names_, ", "));
  return it->second;
}

const std::string& LabelMap::name(int32_t id) const {
  CHECK(id >= 0 && id < size(), "label id {} out of range [0, {})", id, size());
  return names_[size_t(id)];
}

void LabelMap::save(const std::string& path) const {
  std::string text;
  for (const auto& n : names_) {
    CHECK(n.find('\n') == std::string::npos, "label map: label '{}' contains a newline", n);
    text += n + '\n';
  }
  write_file_atomic(path, text);
}

LabelMap LabelMap::load(const std::string& path) { return LabelMap(read_lines(path)); }

}  // namespace attend::data
