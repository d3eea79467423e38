// Caching allocator for tensor storage: 64-byte aligned blocks, rounded up to size
// classes, kept on free lists when released so that training, which allocates the
// same shapes every step, reuses them instead of going back to the system.
//
//   void* p = allocator().allocate(bytes);   ...   allocator().release(p, bytes);
//
// Thread-safe. stats() reports hits/misses for tests and benchmarks; empty_cache()
// returns every cached block to the system.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attend {

struct AllocatorStats {
  int64_t allocations = 0;  // calls to allocate()
  int64_t cache_hits = 0;   // served from a free list
  int64_t bytes_in_use = 0;
  int64_t bytes_cached = 0;       // held on free lists
  int64_t peak_bytes_in_use = 0;
};

class CachingAllocator {
 public:
  static constexpr size_t kAlignment = 64;

  void* allocate(size_t bytes);
  void release(void* ptr, size_t bytes);
  AllocatorStats stats() const;
  void empty_cache();
  // The size actually reserved for a request of `bytes` (its size class).
  static size_t round_size(size_t bytes);
};

CachingAllocator& allocator();

}  // namespace attend
