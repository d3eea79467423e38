#include "core/bf16_weights.h"

#include <map>
#include <mutex>
#include <tuple>

#include "core/gemm_bf16.h"

namespace attend {
namespace {

struct Key {
  const void* storage;
  int64_t offset;
  Shape shape;
  bool operator<(const Key& o) const {
    return std::tie(storage, offset, shape) < std::tie(o.storage, o.offset, o.shape);
  }
};

struct Entry {
  Tensor weight;  // holds the storage, so its address cannot be reused while cached
  Tensor rounded;
};

struct Cache {
  std::mutex mutex;
  int depth = 0;
  std::map<Key, Entry> entries;
};

Cache& cache() {
  static Cache c;
  return c;
}

Tensor rounded(const Tensor& w) {
  Tensor out = Tensor::empty(w.shape(), DType::bf16);
  const int64_t cols = w.dim() == 0 ? 1 : w.size(-1);
  convert_to_bf16(out.data_as<bf16>(), w.data(), cols == 0 ? 0 : w.numel() / cols, cols, cols);
  return out;
}

}  // namespace

Bf16WeightCache::Bf16WeightCache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  ++cache().depth;
}

Bf16WeightCache::~Bf16WeightCache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  if (--cache().depth == 0) cache().entries.clear();
}

int64_t Bf16WeightCache::size() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  return int64_t(cache().entries.size());
}

Tensor bf16_weight(const Tensor& w) {
  CHECK(w.defined() && w.dtype() == DType::f32 && w.is_contiguous(), "bf16_weight: need a contiguous f32 tensor, got {}",
        w.defined() ? w.str() : "undefined");
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.depth > 0) {
      const Key key{w.impl()->storage.get(), w.offset(), w.shape()};
      auto it = c.entries.find(key);
      if (it == c.entries.end()) it = c.entries.emplace(key, Entry{w.detach(), rounded(w)}).first;
      return it->second.rounded;
    }
  }
  return rounded(w);
}

}  // namespace attend
