// Reads text corpora line by line: plain or gzip (recognised by content, not by name),
// every line checked to be valid UTF-8. Errors name the file and the 1-based line.
// A trailing "\r" (CRLF files) and a UTF-8 byte-order mark on line 1 are removed.
//
//   LineReader in("multi30k/train.de.gz");
//   std::string line;
//   while (in.next(line)) use(line, in.line_number());
//   std::vector<std::string> all = read_lines("dev.txt");
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attend::data {

class LineReader {
 public:
  explicit LineReader(std::string path);  // throws when the file cannot be opened
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its "\n"; false at the end of the file.
  bool next(std::string& line);
  int64_t line_number() const { return line_; }  // of the line next() returned last
  const std::string& path() const { return path_; }

 private:
  bool fill();  // reads more bytes into buf_; false at end of file

  std::string path_;
  void* gz_ = nullptr;  // gzFile
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  int64_t line_ = 0;
};

std::vector<std::string> read_lines(const std::string& path);

// Byte offset of the first byte that does not start a valid UTF-8 sequence (overlong
// forms, surrogates and code points past U+10FFFF are invalid), or -1 if `s` is valid.
int64_t find_invalid_utf8(std::string_view s);

}  // namespace attend::data
