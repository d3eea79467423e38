// Caching allocator for tensor storage, in the manner of PyTorch's CUDA caching
// allocator: memory comes from the system in segments (mmap) and is kept when tensors
// are freed, so training, which allocates the same shapes every step, reuses it instead
// of going back to the system. A request takes the smallest free block that fits (best
// fit, ties to the lowest address), split so the rest stays free; a freed block merges
// with free neighbours, so freed memory of one size serves other sizes.
//
// Segments are large (kSegmentBytes of address space, or a request's size when larger)
// and the system backs a page only once it is written, so what a process holds is each
// segment's high-water mark, which best fit keeps low. One pool serves all sizes:
// replaying the allocations of a base training step, separate small-request segments
// (PyTorch's small pool) held 75 MiB more than one pool did.
//
//   void* p = allocator().allocate(bytes);   ...   allocator().release(p, bytes);
//
// Blocks are 64-byte aligned. Thread-safe (one mutex). stats() reports hits and bytes
// for tests and benchmarks; empty_cache() returns free memory at the end of segments
// (whole segments when free) to the system, as allocate() does when a segment is refused.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attend {

struct AllocatorStats {
  int64_t allocations = 0;     // calls to allocate()
  int64_t cache_hits = 0;      // served from memory handed out before (below a high-water mark)
  int64_t bytes_in_use = 0;    // sum of round_size() of the live blocks
  int64_t bytes_cached = 0;    // free bytes below the segments' high-water marks: held, not in use
  int64_t peak_bytes_in_use = 0;
  int64_t bytes_reserved = 0;  // address space of the segments (backed only where written)
  int64_t segments = 0;
};

class CachingAllocator {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kSegmentBytes = size_t(4) << 30;  // address space per segment

  // The process uses allocator(); tests may make their own, with smaller segments.
  // Destroying one unmaps all its segments, live blocks included.
  explicit CachingAllocator(size_t segment_bytes = kSegmentBytes);
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
