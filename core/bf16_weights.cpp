#include "core/bf16_weights.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/gemm.h"
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

Key key_of(const Tensor& w) { return Key{w.impl()->storage.get(), w.offset(), w.shape()}; }

struct Entry {
  Tensor weight;   // holds the storage, so its address cannot be reused while cached
  Tensor rounded;  // bf16 copy, made on first use (dropped once packed in bf16)
  std::shared_ptr<detail::PackedWeight> packed[2];  // [bf16]: oneDNN layout
  bool tried[2] = {false, false};                   // packing attempted
};

// A concatenation of cached parts: the parts are held, so their addresses cannot be reused.
struct Concat {
  std::vector<Tensor> parts;
  Tensor whole;
};

struct Cache {
  std::mutex mutex;
  int depth = 0;
  std::map<Key, Entry> entries;
  std::map<std::vector<Key>, Concat> concats;
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

// The cache entry of w; c.mutex held, a cache alive.
Entry& entry(Cache& c, const Tensor& w) {
  const Key key = key_of(w);
  auto it = c.entries.find(key);
  if (it == c.entries.end()) it = c.entries.emplace(key, Entry{w.detach(), Tensor(), {}, {false, false}}).first;
  return it->second;
}

// A source's storage, held weakly, also keeps the key's storage address from being
// reused while the entry lives; a storage that is gone no longer matches.
struct CopyEntry {
  std::weak_ptr<Storage> source;
  std::weak_ptr<TensorImpl> copy;
};

struct Copies {
  std::mutex mutex;
  std::map<Key, CopyEntry> entries;
  size_t sweep_at = 256;
};

Copies& copies() {
  static Copies c;
  return c;
}

// Bf16CopyScope's registrations: per weight, its copies, newest last.
struct Registered {
  std::mutex mutex;
  std::map<Key, std::vector<Tensor>> copies;
};

Registered& registered() {
  static Registered r;
  return r;
}

}  // namespace

Bf16CopyScope::Bf16CopyScope(const std::vector<std::pair<Tensor, Tensor>>& copies) : copies_(copies) {
  for (const auto& [w, copy] : copies_)
    CHECK(w.defined() && w.dtype() == DType::f32 && w.is_contiguous() && copy.defined() &&
              copy.dtype() == DType::bf16 && copy.is_contiguous() && copy.shape() == w.shape(),
          "Bf16CopyScope: need contiguous f32 weights with bf16 copies of their shape, got {} and {}",
          w.defined() ? w.str() : "undefined", copy.defined() ? copy.str() : "undefined");
  Registered& r = registered();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& [w, copy] : copies_) r.copies[key_of(w)].push_back(copy);
}

Bf16CopyScope::~Bf16CopyScope() {
  Registered& r = registered();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& [w, copy] : copies_) {
    auto it = r.copies.find(key_of(w));
    if (it == r.copies.end()) continue;
    std::vector<Tensor>& list = it->second;
    if (auto at = std::find_if(list.rbegin(), list.rend(),
                               [&](const Tensor& t) { return t.impl() == copy.impl(); });
        at != list.rend())
      list.erase(std::next(at).base());
    if (list.empty()) r.copies.erase(it);
  }
}

namespace {

// Key of a contiguous f32 tensor in copies().
Key activation_key(const Tensor& x, const char* op) {
  CHECK(x.defined() && x.dtype() == DType::f32 && x.is_contiguous(), "{}: need a contiguous f32 tensor, got {}", op,
        x.defined() ? x.str() : "undefined");
  return Key{x.impl()->storage.get(), x.offset(), x.shape()};
}

// Records `copy` as the shared copy of `source` under `key`; c.mutex held.
void remember(Copies& c, const Key& key, const std::shared_ptr<Storage>& source,
              const std::shared_ptr<TensorImpl>& copy) {
  c.entries[key] = CopyEntry{source, copy};
  if (c.entries.size() >= c.sweep_at) {  // forget copies that nobody holds any more
    std::erase_if(c.entries, [](const auto& kv) { return kv.second.copy.expired() || kv.second.source.expired(); });
    c.sweep_at = std::max<size_t>(256, 2 * c.entries.size());
  }
}

}  // namespace

