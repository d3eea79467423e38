// The backward of permute and slice on tensors large enough for the parallel path:
// the gradient lands where the forward view took each element from.
#include <gtest/gtest.h>

#include <numeric>

#include "core/ops.h"

using namespace attend;

namespace {

Tensor arange(int64_t n, const Shape& shape) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST(ViewBackward, PermuteSendsEachGradientToItsSourceElement) {
  const int64_t A = 8, B = 64, C = 96;  // 49152 elements: more than one thread's share
  Tensor x = Tensor::zeros({A, B, C}).set_requires_grad(true);
  Tensor y = x.permute({2, 0, 1});  // (C, A, B)
  y.backward(arange(A * B * C, {C, A, B}));
  const std::vector<float> dx = x.grad().to_vector();
  for (int64_t i = 0; i < A; ++i)
    for (int64_t j = 0; j < B; ++j)
      for (int64_t k = 0; k < C; ++k)
        ASSERT_EQ(dx[size_t((i * B + j) * C + k)], float((k * A + i) * B + j)) << i << " " << j << " " << k;
}

TEST(ViewBackward, PermuteAccumulatesIntoAnExistingGradient) {
  Tensor x = Tensor::zeros({2, 3}).set_requires_grad(true);
  Tensor y = x.transpose(0, 1) + x.transpose(0, 1);  // both paths reach x
  y.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 6, 10, 4, 8, 12}));
}

TEST(ViewBackward, SliceOfALargeTensorFillsOnlyItsRange) {
  const int64_t R = 300, C = 200;
  Tensor x = Tensor::zeros({R, C}).set_requires_grad(true);
  Tensor y = x.slice(1, 50, 150);  // (R, 100), strided rows
  y.backward(arange(R * 100, {R, 100}));
  const std::vector<float> dx = x.grad().to_vector();
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c)
      ASSERT_EQ(dx[size_t(r * C + c)], c >= 50 && c < 150 ? float(r * 100 + c - 50) : 0.0f) << r << " " << c;
}
