#include "core/allocator.h"

#include <sys/mman.h>

#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace attend {
namespace {

constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kSmallSegment = 2 * kMiB;   // segment of the small pool
constexpr size_t kLargeSegment = 20 * kMiB;  // shared segment for large requests below half of it
constexpr size_t kSegmentRound = 2 * kMiB;   // larger requests: a segment of their own, rounded up to this

// A run of bytes inside a segment; the blocks of one segment form a list in address order.
struct Block {
  char* ptr;
  size_t size;
  bool small;          // which pool
  bool free = true;
  Block* prev = nullptr;  // neighbours in the segment (null at its ends)
  Block* next = nullptr;
};

struct BySizeThenAddress {
  bool operator()(const Block* a, const Block* b) const {
    return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
  }
};
using FreeBlocks = std::set<Block*, BySizeThenAddress>;

size_t segment_size(size_t size) {
  if (size <= CachingAllocator::kSmallSize) return kSmallSegment;
  if (size < kLargeSegment / 2) return kLargeSegment;
  return (size + kSegmentRound - 1) / kSegmentRound * kSegmentRound;
}

void* map_segment(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

struct CachingAllocator::State {
  std::mutex mutex;
  FreeBlocks small_free, large_free;
  std::unordered_map<void*, Block*> live;
  AllocatorStats stats;

  FreeBlocks& pool(bool small) { return small ? small_free : large_free; }
  void release_free_segments();
};

// Unmaps every free block that is a whole segment. Caller holds the mutex.
void CachingAllocator::State::release_free_segments() {
  for (FreeBlocks* pool : {&small_free, &large_free}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      if (b->prev || b->next) {
        ++it;
        continue;
      }
      it = pool->erase(it);
      munmap(b->ptr, b->size);
      stats.bytes_reserved -= int64_t(b->size);
      stats.bytes_cached -= int64_t(b->size);
      stats.segments--;
      delete b;
    }
  }
}

namespace {

// Merges b's free next neighbour into b, erasing that from the pool.
void absorb_next(FreeBlocks& pool, Block* b) {
  Block* n = b->next;
  pool.erase(n);
  b->size += n->size;
  b->next = n->next;
  if (n->next) n->next->prev = b;
  delete n;
}

}  // namespace

CachingAllocator::CachingAllocator() : state_(new State) {}

CachingAllocator::~CachingAllocator() {
  // Every segment begins with a block that has no prev: live or free, unmap from there.
  std::vector<Block*> blocks;
  for (auto& [ptr, b] : state_->live) blocks.push_back(b);
  for (FreeBlocks* pool : {&state_->small_free, &state_->large_free}) blocks.insert(blocks.end(), pool->begin(), pool->end());
  for (Block* b : blocks) {
    if (!b->prev) {
      size_t seg = 0;
      for (Block* x = b; x; x = x->next) seg += x->size;
      munmap(b->ptr, seg);
    }
  }
  for (Block* b : blocks) delete b;
  delete state_;
}

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  return (bytes + kAlignment - 1) & ~(kAlignment - 1);
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  const bool small = size <= kSmallSize;
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.allocations++;
  FreeBlocks& pool = s.pool(small);
  Block key{nullptr, size, small};
  Block* b = nullptr;
  if (auto it = pool.lower_bound(&key); it != pool.end()) {  // best fit: smallest size, then lowest address
    b = *it;
    pool.erase(it);
    s.stats.cache_hits++;
  } else {
    const size_t seg = segment_size(size);
    void* p = map_segment(seg);
    if (!p) {
      s.release_free_segments();
      p = map_segment(seg);
    }
    CHECK(p != nullptr, "out of memory: cannot map a segment of {} bytes for a request of {} bytes "
          "({} bytes in use, {} cached)", seg, bytes, s.stats.bytes_in_use, s.stats.bytes_cached);
    b = new Block{static_cast<char*>(p), seg, small};
    s.stats.bytes_reserved += int64_t(seg);
    s.stats.bytes_cached += int64_t(seg);
    s.stats.segments++;
  }
  if (b->size > size) {  // split: the rest stays free
    Block* rest = new Block{b->ptr + size, b->size - size, small};
    rest->prev = b;
    rest->next = b->next;
    if (b->next) b->next->prev = rest;
    b->next = rest;
    b->size = size;
    pool.insert(rest);
  }
  b->free = false;
  s.live.emplace(b->ptr, b);
  s.stats.bytes_in_use += int64_t(size);
  s.stats.bytes_cached -= int64_t(size);
  if (s.stats.bytes_in_use > s.stats.peak_bytes_in_use) s.stats.peak_bytes_in_use = s.stats.bytes_in_use;
  return b->ptr;
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  if (!ptr) return;
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.live.find(ptr);
  CHECK(it != s.live.end(), "release of {} ({} bytes), which the allocator did not give out or was released already",
        ptr, bytes);
  Block* b = it->second;
  CHECK(b->size == round_size(bytes), "release of {} with {} bytes, but it was allocated with {}", ptr, bytes,
        b->size);
  s.live.erase(it);
  s.stats.bytes_in_use -= int64_t(b->size);
  s.stats.bytes_cached += int64_t(b->size);
  FreeBlocks& pool = s.pool(b->small);
  b->free = true;
  if (b->next && b->next->free) absorb_next(pool, b);
  if (b->prev && b->prev->free) {
    Block* p = b->prev;
    pool.erase(p);  // its key (size) changes
    absorb_next(pool, p);
    b = p;
  }
  pool.insert(b);
}

AllocatorStats CachingAllocator::stats() const {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.stats;
}

void CachingAllocator::empty_cache() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.release_free_segments();
}

// Never destroyed: tensors held by static objects may be released during exit.
CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator;
  return *instance;
}

}  // namespace attend
