// Tensor storage, views and the caching allocator.
#include <gtest/gtest.h>

#include "core/allocator.h"
#include "core/ops.h"

using namespace attend;

TEST(Tensor, FromVectorHasRowMajorStrides) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_EQ(x.strides(), (Shape{3, 1}));
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_EQ(x.numel(), 6);
  EXPECT_EQ(x.str(), "f32[2, 3]");
}

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000, 12345}) {
    Tensor x = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data()) % 64, 0u) << n;
  }
}

TEST(Tensor, TransposeIsAViewWithSwappedStrides) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = x.transpose(0, 1);
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.strides(), (Shape{1, 3}));
  EXPECT_FALSE(y.is_contiguous());
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  Tensor z = y.contiguous();
  EXPECT_FALSE(z.shares_storage(x));
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(z.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Tensor, PermuteMovesDims) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[size_t(i)] = float(i);
  Tensor x = Tensor::from_vector(v, {2, 3, 4});
  Tensor y = x.permute({2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(y.strides(), (Shape{1, 12, 4}));
  // y[i][j][k] = x[j][k][i]
  std::vector<float> got = y.to_vector();
  EXPECT_EQ(got[size_t(1 * 6 + 1 * 3 + 2)], v[size_t(1 * 12 + 2 * 4 + 1)]);
}

TEST(Tensor, SliceSharesStorageWithOffset) {
  Tensor x = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  Tensor rows = x.slice(0, 1, 3);
  EXPECT_TRUE(rows.shares_storage(x));
  EXPECT_EQ(rows.offset(), 2);
  EXPECT_EQ(rows.to_vector(), (std::vector<float>{2, 3, 4, 5}));
  Tensor col = x.slice(1, 1, 2);
  EXPECT_EQ(col.to_vector(), (std::vector<float>{1, 3, 5, 7}));
  EXPECT_EQ(x.slice(0, -1, 4).to_vector(), (std::vector<float>{6, 7}));
}

TEST(Tensor, ExpandUsesZeroStrides) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3});
  Tensor y = x.expand({2, 3});
  EXPECT_EQ(y.strides(), (Shape{0, 1}));
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  Tensor c = Tensor::from_vector({1, 2}, {2, 1}).expand({2, 3});
  EXPECT_EQ(c.to_vector(), (std::vector<float>{1, 1, 1, 2, 2, 2}));
}

TEST(Tensor, ReshapeOfContiguousIsAView) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = x.reshape({3, -1});
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_TRUE(y.shares_storage(x));
  Tensor t = x.transpose(0, 1).reshape({6});  // not viewable: copies
  EXPECT_FALSE(t.shares_storage(x));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), (Shape{2, 3}));
}

TEST(Tensor, BadViewsThrowWithShapes) {
  Tensor x = Tensor::zeros({2, 3});
  try {
    x.reshape({4, 2});
    FAIL() << "reshape should have thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(x.slice(0, 1, 5), Error);
  EXPECT_THROW(x.transpose(0, 2), Error);
  EXPECT_THROW(x.permute({0, 0}), Error);
  EXPECT_THROW(x.expand({2, 4}), Error);
  EXPECT_THROW(x.squeeze(0), Error);
  EXPECT_THROW(Tensor::from_vector({1, 2}, {3}), Error);
}

TEST(Tensor, WrongDtypeAccessThrows) {
  Tensor ids = Tensor::from_ids({1, 2, 3}, {3});
  try {
    ids.data();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("i32"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ids.to_ids(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_THROW(ids.data_as<int64_t>(), Error);
}

TEST(Allocator, ReusesFreedBlocksOfTheSameSize) {
  (void)Tensor::empty({128, 256});  // warm the size class
  AllocatorStats before = allocator().stats();
  for (int step = 0; step < 10; ++step) {
    Tensor a = Tensor::empty({128, 256});
    Tensor b = Tensor::empty({128, 256});
  }
  AllocatorStats after = allocator().stats();
  EXPECT_EQ(after.allocations - before.allocations, 20);
  EXPECT_GE(after.cache_hits - before.cache_hits, 19);
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(from_bf16(to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(from_bf16(to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_NEAR(from_bf16(to_bf16(3.14159f)), 3.14159f, 3.14159f / 128);
}

// GCC 12.2 with AVX-512 turns such initializers into a broadcast of the first value
// unless -fno-tree-slp-vectorize is set (root CMakeLists.txt); this guards the flag.
TEST(Toolchain, ConstantInitializersKeepEveryValue) {
  std::vector<int32_t> ids{7, 7, 7, 7, 7, 7, 0, 0};
  EXPECT_EQ(ids[6], 0);
  EXPECT_EQ(ids[7], 0);
  Tensor t = Tensor::from_vector({2, 2, 2, 0}, {4});
  EXPECT_EQ(t.to_vector()[3], 0.0f);
}
