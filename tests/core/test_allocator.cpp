// The caching allocator (best fit, split, coalesce), each test on an allocator of its
// own, with 16 MiB segments, so that the process allocator's state does not matter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/error_of.h"
#include "core/allocator.h"

using namespace attend;

namespace {

constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kSegment = 16 * kMiB;  // the tests' allocators map segments of this size

char* allocate(CachingAllocator& a, size_t bytes) { return static_cast<char*>(a.allocate(bytes)); }

}  // namespace

TEST(CachingAllocator, RoundSizeIsTheRequestRoundedUpToTheAlignment) {
  EXPECT_EQ(CachingAllocator::round_size(0), 64u);
  EXPECT_EQ(CachingAllocator::round_size(1), 64u);
  EXPECT_EQ(CachingAllocator::round_size(64), 64u);
  EXPECT_EQ(CachingAllocator::round_size(65), 128u);
  EXPECT_EQ(CachingAllocator::round_size(12345678), 12345728u);
}

TEST(CachingAllocator, ReusesAReleasedBlock) {
  CachingAllocator a(kSegment);
  char* p = allocate(a, 1000);
  a.release(p, 1000);
  char* q = allocate(a, 1000);
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().allocations, 2);
  EXPECT_EQ(a.stats().cache_hits, 1);
  EXPECT_EQ(a.stats().segments, 1);
}

TEST(CachingAllocator, SplitsAFreedBlockForTwoSmallerRequests) {
  CachingAllocator a(kSegment);
  char* big = allocate(a, 12 * kMiB);
  a.release(big, 12 * kMiB);
  char* first = allocate(a, 6 * kMiB);
  char* second = allocate(a, 6 * kMiB);
  EXPECT_EQ(first, big);
  EXPECT_EQ(second, big + 6 * kMiB);
  EXPECT_EQ(a.stats().segments, 1);
  EXPECT_EQ(a.stats().cache_hits, 2);
  EXPECT_EQ(a.stats().bytes_cached, 0);
}

TEST(CachingAllocator, MergesAdjacentFreedBlocksForOneRequestOfTheirSize) {
  CachingAllocator a(kSegment);
  char* x = allocate(a, 6 * kMiB);  // x, y, z fill one segment
  char* y = allocate(a, 6 * kMiB);
  char* z = allocate(a, 4 * kMiB);
  ASSERT_EQ(y, x + 6 * kMiB);
  ASSERT_EQ(z, y + 6 * kMiB);
  a.release(y, 6 * kMiB);
  a.release(x, 6 * kMiB);  // merges with its free next neighbour
  char* xy = allocate(a, 12 * kMiB);
  EXPECT_EQ(xy, x);
  a.release(z, 4 * kMiB);
  a.release(xy, 12 * kMiB);  // the whole segment again
  EXPECT_EQ(allocate(a, kSegment), x);
  EXPECT_EQ(a.stats().segments, 1);
  EXPECT_EQ(a.stats().cache_hits, 2);
}

TEST(CachingAllocator, MergesWithBothNeighbours) {
  CachingAllocator a(kSegment);
  char* x = allocate(a, 4 * kMiB);
  char* y = allocate(a, 4 * kMiB);
  char* z = allocate(a, 4 * kMiB);
  a.release(x, 4 * kMiB);
  a.release(z, 4 * kMiB);  // merges with the segment's free tail
  a.release(y, 4 * kMiB);  // joins both
  EXPECT_EQ(allocate(a, kSegment), x);
}

TEST(CachingAllocator, TakesTheSmallestFreeBlockThatFits) {
  CachingAllocator a(kSegment);
  char* four = allocate(a, 4 * kMiB);
  char* keep1 = allocate(a, 2 * kMiB);
  char* three = allocate(a, 3 * kMiB);
  char* keep2 = allocate(a, 2 * kMiB);  // the free tail has 5 MiB
  a.release(four, 4 * kMiB);
  a.release(three, 3 * kMiB);
  EXPECT_EQ(allocate(a, 3 * kMiB), three);
  EXPECT_EQ(allocate(a, 3 * kMiB), four);
  EXPECT_EQ(allocate(a, 3 * kMiB), keep2 + 2 * kMiB);
  (void)keep1;
}

