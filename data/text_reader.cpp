#include "data/text_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace attend::data {

namespace {
constexpr size_t kChunk = 1 << 17;
}

int64_t find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    for (uint64_t w; i + 8 <= n; i += 8) {  // ASCII fast path
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
    }
    if (i >= n) break;
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3;
    else if (c >= 0xF0 && c <= 0xF4) len = 4;
    else return int64_t(i);  // continuation byte, overlong lead (C0, C1) or past U+10FFFF
    if (i + len > n) return int64_t(i);
    for (size_t k = 1; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return int64_t(i);
    if (c == 0xE0 && p[i + 1] < 0xA0) return int64_t(i);   // overlong 3-byte form
    if (c == 0xED && p[i + 1] >= 0xA0) return int64_t(i);  // UTF-16 surrogate
    if (c == 0xF0 && p[i + 1] < 0x90) return int64_t(i);   // overlong 4-byte form
    if (c == 0xF4 && p[i + 1] >= 0x90) return int64_t(i);  // past U+10FFFF
    i += len;
  }
  return -1;
}

LineReader::LineReader(std::string path) : path_(std::move(path)) {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0, "cannot open '{}': {}", path_, std::strerror(errno));
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    ::close(fd);
    ATTEND_ERROR("cannot open '{}': out of memory for the gzip reader", path_);
  }
  gzbuffer(gz, kChunk);
  gz_ = gz;
  buf_.resize(kChunk);
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {  // keep the unfinished line at the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() - end_ < kChunk / 2) buf_.resize(buf_.size() * 2);  // a very long line
  auto* gz = static_cast<gzFile>(gz_);
  int n = gzread(gz, buf_.data() + end_, unsigned(buf_.size() - end_));
  if (n < 0) {
    int code = 0;
    const char* msg = gzerror(gz, &code);
    ATTEND_ERROR("error reading '{}' after line {}: {}", path_, line_,
                 code == Z_ERRNO ? std::strerror(errno) : msg);
  }
  if (n == 0) {
    int code = 0;
    const char* msg = gzerror(gz, &code);
    CHECK(code == Z_OK, "error reading '{}' after line {}: {} (truncated or corrupt gzip?)", path_,
          line_, msg);
    eof_ = true;
    return false;
  }
  end_ += size_t(n);
  return true;
}

bool LineReader::next(std::string& line) {
  for (;;) {
    const char* start = buf_.data() + begin_;
    const void* nl = std::memchr(start, '\n', end_ - begin_);
    if (nl) {
      const size_t len = size_t(static_cast<const char*>(nl) - start);
      line.assign(start, len);
      begin_ += len + 1;
      break;
    }
    if (!fill()) {
      if (begin_ == end_) return false;
      line.assign(buf_.data() + begin_, end_ - begin_);  // last line without "\n"
      begin_ = end_;
      break;
    }
  }
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
  int64_t bad = find_invalid_utf8(line);
  CHECK_HINT(bad < 0, "convert the file to UTF-8, e.g. with iconv",
             "'{}' line {}: invalid UTF-8 at byte {} (0x{:02X})", path_, line_, bad + 1,
             bad < 0 ? 0u : unsigned(static_cast<unsigned char>(line[size_t(bad)])));
  return true;
}

std::vector<std::string> read_lines(const std::string& path) {
  LineReader in(path);
  std::vector<std::string> lines;
  std::string line;
  while (in.next(line)) lines.push_back(line);
  return lines;
}

}  // namespace attend::data
