#include "data/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace attend::data {

std::string data_root() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("ATTEND_DATA"); env && *env) return fs::absolute(env).lexically_normal().string();
  if (const char* src = std::getenv("ATTEND_SOURCE_DIR"); src && *src)
    return (fs::absolute(src) / ".." / "shared" / "data").lexically_normal().string();
#ifdef ATTEND_BUILT_FROM
  // The source tree this binary was built from: ../shared/data beside it.
  return (fs::path(ATTEND_BUILT_FROM) / ".." / "shared" / "data").lexically_normal().string();
#else
  return fs::absolute("../shared/data").lexically_normal().string();
#endif
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CHECK(in, "cannot open '{}': {}", path, std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  CHECK(!in.bad(), "error reading '{}'", path);
  return out.str();
}

void make_directories(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  CHECK(!ec, "cannot create directory '{}': {}", path, ec.message());
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  make_directories(std::filesystem::path(path).parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0, "cannot write '{}': {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      ATTEND_ERROR("cannot write '{}': {}", tmp, std::strerror(err));
    }
    done += size_t(n);
  }
  bool synced = ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!synced) {
    ::unlink(tmp.c_str());
    ATTEND_ERROR("cannot fsync '{}': {}", tmp, std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    ATTEND_ERROR("cannot rename '{}' to '{}': {}", tmp, path, std::strerror(err));
  }
}

}  // namespace attend::data
