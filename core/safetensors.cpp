#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

namespace attend {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kMetadataKey = "__metadata__";

const char* file_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
  }
  return "?";
}

std::optional<DType> parse_dtype(const std::string& s) {
  if (s == "F32") return DType::f32;
  if (s == "BF16") return DType::bf16;
  if (s == "I32") return DType::i32;
  if (s == "I64") return DType::i64;
  return std::nullopt;
}

// Closes a POSIX file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    CHECK(w > 0, "safetensors: cannot write '{}': {}", path, std::strerror(errno));
    p += w;
    n -= size_t(w);
  }
}

void read_all(int fd, void* data, size_t n, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    CHECK(r > 0, "safetensors: cannot read '{}' at byte {}: {}", path, offset,
          r == 0 ? "unexpected end of file" : std::strerror(errno));
    p += r;
    n -= size_t(r);
    offset += uint64_t(r);
  }
}

// One tensor entry of a header, validated.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// Parses the header, rejecting duplicate keys in any object (nlohmann keeps one silently).
Json parse_header(const std::string& text, const std::string& path) {
  std::vector<std::unordered_set<std::string>> keys;  // one set per open object
  std::string duplicate;
  auto callback = [&](int, nlohmann::json::parse_event_t event, Json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) keys.emplace_back();
    if (event == E::object_end && !keys.empty()) keys.pop_back();
    if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    ATTEND_ERROR("safetensors: '{}': header is not valid JSON: {}", path, e.what());
  }
  CHECK(duplicate.empty(), "safetensors: '{}': header has duplicate name '{}'", path, duplicate);
  CHECK(header.is_object(), "safetensors: '{}': header is not a JSON object", path);
  return header;
}

Entry parse_entry(const std::string& name, const Json& v, const std::string& path) {
  CHECK(v.is_object(), "safetensors: '{}': entry of tensor '{}' is not an object", path, name);
  CHECK(v.contains("dtype") && v["dtype"].is_string(), "safetensors: '{}': tensor '{}' has no dtype string",
        path, name);
  const std::string dtype = v["dtype"].get<std::string>();
  std::optional<DType> t = parse_dtype(dtype);
  CHECK(t.has_value(), "safetensors: '{}': tensor '{}' has unknown dtype '{}' (supported: F32, BF16, I32, I64)",
        path, name, dtype);
  CHECK(v.contains("shape") && v["shape"].is_array(), "safetensors: '{}': tensor '{}' has no shape array",
        path, name);
  Entry e{name, *t, {}, 0, 0};
  for (const Json& d : v["shape"]) {
    CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX),
          "safetensors: '{}': tensor '{}' has invalid shape {}", path, name, v["shape"].dump());
    e.shape.push_back(d.get<int64_t>());
  }
  const bool offsets_ok = v.contains("data_offsets") && v["data_offsets"].is_array() &&
                          v["data_offsets"].size() == 2 && v["data_offsets"][0].is_number_unsigned() &&
                          v["data_offsets"][1].is_number_unsigned();
  CHECK(offsets_ok, "safetensors: '{}': tensor '{}' needs data_offsets [begin, end] of non-negative integers, got {}",
        path, name, v.contains("data_offsets") ? v["data_offsets"].dump() : "none");
  e.begin = v["data_offsets"][0].get<uint64_t>();
  e.end = v["data_offsets"][1].get<uint64_t>();
  CHECK(e.begin <= e.end, "safetensors: '{}': tensor '{}' has data_offsets [{}, {}] with begin after end", path,
        name, e.begin, e.end);
  uint64_t bytes = dtype_size(e.dtype);
  bool overflow = false;
  for (int64_t d : e.shape) overflow |= __builtin_mul_overflow(bytes, uint64_t(d), &bytes);
  CHECK(!overflow && bytes == e.end - e.begin,
        "safetensors: '{}': tensor '{}' of shape {} and dtype {} needs {} bytes, but data_offsets [{}, {}] hold {}",
        path, name, shape_str(e.shape), dtype, overflow ? "too many" : std::to_string(bytes), e.begin, e.end,
        e.end - e.begin);
  return e;
}