Tensor bf16_activation(const Tensor& x) {
  const Key key = activation_key(x, "bf16_activation");
  const std::shared_ptr<Storage>& storage = x.impl()->storage;
  Copies& c = copies();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (auto it = c.entries.find(key); it != c.entries.end()) {
    if (it->second.source.lock() == storage)
      if (auto copy = it->second.copy.lock()) return Tensor(copy);
  }
  auto copy = std::make_shared<TensorImpl>(*rounded(x).impl());
  remember(c, key, storage, copy);
  return Tensor(copy);
}

void share_bf16_activation(const Tensor& x, const Tensor& x16) {
  const Key key = activation_key(x, "share_bf16_activation");
  CHECK(x16.defined() && x16.dtype() == DType::bf16 && x16.is_contiguous() && x16.shape() == x.shape(),
        "share_bf16_activation: need a contiguous bf16 copy of shape {}, got {}", shape_str(x.shape()),
        x16.defined() ? x16.str() : "undefined");
  Copies& c = copies();
  std::lock_guard<std::mutex> lock(c.mutex);
  remember(c, key, x.impl()->storage, x16.impl_ptr());
}

Bf16WeightCache::Bf16WeightCache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  ++cache().depth;
}

Bf16WeightCache::~Bf16WeightCache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  if (--cache().depth == 0) {
    cache().entries.clear();
    cache().concats.clear();
  }
}

int64_t Bf16WeightCache::size() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  return int64_t(cache().entries.size());
}

Tensor bf16_weight(const Tensor& w) {
  CHECK(w.defined() && w.dtype() == DType::f32 && w.is_contiguous(), "bf16_weight: need a contiguous f32 tensor, got {}",
        w.defined() ? w.str() : "undefined");
  {
    Registered& r = registered();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!r.copies.empty())
      if (auto it = r.copies.find(key_of(w)); it != r.copies.end()) return it->second.back();
  }
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.depth > 0) {
      Entry& e = entry(c, w);
      if (!e.rounded.defined()) e.rounded = rounded(w);
      return e.rounded;
    }
  }
  return rounded(w);
}

Tensor cached_concat(const std::vector<Tensor>& parts) {
  CHECK(!parts.empty(), "cached_concat: no parts");
  std::vector<Key> key;
  for (const Tensor& p : parts) {
    CHECK(p.defined() && p.dtype() == DType::f32 && p.is_contiguous() && p.dim() >= 1 &&
              Shape(p.shape().begin() + 1, p.shape().end()) ==
                  Shape(parts[0].shape().begin() + 1, parts[0].shape().end()),
          "cached_concat: parts must be contiguous f32 tensors alike but for dim 0, got {} and {}", p.str(),
          parts[0].str());
    key.push_back(Key{p.impl()->storage.get(), p.offset(), p.shape()});
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.depth == 0) return Tensor();
  auto it = c.concats.find(key);
  if (it == c.concats.end()) {
    Shape shape = parts[0].shape();
    shape[0] = 0;
    for (const Tensor& p : parts) shape[0] += p.size(0);
    Concat entry{{}, Tensor::empty(shape)};
    float* out = entry.whole.data();
    for (const Tensor& p : parts) {
      std::copy(p.data(), p.data() + p.numel(), out);
      out += p.numel();
      entry.parts.push_back(p.detach());
    }
    it = c.concats.emplace(std::move(key), std::move(entry)).first;
  }
  return it->second.whole;
}

detail::PackedWeight* packed_weight(const Tensor& w, bool in_bf16, int64_t rows) {
  if (!w.defined() || w.dtype() != DType::f32 || !w.is_contiguous() || w.dim() != 2) return nullptr;
  if (!in_bf16 && gemm_backend() != GemmBackend::onednn) return nullptr;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.depth == 0) return nullptr;
  Entry& e = entry(c, w);
  if (!e.tried[in_bf16]) {
    e.tried[in_bf16] = true;
    const int64_t N = w.size(0), K = w.size(1);
    if (in_bf16) {
      const Tensor r = e.rounded.defined() ? e.rounded : rounded(w);
      e.packed[1] = detail::pack_weight(r.data_as<bf16>(), true, N, K, std::max<int64_t>(rows, 1));
      e.rounded = e.packed[1] ? Tensor() : r;  // the packed copy replaces the rounded one
    } else {
      e.packed[0] = detail::pack_weight(w.data(), false, N, K, std::max<int64_t>(rows, 1));
    }
  }
  return e.packed[in_bf16].get();
}

}  // namespace attend
