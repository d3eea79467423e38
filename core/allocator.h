// Caching allocator for tensor storage, in the manner of PyTorch's CUDA caching
// allocator: memory comes from the system in segments (mmap) and is kept when tensors
// are freed, so training, which allocates the same shapes every step, reuses it instead
// of going back to the system. A request takes the smallest free block that fits (best
// fit, ties to the lowest address), split so the rest stays free; a freed block merges
// with free neighbours in its segment, so freed memory of one size serves other sizes.
// Requests up to kSmallSize come from 2 MiB segments of their own, so that small,
// short-lived tensors do not cut up the large blocks.
//
//   void* p = allocator().allocate(bytes);   ...   allocator().release(p, bytes);
//
// Blocks are 64-byte aligned. Thread-safe (one mutex). stats() reports hits, bytes in
// use, cached and reserved for tests and benchmarks; empty_cache() returns every wholly
// free segment to the system (as allocate() does by itself when the system refuses one).
#pragma once

#include <cstddef>
#include <cstdint>

namespace attend {

struct AllocatorStats {
  int64_t allocations = 0;     // calls to allocate()
  int64_t cache_hits = 0;      // served from a cached free block (no new segment)
  int64_t bytes_in_use = 0;    // sum of round_size() of the live blocks
  int64_t bytes_cached = 0;    // free bytes in the segments held (bytes_reserved - bytes_in_use)
  int64_t peak_bytes_in_use = 0;
  int64_t bytes_reserved = 0;  // segments held from the system
  int64_t segments = 0;
};

class CachingAllocator {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kSmallSize = size_t(1) << 20;  // up to this: the small pool

  // The process uses allocator(); tests may make their own. Destroying one unmaps all
  // its segments, live blocks included.
  CachingAllocator();
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);
  // bytes: what was passed to allocate() for ptr.
  void release(void* ptr, size_t bytes);
  AllocatorStats stats() const;
  void empty_cache();
  // The bytes a request of `bytes` occupies: rounded up to a multiple of kAlignment
  // (at least one). Blocks are split exactly, so this is also what it adds to bytes_in_use.
  static size_t round_size(size_t bytes);

 private:
  struct State;
  State* state_;
};

CachingAllocator& allocator();  // the process's allocator, never destroyed

}  // namespace attend
