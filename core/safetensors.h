// safetensors I/O (the huggingface format): an 8-byte little-endian header length N,
// N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {str: str}}, then the raw little-endian data of every tensor.
//
//   save_safetensors("model.safetensors", {{"fc1.weight", w}, {"fc1.bias", b}}, {{"step", "100"}});
//   SafetensorsFile f = load_safetensors("model.safetensors");
//   Tensor w = f.at("fc1.weight");     // f.names keeps the file's order
//
// Saving is atomic (temp file, fsync, rename, fsync of the folder). Loading checks
// every header field and throws attend::Error naming the file and the problem.
// dtypes: F32, BF16, I32, I64.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace attend {

struct SafetensorsFile {
  std::string path;
  std::vector<std::string> names;                   // in header order
  std::unordered_map<std::string, Tensor> tensors;  // contiguous, 64-byte aligned
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  const Tensor& at(const std::string& name) const;  // throws naming the file and the tensor
};

// Non-contiguous tensors are written in row-major order. Names must be unique.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

SafetensorsFile load_safetensors(const std::string& path);

}  // namespace attend