TEST(CachingAllocator, MapsAnotherSegmentWhenNoFreeBlockFits) {
  CachingAllocator a(kSegment);
  char* x = allocate(a, 10 * kMiB);
  char* y = allocate(a, 10 * kMiB);
  EXPECT_TRUE(y < x || y >= x + kSegment);
  EXPECT_EQ(a.stats().segments, 2);
  EXPECT_EQ(a.stats().bytes_reserved, int64_t(2 * kSegment));
}

TEST(CachingAllocator, ARequestLargerThanASegmentGetsOneOfItsOwn) {
  CachingAllocator a(kSegment);
  (void)allocate(a, 40 * kMiB + 1);
  EXPECT_EQ(a.stats().segments, 1);
  EXPECT_EQ(a.stats().bytes_reserved, int64_t(42 * kMiB));  // rounded up to 2 MiB
}

TEST(CachingAllocator, StatsCountBytesInUseAndHeldBelowTheHighWaterMark) {
  CachingAllocator a(kSegment);
  const std::vector<size_t> sizes = {1, 100, 5000, 300000, 2 * kMiB + 1};
  std::vector<char*> ptrs;
  int64_t total = 0;
  for (size_t n : sizes) {
    ptrs.push_back(allocate(a, n));
    total += int64_t(CachingAllocator::round_size(n));
  }
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.bytes_in_use, total);
  EXPECT_EQ(s.peak_bytes_in_use, total);
  EXPECT_EQ(s.bytes_cached, 0);  // handed out back to back from a new segment
  EXPECT_EQ(s.cache_hits, 0);
  a.release(ptrs[2], sizes[2]);
  s = a.stats();
  EXPECT_EQ(s.bytes_in_use, total - 5056);
  EXPECT_EQ(s.bytes_cached, 5056);
  for (size_t i : {0, 1, 3, 4}) a.release(ptrs[i], sizes[i]);
  s = a.stats();
  EXPECT_EQ(s.bytes_in_use, 0);
  EXPECT_EQ(s.bytes_cached, total);
  EXPECT_EQ(s.peak_bytes_in_use, total);
  EXPECT_EQ(s.bytes_reserved, int64_t(kSegment));
  (void)allocate(a, 1000);  // below the high-water mark: a hit
  (void)allocate(a, kSegment - 1000);  // beyond it: not
  s = a.stats();
  EXPECT_EQ(s.allocations, int64_t(sizes.size()) + 2);
  EXPECT_EQ(s.cache_hits, 1);
}

TEST(CachingAllocator, BlocksAre64ByteAligned) {
  CachingAllocator a(kSegment);
  for (size_t n : {1ul, 3ul, 65ul, 1000ul, 4097ul, 100001ul, 1048577ul, 3000001ul, 12345678ul}) {
    char* p = allocate(a, n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CachingAllocator::kAlignment, 0u) << n;
    std::memset(p, 1, n);  // writable over its whole size
  }
}

