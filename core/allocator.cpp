#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace attend {
namespace {

std::mutex g_mutex;
std::unordered_map<size_t, std::vector<void*>> g_free;  // size class -> blocks
AllocatorStats g_stats;

}  // namespace

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  // Classes: multiples of 64 B up to 4 KiB, then 8 steps per power of two
  // (at most 12.5% waste), so similar shapes share blocks.
  if (bytes <= 4096) return (bytes + 63) & ~size_t(63);
  size_t pow2 = size_t(1) << (63 - __builtin_clzll(bytes - 1));  // largest power of two < bytes
  size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_stats.allocations++;
    auto it = g_free.find(size);
    if (it != g_free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      g_stats.cache_hits++;
      g_stats.bytes_cached -= int64_t(size);
      g_stats.bytes_in_use += int64_t(size);
      if (g_stats.bytes_in_use > g_stats.peak_bytes_in_use) g_stats.peak_bytes_in_use = g_stats.bytes_in_use;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p) {
    empty_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  CHECK(p != nullptr, "out of memory allocating {} bytes", size);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_stats.bytes_in_use += int64_t(size);
  if (g_stats.bytes_in_use > g_stats.peak_bytes_in_use) g_stats.peak_bytes_in_use = g_stats.bytes_in_use;
  return p;
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_free[size].push_back(ptr);
  g_stats.bytes_in_use -= int64_t(size);
  g_stats.bytes_cached += int64_t(size);
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& [size, blocks] : g_free) {
    for (void* p : blocks) std::free(p);
    g_stats.bytes_cached -= int64_t(size * blocks.size());
    blocks.clear();
  }
}

CachingAllocator& allocator() {
  static CachingAllocator instance;
  return instance;
}

}  // namespace attend
