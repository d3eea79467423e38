// Line-based input and output for the inference commands: stdin/stdout by default, files
// with -i/-o. Input lines are checked to be valid UTF-8 (an error names the line and
// byte); plain and gzip files are read alike, "\r\n" endings and a byte-order mark dropped.
//
//   std::vector<std::string> lines = read_text_lines(path);   // "" or "-" = stdin
//   TextOutput out(output_path);                               // "" or "-" = stdout
//   out.line("Ein Hund.");
//   out.close();                                               // flushes; errors throw
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace attend {

std::vector<std::string> read_text_lines(const std::string& path);
// Lines read from any stream, `name` naming it in errors (read_text_lines uses it for stdin).
std::vector<std::string> read_text_lines(std::FILE* stream, const std::string& name);

class TextOutput {
 public:
  explicit TextOutput(const std::string& path);  // creates or truncates the file
  ~TextOutput();
  TextOutput(const TextOutput&) = delete;
  TextOutput& operator=(const TextOutput&) = delete;

  void line(std::string_view text);  // text + "\n"
  void close();                       // throws when the data could not be written
  const std::string& name() const { return name_; }

 private:
  std::FILE* file_ = nullptr;
  bool owned_ = false;
  std::string name_;
};

}  // namespace attend
