// The allocator's pool of large blocks: freed memory serves later requests of other
// sizes, and in-use bytes are counted per size class.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/allocator.h"

using namespace attend;

TEST(Allocator, FreedLargeBlockServesASmallerRequestOfAnotherClass) {
  CachingAllocator& a = allocator();
  const size_t big = size_t(24) << 20, smaller = size_t(10) << 20;  // two size classes, both pooled
  ASSERT_NE(CachingAllocator::round_size(big), CachingAllocator::round_size(smaller));
  void* first = a.allocate(big);
  void* guard = a.allocate(size_t(2) << 20);  // keeps the freed block off the heap's end
  a.release(first, big);
  void* second = a.allocate(smaller);
  const auto distance = std::abs(reinterpret_cast<intptr_t>(second) - reinterpret_cast<intptr_t>(first));
  EXPECT_LT(distance, 4096) << "the 10 MiB request did not reuse the freed 24 MiB block";
  a.release(second, smaller);
  a.release(guard, size_t(2) << 20);
}

TEST(Allocator, CountsPooledBlocksInUseByTheirClass) {
  CachingAllocator& a = allocator();
  const size_t bytes = (size_t(3) << 20) + 5;
  const int64_t before = a.stats().bytes_in_use;
  void* p = a.allocate(bytes);
  EXPECT_EQ(a.stats().bytes_in_use - before, int64_t(CachingAllocator::round_size(bytes)));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CachingAllocator::kAlignment, 0u);
  a.release(p, bytes);
  EXPECT_EQ(a.stats().bytes_in_use, before);
}

TEST(Allocator, SmallBlocksAreReusedFromTheirClassList) {
  CachingAllocator& a = allocator();
  void* p = a.allocate(1000);
  a.release(p, 1000);
  const int64_t hits = a.stats().cache_hits;
  void* q = a.allocate(1000);
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().cache_hits, hits + 1);
  a.release(q, 1000);
}
