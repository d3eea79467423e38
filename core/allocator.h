// Allocator for tensor storage: 64-byte aligned blocks rounded up to size classes.
// Small blocks (< kPoolMin) are kept on per-class free lists when released (up to
// kClassCacheLimit bytes in all), so the many small tensors of a step are reused at once.
// Larger blocks go back to glibc's heap, which this allocator sets up as a pool that
// never returns memory to the system nor maps blocks of its own (no page faults when a
// step allocates the same sizes again): freed neighbours merge, and a request of any
// size reuses free space (best fit), so blocks of one shape serve tensors of another
// (e.g. last step's gradients hold this step's activations) instead of each size class
// keeping its own. Training's peak memory is then close to its peak in use.
//
//   void* p = allocator().allocate(bytes);   ...   allocator().release(p, bytes);
//
// Thread-safe. stats() reports hits for tests and benchmarks; empty_cache() returns the
// cached blocks and glibc's free memory to the system.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attend {

struct AllocatorStats {
  int64_t allocations = 0;  // calls to allocate()
  int64_t cache_hits = 0;   // served from a free list
  int64_t bytes_in_use = 0;
  int64_t bytes_cached = 0;       // held free: on the class free lists and in glibc's heap
  int64_t peak_bytes_in_use = 0;
};

class CachingAllocator {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kPoolMin = size_t(1) << 20;        // blocks from here on: glibc's pool
  static constexpr int64_t kClassCacheLimit = int64_t(64) << 20;   // bytes on the class free lists

  void* allocate(size_t bytes);
  void release(void* ptr, size_t bytes);
  AllocatorStats stats() const;
  void empty_cache();
  // The size actually reserved for a request of `bytes` (its size class).
  static size_t round_size(size_t bytes);
};

CachingAllocator& allocator();

}  // namespace attend