// Tensors must tile the data section exactly: no overlap, no hole, nothing past the end.
void check_layout(std::vector<const Entry*> entries, uint64_t data_size, const std::string& path) {
  for (const Entry* e : entries)
    CHECK(e->end <= data_size,
          "safetensors: '{}': tensor '{}' has data_offsets [{}, {}] out of range: the data section has {} bytes",
          path, e->name, e->begin, e->end, data_size);
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : entries) {
    CHECK(e->begin >= covered, "safetensors: '{}': tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", path,
          previous ? previous->name : "", previous ? previous->begin : 0, previous ? previous->end : 0, e->name,
          e->begin, e->end);
    CHECK(e->begin == covered, "safetensors: '{}': bytes [{}, {}) of the data section belong to no tensor", path,
          covered, e->begin);
    covered = e->end;
    previous = e;
  }
  CHECK(covered == data_size, "safetensors: '{}': bytes [{}, {}) of the data section belong to no tensor", path,
        covered, data_size);
}

}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  CHECK(it != tensors.end(), "safetensors: '{}' has no tensor '{}' ({} tensors)", path, name, tensors.size());
  return it->second;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    CHECK(name != kMetadataKey, "safetensors: cannot save a tensor named '{}' to '{}'", name, path);
    CHECK(!header.contains(name), "safetensors: duplicate tensor name '{}' when saving '{}'", name, path);
    CHECK(t.defined(), "safetensors: tensor '{}' is undefined when saving '{}'", name, path);
    Tensor c = t.detach().contiguous();  // row-major bytes
    const uint64_t bytes = uint64_t(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", file_dtype_name(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  const uint64_t n = text.size();

  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  Fd file{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  CHECK(file.fd >= 0, "safetensors: cannot create '{}': {}", tmp, std::strerror(errno));
  try {
    write_all(file.fd, &n, 8, tmp);
    write_all(file.fd, text.data(), text.size(), tmp);
    for (const Tensor& c : data)
      if (c.numel() > 0) write_all(file.fd, c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()), tmp);
    CHECK(::fsync(file.fd) == 0, "safetensors: cannot fsync '{}': {}", tmp, std::strerror(errno));
    const int fd = file.fd;
    file.fd = -1;
    CHECK(::close(fd) == 0, "safetensors: cannot close '{}': {}", tmp, std::strerror(errno));
    CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "safetensors: cannot rename '{}' to '{}': {}", tmp, path,
          std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  CHECK(d.fd >= 0 && ::fsync(d.fd) == 0, "safetensors: cannot fsync folder '{}' after writing '{}': {}", dir,
        path, std::strerror(errno));
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  CHECK(file.fd >= 0, "safetensors: cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  CHECK(::fstat(file.fd, &st) == 0, "safetensors: cannot stat '{}': {}", path, std::strerror(errno));
  const uint64_t size = uint64_t(st.st_size);
  CHECK(size >= 8, "safetensors: '{}' is {} bytes, too short to hold the 8-byte header length", path, size);
  uint64_t n = 0;
  read_all(file.fd, &n, 8, 0, path);
  CHECK(n <= size - 8, "safetensors: '{}': header length {} runs past the end of the file ({} bytes)", path, n,
        size);
  std::string text(size_t(n), '\0');
  read_all(file.fd, text.data(), text.size(), 8, path);
  Json header = parse_header(text, path);

  SafetensorsFile out;
  out.path = path;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      CHECK(value.is_object(), "safetensors: '{}': __metadata__ is not an object", path);
      for (const auto& [k, v] : value.items()) {
        CHECK(v.is_string(), "safetensors: '{}': __metadata__ value of '{}' is not a string: {}", path, k,
              v.dump());
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, path));
  }
  std::vector<const Entry*> pointers;
  for (const Entry& e : entries) pointers.push_back(&e);
  const uint64_t data_start = 8 + n;
  check_layout(pointers, size - data_start, path);

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) read_all(file.fd, t.raw_data(), size_t(e.end - e.begin), data_start + e.begin, path);
    out.names.push_back(e.name);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace attend
