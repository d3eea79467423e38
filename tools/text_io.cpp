#include "tools/text_io.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "data/text_reader.h"

namespace attend {

std::vector<std::string> read_text_lines(const std::string& path) {
  if (path.empty() || path == "-") return read_text_lines(stdin, "stdin");
  return data::read_lines(path);
}

std::vector<std::string> read_text_lines(std::FILE* stream, const std::string& name) {
  std::vector<std::string> lines;
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n = 0;
  while ((n = ::getline(&buf, &cap, stream)) > 0) {
    const bool ends = buf[n - 1] == '\n';
    lines.emplace_back(buf, size_t(ends ? n - 1 : n));
  }
  const int err = errno;
  std::free(buf);
  CHECK(!std::ferror(stream), "error reading {} after line {}: {}", name, lines.size(), std::strerror(err));
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string& l = lines[i];
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (i == 0 && l.starts_with("\xEF\xBB\xBF")) l.erase(0, 3);
    const int64_t bad = data::find_invalid_utf8(l);
    CHECK_HINT(bad < 0, "convert the input to UTF-8, e.g. with iconv", "{} line {}: invalid UTF-8 at byte {} (0x{:02X})",
               name, i + 1, bad + 1, bad < 0 ? 0u : unsigned(static_cast<unsigned char>(l[size_t(bad)])));
  }
  return lines;
}

TextOutput::TextOutput(const std::string& path) {
  if (path.empty() || path == "-") {
    file_ = stdout;
    name_ = "stdout";
    return;
  }
  file_ = std::fopen(path.c_str(), "wb");
  CHECK(file_ != nullptr, "cannot open '{}' for writing: {}", path, std::strerror(errno));
  owned_ = true;
  name_ = path;
}

TextOutput::~TextOutput() {
  if (owned_ && file_) std::fclose(file_);
}

void TextOutput::line(std::string_view text) {
  CHECK(file_ != nullptr, "write to {} after close", name_);
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fputc('\n', file_);
}

void TextOutput::close() {
  if (!file_) return;
  const bool ok = std::fflush(file_) == 0 && !std::ferror(file_);
  const int err = errno;
  if (owned_) std::fclose(file_);
  file_ = nullptr;
  CHECK(ok, "error writing {}: {}", name_, std::strerror(err));
}

}  // namespace attend
