// The caching allocator (best fit, split, coalesce), each test on an allocator of its
// own so that the process allocator's state does not matter.
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

// Large requests below 10 MiB share 20 MiB segments; larger ones get their own.
constexpr size_t kSharedSegment = 20 * kMiB;

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
  CachingAllocator a;
  char* p = allocate(a, 1000);
  a.release(p, 1000);
  char* q = allocate(a, 1000);
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().allocations, 2);
  EXPECT_EQ(a.stats().cache_hits, 1);
  EXPECT_EQ(a.stats().segments, 1);
}

TEST(CachingAllocator, SplitsAFreedBlockForTwoSmallerRequests) {
  CachingAllocator a;
  char* big = allocate(a, 12 * kMiB);  // a segment of its own, exactly 12 MiB
  EXPECT_EQ(a.stats().bytes_reserved, int64_t(12 * kMiB));
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
  CachingAllocator a;
  char* x = allocate(a, 6 * kMiB);  // x, y, z fill one shared segment
  char* y = allocate(a, 6 * kMiB);
  char* z = allocate(a, 8 * kMiB);
  ASSERT_EQ(y, x + 6 * kMiB);
  ASSERT_EQ(z, y + 6 * kMiB);
  EXPECT_EQ(a.stats().segments, 1);
  a.release(y, 6 * kMiB);
  a.release(x, 6 * kMiB);  // merges with its free next neighbour
  char* xy = allocate(a, 12 * kMiB);
  EXPECT_EQ(xy, x);
  EXPECT_EQ(a.stats().segments, 1);
  a.release(z, 8 * kMiB);
  a.release(xy, 12 * kMiB);  // merges with its free next neighbour: the whole segment
  char* all = allocate(a, kSharedSegment);
  EXPECT_EQ(all, x);
  EXPECT_EQ(a.stats().segments, 1);
}

TEST(CachingAllocator, MergesWithBothNeighbours) {
  CachingAllocator a;
  char* x = allocate(a, 4 * kMiB);
  char* y = allocate(a, 4 * kMiB);
  char* z = allocate(a, 4 * kMiB);
  a.release(x, 4 * kMiB);
  a.release(z, 4 * kMiB);  // merges with the segment's free tail
  a.release(y, 4 * kMiB);  // joins both
  a.empty_cache();         // the segment is wholly free again, so it goes
  EXPECT_EQ(a.stats().segments, 0);
  EXPECT_EQ(a.stats().bytes_reserved, 0);
}

TEST(CachingAllocator, TakesTheSmallestFreeBlockThatFits) {
  CachingAllocator a;
  char* four = allocate(a, 4 * kMiB);
  char* keep1 = allocate(a, 2 * kMiB);
  char* three = allocate(a, 3 * kMiB);
  char* keep2 = allocate(a, 2 * kMiB);
  a.release(four, 4 * kMiB);
  a.release(three, 3 * kMiB);
  EXPECT_EQ(allocate(a, 3 * kMiB), three);
  EXPECT_EQ(allocate(a, 3 * kMiB), four);
  (void)keep1;
  (void)keep2;
}

TEST(CachingAllocator, SmallRequestsDoNotCutUpLargeBlocks) {
  CachingAllocator a;
  char* big = allocate(a, 12 * kMiB);
  a.release(big, 12 * kMiB);
  char* small = allocate(a, 4096);
  EXPECT_TRUE(small < big || small >= big + 12 * kMiB);
  EXPECT_EQ(a.stats().segments, 2);  // the large one stays whole
  EXPECT_EQ(allocate(a, 12 * kMiB), big);
}

TEST(CachingAllocator, StatsAddUp) {
  CachingAllocator a;
  const std::vector<size_t> sizes = {1, 100, 5000, 300000, 2 * kMiB + 1, 29 * kMiB + 1};
  std::vector<char*> ptrs;
  int64_t expected = 0;
  for (size_t n : sizes) {
    ptrs.push_back(allocate(a, n));
    expected += int64_t(CachingAllocator::round_size(n));
  }
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.bytes_in_use, expected);
  EXPECT_EQ(s.peak_bytes_in_use, expected);
  EXPECT_EQ(s.bytes_in_use + s.bytes_cached, s.bytes_reserved);
  // 2 MiB small segment, 20 MiB shared segment, 30 MiB own segment (rounded up to 2 MiB)
  EXPECT_EQ(s.segments, 3);
  EXPECT_EQ(s.bytes_reserved, int64_t((2 + 20 + 30) * kMiB));
  for (size_t i = 0; i < sizes.size(); ++i) a.release(ptrs[i], sizes[i]);
  s = a.stats();
  EXPECT_EQ(s.bytes_in_use, 0);
  EXPECT_EQ(s.peak_bytes_in_use, expected);
  EXPECT_EQ(s.bytes_cached, s.bytes_reserved);
  EXPECT_EQ(s.allocations, int64_t(sizes.size()));
  EXPECT_EQ(s.cache_hits, 3);  // 100, 5000 and 300000 from the first small segment
}

TEST(CachingAllocator, BlocksAre64ByteAligned) {
  CachingAllocator a;
  for (size_t n : {1ul, 3ul, 65ul, 1000ul, 4097ul, 100001ul, 1048577ul, 3000001ul, 12345678ul}) {
    char* p = allocate(a, n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CachingAllocator::kAlignment, 0u) << n;
    std::memset(p, 1, n);  // writable over its whole size
  }
}

TEST(CachingAllocator, EmptyCacheReturnsOnlyWhollyFreeSegments) {
  CachingAllocator a;
  char* kept = allocate(a, 3 * kMiB);
  char* freed = allocate(a, 18 * kMiB);  // more than the shared segment has left: its own
  a.release(freed, 18 * kMiB);
  EXPECT_EQ(a.stats().segments, 2);
  a.empty_cache();
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.segments, 1);
  EXPECT_EQ(s.bytes_reserved, int64_t(kSharedSegment));
  EXPECT_EQ(s.bytes_in_use, int64_t(3 * kMiB));
  EXPECT_EQ(s.bytes_cached, int64_t(kSharedSegment - 3 * kMiB));
  std::memset(kept, 7, 3 * kMiB);  // still mapped
  a.release(kept, 3 * kMiB);
  a.empty_cache();
  EXPECT_EQ(a.stats().segments, 0);
  EXPECT_EQ(a.stats().bytes_reserved, 0);
}

TEST(CachingAllocator, ReleaseOfAPointerItDidNotGiveOutFails) {
  CachingAllocator a;
  char* p = allocate(a, 256);
  std::string message = error_of([&] { a.release(p + 64, 192); });
  EXPECT_NE(message.find("did not give out"), std::string::npos) << message;
  a.release(p, 256);
  message = error_of([&] { a.release(p, 256); });
  EXPECT_NE(message.find("released already"), std::string::npos) << message;
}

TEST(CachingAllocator, ReleaseWithAnotherSizeFails) {
  CachingAllocator a;
  char* p = allocate(a, 256);
  std::string message = error_of([&] { a.release(p, 1024); });
  EXPECT_NE(message.find("1024 bytes, but it was allocated with 256"), std::string::npos) << message;
  a.release(p, 256);
}

TEST(CachingAllocator, ManyThreadsAllocateAndReleaseConcurrently) {
  CachingAllocator a;
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
  EXPECT_EQ(s.bytes_cached, s.bytes_reserved);
  a.empty_cache();  // everything merged back into whole segments
  EXPECT_EQ(a.stats().segments, 0);
}
