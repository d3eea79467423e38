// bf16_activation(): one shared bf16 copy of an f32 tensor while any caller holds it.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error_of.h"
#include "core/allocator.h"
#include "core/bf16_weights.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"
#include "core/rng.h"

using namespace attend;

namespace {
const float kOff = 1.0f + std::ldexp(1.0f, -10);  // not a bf16: rounds to 1

int64_t allocations() { return allocator().stats().allocations; }

Tensor random(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape);
  fill_uniform(t.data(), t.numel(), -2.0f, 2.0f, seed, 0);
  return t;
}

// The two layer norms of a (5,48) input that needs gradients: layer_norm and add_layer_norm
// (with dropout), gamma and beta given.
std::vector<Tensor> layer_norms() {
  Tensor x = random({5, 48}, 1).set_requires_grad(), y = random({5, 48}, 2).set_requires_grad();
  Tensor gamma = random({48}, 3), beta = random({48}, 4);
  Generator gen(7);
  return {layer_norm(x, gamma, beta), add_layer_norm(x, y, gamma, beta, 1e-5f, 0.1f, &gen)};
}
}  // namespace

TEST(Bf16Activation, RoundsEachElementToNearestEven) {
  Tensor x = Tensor::from_vector({kOff, -3.0f, 1.0f + 3 * std::ldexp(1.0f, -8), 0.0f}, {2, 2});
  Tensor r = bf16_activation(x);
  ASSERT_EQ(r.dtype(), DType::bf16);
  ASSERT_EQ(r.shape(), x.shape());
  const bf16* p = r.data_as<bf16>();
  EXPECT_EQ(from_bf16(p[0]), 1.0f);
  EXPECT_EQ(from_bf16(p[1]), -3.0f);
  EXPECT_EQ(from_bf16(p[2]), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(from_bf16(p[3]), 0.0f);
}

TEST(Bf16Activation, CallersShareOneCopyWhileAnyHoldsIt) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor first = bf16_activation(x);
  const int64_t before = allocations();
  Tensor second = bf16_activation(x);
  EXPECT_EQ(allocations(), before);  // no new copy
  EXPECT_EQ(second.data_as<bf16>(), first.data_as<bf16>());
}

TEST(Bf16Activation, RoundsAgainOnceNoCallerHoldsTheCopy) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  (void)bf16_activation(x);  // dropped at once
  const int64_t before = allocations();
  Tensor again = bf16_activation(x);
  EXPECT_EQ(allocations(), before + 1);
  EXPECT_EQ(from_bf16(again.data_as<bf16>()[3]), 4.0f);
}

TEST(Bf16Activation, ViewsAtOtherOffsetsGetTheirOwnCopies) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor top = bf16_activation(x.slice(0, 0, 1));
  Tensor bottom = bf16_activation(x.slice(0, 1, 2));
  EXPECT_EQ(from_bf16(top.data_as<bf16>()[0]), 1.0f);
  EXPECT_EQ(from_bf16(bottom.data_as<bf16>()[0]), 3.0f);
}

TEST(Bf16Activation, ACopyOutlivesItsSource) {
  Tensor held;
  {
    Tensor gone = Tensor::from_vector({5, 6, 7, 8}, {2, 2});
    held = bf16_activation(gone);
  }
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(from_bf16(bf16_activation(x).data_as<bf16>()[0]), 1.0f);
  EXPECT_EQ(from_bf16(held.data_as<bf16>()[0]), 5.0f);
}

TEST(Bf16Activation, RejectsTensorsThatAreNotContiguousF32) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  std::string message = error_of([&] { bf16_activation(x.transpose(0, 1)); });
  EXPECT_NE(message.find("bf16_activation: need a contiguous f32 tensor"), std::string::npos) << message;
  message = error_of([&] { bf16_activation(bf16_activation(x)); });
  EXPECT_NE(message.find("bf16_activation: need a contiguous f32 tensor"), std::string::npos) << message;
}

TEST(Bf16Activation, LayerNormsWriteTheCopyTheirProductsTakeInBf16Training) {
  GemmPrecisionScope precision(GemmPrecision::bf16);
  for (const Tensor& out : layer_norms()) {
    const int64_t before = allocations();
    const Tensor copy = bf16_activation(out);
    EXPECT_EQ(allocations(), before);  // written by the layer norm's kernel, not rounded now
    ASSERT_EQ(copy.shape(), out.shape());
    for (int64_t i = 0; i < out.numel(); ++i)
      ASSERT_EQ(copy.data_as<bf16>()[i].bits, to_bf16(out.data()[i]).bits) << i;
  }
}

TEST(Bf16Activation, LayerNormsWriteNoCopyInFp32OrWithoutGradients) {
  for (const Tensor& out : layer_norms()) {  // fp32 products: no copy made
    const int64_t before = allocations();
    (void)bf16_activation(out);
    EXPECT_EQ(allocations(), before + 1);
  }
  GemmPrecisionScope precision(GemmPrecision::bf16);
  NoGradGuard no_grad;
  for (const Tensor& out : layer_norms()) {
    const int64_t before = allocations();
    (void)bf16_activation(out);
    EXPECT_EQ(allocations(), before + 1);
  }
}

TEST(Bf16Activation, SharedCopyMustMatchItsTensor) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  std::string message = error_of([&] { share_bf16_activation(x, Tensor::empty({4}, DType::bf16)); });
  EXPECT_NE(message.find("share_bf16_activation: need a contiguous bf16 copy of shape [2, 2]"), std::string::npos)
      << message;
  message = error_of([&] { share_bf16_activation(x, x); });
  EXPECT_NE(message.find("share_bf16_activation: need a contiguous bf16 copy"), std::string::npos) << message;
}
