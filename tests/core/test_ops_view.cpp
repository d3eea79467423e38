// Gradient checks of the view ops (reshape, permute, transpose, slice, expand,
// unsqueeze, squeeze, contiguous, clone): each sends the gradient back to the right
// elements of the base tensor.
#include <gtest/gtest.h>

#include "common/gradcheck.h"
#include "core/ops.h"

using namespace attend;
using test::gradcheck;
using test::random_tensor;

TEST(ViewGrad, Reshape) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].reshape({3, -1}); },
                        {random_tensor({2, 6}, -1, 1, 1)}));
  // Of a non-contiguous view: goes through a copy.
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].transpose(0, 1).reshape({12}); },
                        {random_tensor({3, 4}, -1, 1, 2)}));
}

// reshape's backward hands on a gradient nothing else holds (no copy); a held one (the
// caller's seed) stays as it was, and later contributions still add up.
TEST(ViewGrad, ReshapeBackwardHandsOnAnUnsharedGradientAndLeavesAHeldOneAlone) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad();
  Tensor z = x * 2.0f;
  (sum(reshape(z, {3, 2}) * 3.0f) + sum(z)).backward();  // dz = 3 (through reshape) + 1
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(6, 8.0f));

  Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad();
  Tensor seed = Tensor::from_vector({1, 1, 1, 1, 1, 1}, {6});
  reshape(w * 2.0f, {6}).backward(seed);
  EXPECT_EQ(seed.to_vector(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(w.grad().to_vector(), std::vector<float>(6, 2.0f));
}

TEST(ViewGrad, PermuteAndTranspose) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].permute({2, 0, 1}); },
                        {random_tensor({2, 3, 4}, -1, 1, 3)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].transpose(-1, 0); },
                        {random_tensor({2, 3, 4}, -1, 1, 4)}));
}

TEST(ViewGrad, SliceOfEachDim) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].slice(0, 1, 3); },
                        {random_tensor({4, 3}, -1, 1, 5)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].slice(1, 0, 2).slice(0, -2, 4); },
                        {random_tensor({4, 3}, -1, 1, 6)}));
}

TEST(ViewGrad, ExpandSumsOverRepeats) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].expand({2, 3, 4}); },
                        {random_tensor({3, 1}, -1, 1, 7)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].expand({5, 4}); },
                        {random_tensor({4}, -1, 1, 8)}));
}

TEST(ViewGrad, UnsqueezeSqueeze) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].unsqueeze(1); },
                        {random_tensor({2, 3}, -1, 1, 9)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].squeeze(0); },
                        {random_tensor({1, 3}, -1, 1, 10)}));
}

TEST(ViewGrad, ContiguousAndClone) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].transpose(0, 1).contiguous(); },
                        {random_tensor({2, 3}, -1, 1, 11)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0].clone(); },
                        {random_tensor({2, 3}, -1, 1, 12)}));
}
