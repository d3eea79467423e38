#include "core/allocator.h"

#include <malloc.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace attend {
namespace {

std::mutex g_mutex;
std::unordered_map<size_t, std::vector<void*>> g_free;  // size class -> blocks (small blocks only)
AllocatorStats g_stats;
int64_t g_class_cached = 0;  // bytes on the free lists

// glibc as the pool of large blocks: never hand memory back to the system on free()
// and never map a block of its own (a mapped block is unmapped when freed and faulted
// in page by page when allocated again); free chunks then merge with their neighbours
// and serve later requests of any size from one heap (best fit).
void configure_glibc_once() {
  static const bool done = [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_TOP_PAD, 16 << 20);  // grow the heap 16 MiB at a time
    return true;
  }();
  (void)done;
}

// Bytes glibc holds free in its heap (reusable by any later request).
int64_t glibc_free_bytes() {
  const struct mallinfo2 info = mallinfo2();
  return int64_t(info.fordblks);
}

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
  configure_glibc_once();
  const size_t size = round_size(bytes);
  if (size < kPoolMin) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_stats.allocations++;
    auto it = g_free.find(size);
    if (it != g_free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      g_stats.cache_hits++;
      g_class_cached -= int64_t(size);
      g_stats.bytes_in_use += int64_t(size);
      if (g_stats.bytes_in_use > g_stats.peak_bytes_in_use) g_stats.peak_bytes_in_use = g_stats.bytes_in_use;
      return p;
    }
  } else {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_stats.allocations++;
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
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_stats.bytes_in_use -= int64_t(size);
    if (size < kPoolMin && g_class_cached + int64_t(size) <= kClassCacheLimit) {
      g_free[size].push_back(ptr);
      g_class_cached += int64_t(size);
      return;
    }
  }
  std::free(ptr);
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  AllocatorStats s = g_stats;
  s.bytes_cached = g_class_cached + glibc_free_bytes();
  return s;
}

void CachingAllocator::empty_cache() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto& [size, blocks] : g_free) {
      for (void* p : blocks) std::free(p);
      g_class_cached -= int64_t(size * blocks.size());
      blocks.clear();
    }
  }
  malloc_trim(0);
}

CachingAllocator& allocator() {
  static CachingAllocator instance;
  return instance;
}

}  // namespace attend
