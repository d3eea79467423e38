#include "core/allocator.h"

#include <sys/mman.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/error.h"

// Under AddressSanitizer, blocks handed out are addressable only up to the bytes asked for:
// free blocks, each block's rounding slack and a guard past each segment's high-water mark
// are poisoned, so reading freed tensor memory or past a tensor's end is reported, as it
// would be with malloc'd storage.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ATTEND_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define ATTEND_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ATTEND_POISON(p, n) ((void)(p), (void)(n))
#define ATTEND_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace attend {
namespace {

constexpr size_t kGuard = 64;  // poisoned bytes past a segment's high-water mark (sanitizer builds)

constexpr size_t kPage = 4096;
constexpr size_t kOwnSegmentRound = size_t(2) << 20;  // requests above the segment size: rounded up to this

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

struct Segment {
  char* base;
  size_t size;
  size_t high_water = 0;  // bytes from base ever handed out (the system backs at most these)
  size_t touched = 0;     // the largest high_water + guard so far: what sanitizers may have poisoned
};

// A run of bytes inside a segment; the blocks of one segment form a list in address order.
struct Block {
  char* ptr;
  size_t size;
  Segment* segment;
  bool free = true;
  Block* prev = nullptr;  // neighbours in the segment (null at its ends)
  Block* next = nullptr;
};

struct BySizeThenAddress {
  bool operator()(const Block* a, const Block* b) const {
    return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
  }
};

}  // namespace

struct CachingAllocator::State {
  size_t segment_bytes;
  std::mutex mutex;
  std::set<Block*, BySizeThenAddress> free;
  std::unordered_map<void*, Block*> live;
  std::vector<Segment*> segments;
  std::vector<Block*> heads;  // first block of each segment, parallel to segments
  AllocatorStats stats;       // bytes_cached is derived in stats()
  int64_t high_water = 0;     // sum over segments

  Block* map_segment(size_t size);
  void return_free_memory();
  void absorb_next(Block* b);
};

// A new segment of `size` bytes as one free block (not yet in `free`); null when refused.
Block* CachingAllocator::State::map_segment(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* seg = new Segment{static_cast<char*>(p), size};
  auto* b = new Block{seg->base, size, seg};
  segments.push_back(seg);
  heads.push_back(b);
  stats.bytes_reserved += int64_t(size);
  stats.segments++;
  return b;
}

// Unmaps wholly free segments and gives the pages of each remaining segment's free tail
// back to the system (lowering its high-water mark). Caller holds the mutex.
void CachingAllocator::State::return_free_memory() {
  for (size_t i = 0; i < segments.size();) {
    Segment* seg = segments[i];
    Block* head = heads[i];
    if (head->free && !head->next) {
      free.erase(head);
      ATTEND_UNPOISON(seg->base, seg->touched);
      munmap(seg->base, seg->size);
      stats.bytes_reserved -= int64_t(seg->size);
      stats.segments--;
      high_water -= int64_t(seg->high_water);
      delete head;
      delete seg;
      segments.erase(segments.begin() + std::ptrdiff_t(i));
      heads.erase(heads.begin() + std::ptrdiff_t(i));
      continue;
    }
    Block* tail = head;
    while (tail->next) tail = tail->next;
    const size_t offset = size_t(tail->ptr - seg->base);
    if (tail->free && offset < seg->high_water) {
      const size_t page = round_up(offset, kPage);
      if (page < seg->high_water) madvise(seg->base + page, seg->high_water - page, MADV_DONTNEED);
      high_water -= int64_t(seg->high_water - offset);
      seg->high_water = offset;
    }
    ++i;
  }
}

// Merges b's free next neighbour into b, erasing that from `free`.
void CachingAllocator::State::absorb_next(Block* b) {
  Block* n = b->next;
  free.erase(n);
  b->size += n->size;
  b->next = n->next;
  if (n->next) n->next->prev = b;
  delete n;
}

CachingAllocator::CachingAllocator(size_t segment_bytes) : state_(new State) {
  CHECK(segment_bytes > 0, "CachingAllocator: segment size must be positive");
  state_->segment_bytes = round_up(segment_bytes, kPage);
}

CachingAllocator::~CachingAllocator() {
  for (size_t i = 0; i < state_->segments.size(); ++i) {
    for (Block* b = state_->heads[i]; b;) {
      Block* next = b->next;
      delete b;
      b = next;
    }
    Segment* seg = state_->segments[i];
    ATTEND_UNPOISON(seg->base, seg->touched);
    munmap(seg->base, seg->size);
    delete seg;
  }
  delete state_;
}

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  return round_up(bytes, kAlignment);
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.allocations++;
  Block key{nullptr, size, nullptr};
  Block* b = nullptr;
  if (auto it = s.free.lower_bound(&key); it != s.free.end()) {  // best fit: smallest size, then lowest address
    b = *it;
    s.free.erase(it);
  } else {
    const size_t own = round_up(size, kOwnSegmentRound);
    b = s.map_segment(std::max(s.segment_bytes, own));
    if (!b) {
      s.return_free_memory();
      b = s.map_segment(std::max(s.segment_bytes, own));
    }
    if (!b && own < s.segment_bytes) b = s.map_segment(own);
    CHECK(b != nullptr, "out of memory: no segment of {} bytes for a request of {} bytes ({} bytes in use)", own,
          bytes, s.stats.bytes_in_use);
  }
  if (b->size > size) {  // split: the rest stays free
    auto* rest = new Block{b->ptr + size, b->size - size, b->segment};
    rest->prev = b;
    rest->next = b->next;
    if (b->next) b->next->prev = rest;
    b->next = rest;
    b->size = size;
    s.free.insert(rest);
  }
  b->free = false;
  s.live.emplace(b->ptr, b);
  Segment* seg = b->segment;
  const size_t end = size_t(b->ptr - seg->base) + size;
  if (end <= seg->high_water) {
    s.stats.cache_hits++;
  } else {
    s.high_water += int64_t(end - seg->high_water);
    seg->high_water = end;
    const size_t guard = std::min(kGuard, seg->size - end);
    ATTEND_POISON(seg->base + end, guard);
    seg->touched = std::max(seg->touched, end + guard);
  }
  ATTEND_UNPOISON(b->ptr, bytes);
  ATTEND_POISON(b->ptr + bytes, size - bytes);
  s.stats.bytes_in_use += int64_t(size);
  s.stats.peak_bytes_in_use = std::max(s.stats.peak_bytes_in_use, s.stats.bytes_in_use);
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
  ATTEND_POISON(b->ptr, b->size);
  b->free = true;
  if (b->next && b->next->free) s.absorb_next(b);
  if (b->prev && b->prev->free) {
    b = b->prev;
    s.free.erase(b);  // its key (size) changes
    s.absorb_next(b);
  }
  s.free.insert(b);
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  AllocatorStats out = state_->stats;
  out.bytes_cached = state_->high_water - out.bytes_in_use;
  return out;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->return_free_memory();
}

// Never destroyed: tensors held by static objects may be released during exit.
CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator;
  return *instance;
}

}  // namespace attend