TEST(CachingAllocator, EmptyCacheUnmapsFreeSegmentsAndReturnsFreeTails) {
  CachingAllocator a(kSegment);
  char* kept = allocate(a, 3 * kMiB);
  char* tail = allocate(a, 5 * kMiB);
  char* own = allocate(a, 30 * kMiB);  // a segment of its own
  std::memset(tail, 1, 5 * kMiB);
  a.release(tail, 5 * kMiB);
  a.release(own, 30 * kMiB);
  EXPECT_EQ(a.stats().segments, 2);
  EXPECT_EQ(a.stats().bytes_cached, int64_t(35 * kMiB));
  a.empty_cache();
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.segments, 1);
  EXPECT_EQ(s.bytes_reserved, int64_t(kSegment));
  EXPECT_EQ(s.bytes_in_use, int64_t(3 * kMiB));
  EXPECT_EQ(s.bytes_cached, 0);
  std::memset(kept, 7, 3 * kMiB);  // still mapped
  char* again = allocate(a, 5 * kMiB);
  EXPECT_EQ(again, tail);
  EXPECT_EQ(again[0], 0);  // the tail's pages went back to the system: fresh zero pages
  EXPECT_EQ(a.stats().cache_hits, s.cache_hits);  // memory handed out anew, not a hit
  a.release(again, 5 * kMiB);
  a.release(kept, 3 * kMiB);
  a.empty_cache();
  EXPECT_EQ(a.stats().segments, 0);
  EXPECT_EQ(a.stats().bytes_reserved, 0);
  EXPECT_EQ(a.stats().bytes_cached, 0);
}

TEST(CachingAllocator, ReleaseOfAPointerItDidNotGiveOutFails) {
  CachingAllocator a(kSegment);
  char* p = allocate(a, 256);
  std::string message = error_of([&] { a.release(p + 64, 192); });
  EXPECT_NE(message.find("did not give out"), std::string::npos) << message;
  a.release(p, 256);
  message = error_of([&] { a.release(p, 256); });
  EXPECT_NE(message.find("released already"), std::string::npos) << message;
}

TEST(CachingAllocator, ReleaseWithAnotherSizeFails) {
  CachingAllocator a(kSegment);
  char* p = allocate(a, 256);
  std::string message = error_of([&] { a.release(p, 1024); });
  EXPECT_NE(message.find("1024 bytes, but it was allocated with 256"), std::string::npos) << message;
  a.release(p, 256);
}

TEST(CachingAllocator, ManyThreadsAllocateAndReleaseConcurrently) {
  CachingAllocator a(8 * kMiB);  // small segments: the threads need several
  constexpr int kThreads = 4, kRounds = 300;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&a, &failures, t] {
      std::mt19937 rng(uint32_t(t) + 1);
      std::vector<std::pair<unsigned char*, size_t>> held;
      for (int round = 0; round < kRounds; ++round) {
        const size_t n = rng() % 4 == 0 ? kMiB + rng() % (3 * kMiB) : 1 + rng() % 20000;
        auto* p = static_cast<unsigned char*>(a.allocate(n));
        std::memset(p, t + 1, n);
        held.emplace_back(p, n);
        if (held.size() > 8 || rng() % 2 == 0) {
          auto [q, m] = held[rng() % held.size()];
          // Another thread writing into this block would show here.
          if (q[0] != t + 1 || q[m / 2] != t + 1 || q[m - 1] != t + 1) failures[t]++;
          a.release(q, m);
          held.erase(std::find(held.begin(), held.end(), std::make_pair(q, m)));
        }
      }
      for (auto [q, m] : held) a.release(q, m);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.allocations, kThreads * kRounds);
  EXPECT_EQ(s.bytes_in_use, 0);
  EXPECT_GT(s.segments, 1);
  a.empty_cache();  // everything merged back into whole segments
  EXPECT_EQ(a.stats().segments, 0);
}

// Sanitizer builds (scripts/test.sh's second half) poison what no live tensor owns.
TEST(CachingAllocatorDeathTest, UnderAddressSanitizerReadingPastABlockOrAfterItsReleaseIsReported) {
#if defined(__SANITIZE_ADDRESS__)
  CachingAllocator a(kSegment);
  char* p = allocate(a, 100);
  p[99] = 1;  // the last byte asked for
  EXPECT_DEATH({ [[maybe_unused]] volatile char c = p[100]; }, "use-after-poison");
  a.release(p, 100);
  EXPECT_DEATH({ [[maybe_unused]] volatile char c = p[0]; }, "use-after-poison");
#else
  GTEST_SKIP() << "needs an AddressSanitizer build (ATTEND_SANITIZE=ON, as scripts/test.sh makes)";
#endif
}
