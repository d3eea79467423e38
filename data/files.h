// Small file helpers for data/: where the shared data lives, and atomic writes
// (write to a temp name, fsync, rename) so a crash never leaves a half-written file.
//
//   std::string root = data_root();                  // $ATTEND_DATA or <repo>/../shared/data
//   write_file_atomic(dir + "/vocab.spm", bytes);
#pragma once

#include <string>
#include <string_view>

namespace attend::data {

// The data root, as an absolute path: $ATTEND_DATA when set, else "<repo>/../shared/data"
// with the repo from $ATTEND_SOURCE_DIR (set by ctest), else the source tree this library
// was built from.
std::string data_root();

bool file_exists(const std::string& path);
std::string read_file(const std::string& path);  // whole file, binary
void write_file_atomic(const std::string& path, std::string_view bytes);
void make_directories(const std::string& path);

}  // namespace attend::data
