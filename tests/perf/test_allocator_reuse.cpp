// The caching allocator serves a request from a larger cached class (up to twice its
// size) and gives the block back to its own class.
#include <gtest/gtest.h>

#include "core/allocator.h"

using namespace attend;

TEST(AllocatorReuse, ASmallerRequestTakesACachedLargerBlock) {
  CachingAllocator& a = allocator();
  a.empty_cache();
  void* big = a.allocate(1 << 20);
  a.release(big, 1 << 20);
  const int64_t hits = a.stats().cache_hits;
  void* smaller = a.allocate(700 * 1024);  // another class, more than half the block
  EXPECT_EQ(smaller, big);
  EXPECT_EQ(a.stats().cache_hits, hits + 1);
  a.release(smaller, 700 * 1024);
  void* again = a.allocate(1 << 20);  // the block went back to its own class
  EXPECT_EQ(again, big);
  a.release(again, 1 << 20);
}

TEST(AllocatorReuse, ARequestUnderHalfTheBlockGetsItsOwn) {
  CachingAllocator& a = allocator();
  a.empty_cache();
  void* big = a.allocate(1 << 20);
  a.release(big, 1 << 20);
  const int64_t hits = a.stats().cache_hits;
  void* small = a.allocate(300 * 1024);
  EXPECT_EQ(a.stats().cache_hits, hits);
  EXPECT_NE(small, big);
  a.release(small, 300 * 1024);
  a.empty_cache();
}
