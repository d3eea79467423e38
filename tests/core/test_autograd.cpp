// The autograd engine, tested with a test-local op so it does not depend on the
// op library: scale(x, s) = s*x.
#include <gtest/gtest.h>

#include "core/kernels.h"
#include "core/ops.h"

using namespace attend;

namespace {

Tensor scale(const Tensor& x_in, float s) {
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty_like(x);
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i] = s * x.data()[i];
  return autograd::record("scale", y, {x}, [s](const Tensor& dy, Grads& g) {
    if (g.wants(0))
      for (int64_t i = 0; i < dy.numel(); ++i) g.at(0).data()[i] += s * dy.data()[i];
  });
}

// z = x1*a + x2*b over two inputs (to test fan-in)
Tensor weighted_sum(const Tensor& x1, const Tensor& x2, float a, float b) {
  Tensor y = Tensor::empty_like(x1);
  for (int64_t i = 0; i < x1.numel(); ++i) y.data()[i] = a * x1.data()[i] + b * x2.data()[i];
  return autograd::record("weighted_sum", y, {x1, x2}, [a, b](const Tensor& dy, Grads& g) {
    for (int64_t i = 0; i < dy.numel(); ++i) {
      if (g.wants(0)) g.at(0).data()[i] += a * dy.data()[i];
      if (g.wants(1)) g.at(1).data()[i] += b * dy.data()[i];
    }
  });
}

// z = x1*a + x2*b whose backward writes its gradients whole (Grads::for_write): g = beta*g +
// a*dy, reading g only when beta is 1; records each beta it was given in `betas`.
Tensor product_sum(const Tensor& x1, const Tensor& x2, float a, float b, std::vector<float>* betas) {
  Tensor y = Tensor::empty_like(x1);
  for (int64_t i = 0; i < x1.numel(); ++i) y.data()[i] = a * x1.data()[i] + b * x2.data()[i];
  return autograd::record("product_sum", y, {x1, x2}, [a, b, betas](const Tensor& dy, Grads& g) {
    for (size_t k = 0; k < 2; ++k) {
      if (!g.wants(k)) continue;
      float beta = -1;
      float* out = g.for_write(k, beta).data();
      betas->push_back(beta);
      for (int64_t i = 0; i < dy.numel(); ++i)
        out[i] = (k == 0 ? a : b) * dy.data()[i] + (beta == 0.0f ? 0.0f : beta * out[i]);
    }
  });
}

}  // namespace

TEST(Autograd, AProductOverwritesAFirstGradientAndAccumulatesIntoLaterOnes) {
  std::vector<float> betas;
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad();
  Tensor h = scale(x, 2);
  Tensor none = Tensor::zeros({2});
  Tensor y = weighted_sum(product_sum(h, none, 3, 0, &betas), product_sum(h, none, 5, 0, &betas), 1, 1);
  y.backward(Tensor::from_vector({1, 10}, {2}));
  EXPECT_EQ(betas, (std::vector<float>{0, 1}));  // h's gradient: written, then added to
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{16, 160}));

  betas.clear();
  Tensor leaf = Tensor::from_vector({1}, {1}).set_requires_grad();
  product_sum(leaf, none.slice(0, 0, 1), 3, 0, &betas).backward();
  product_sum(leaf, none.slice(0, 0, 1), 4, 0, &betas).backward();
  EXPECT_EQ(betas, (std::vector<float>{0, 1}));  // a leaf's first gradient, then its existing one
  EXPECT_EQ(leaf.grad().item(), 7);
}

TEST(Autograd, ALeafWhoseOpWritesNoGradientGetsZeros) {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad();
  Tensor y = autograd::record("writes_nothing", x.detach(), {x}, [](const Tensor&, Grads&) {});
  y.backward(Tensor::ones({2}));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 0}));
}

TEST(Autograd, LeafUsedTwiceInOneProductGetsBothGradients) {
  std::vector<float> betas;
  Tensor x = Tensor::from_vector({2}, {1}).set_requires_grad();
  product_sum(x, x, 3, 4, &betas).backward();
  EXPECT_EQ(x.grad().item(), 7);
}

TEST(Autograd, ChainRuleThroughTwoOps) {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad();
  Tensor y = scale(scale(x, 3), 2);
  y.backward(Tensor::from_vector({1, 10}, {2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{6, 60}));
}

TEST(Autograd, FanOutAccumulates) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  Tensor h = scale(x, 2);
  Tensor y = weighted_sum(h, h, 1, 5);  // y = 12x: h used twice by one op
  y.backward();
  EXPECT_EQ(x.grad().item(), 12);
  Tensor z = weighted_sum(scale(x, 1), x, 1, 1);  // leaf reached by two paths
  z.backward();
  EXPECT_EQ(x.grad().item(), 14);  // accumulates into the existing gradient
}

TEST(Autograd, LeafUsedTwiceInOneOp) {
  Tensor x = Tensor::from_vector({2}, {1}).set_requires_grad();
  weighted_sum(x, x, 3, 4).backward();
  EXPECT_EQ(x.grad().item(), 7);
}

TEST(Autograd, SkipsInputsThatNeedNoGradient) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  Tensor c = Tensor::from_vector({1}, {1});
  weighted_sum(x, c, 2, 3).backward();
  EXPECT_EQ(x.grad().item(), 2);
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  NoGradGuard guard;
  Tensor y = scale(x, 2);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

TEST(Autograd, DetachCutsHistory) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  Tensor y = scale(x, 2).detach();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

TEST(Autograd, BackwardOnNonScalarNeedsGradient) {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad();
  Tensor y = scale(x, 2);
  try {
    y.backward();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a scalar"), std::string::npos) << e.what();
  }
  EXPECT_THROW(y.backward(Tensor::from_vector({1, 2, 3}, {3})), Error);
}

TEST(Autograd, BackwardTwiceThroughFreedGraphThrows) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  Tensor y = scale(scale(x, 2), 3);
  y.backward();
  try {
    y.backward();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already freed"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  Tensor y = scale(scale(x, 2), 3);
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(x.grad().item(), 12);
}

TEST(Autograd, BackwardOnTensorWithoutGradThrows) {
  Tensor x = Tensor::from_vector({1}, {1});
  EXPECT_THROW(x.backward(), Error);
}

TEST(Autograd, GraphIsFreedAfterBackward) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad();
  Tensor h = scale(x, 2);
  std::weak_ptr<Node> h_node = h.impl()->grad_fn;
  Tensor y = scale(h, 2);
  h = Tensor();
  EXPECT_FALSE(h_node.expired());  // kept alive by y's node
  y.backward(Tensor::ones({3}));
  EXPECT_TRUE(h_node.expired());  // released once the node ran
}

TEST(Autograd, GraphKeepsOnlyWhatClosuresCapture) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad();
  Tensor h = scale(x, 2);
  std::weak_ptr<TensorImpl> h_impl = h.impl_ptr();
  Tensor y = scale(h, 3);  // scale's closure captures no tensor
  h = Tensor();
  EXPECT_TRUE(h_impl.expired());  // its data is gone before backward
  y.backward(Tensor::ones({3}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{6, 6, 6}));
}

TEST(Autograd, ViewsSendGradientsBack) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad();
  // y = 2 * x^T[1:3] viewed as (4), gradient goes back to the right elements
  Tensor y = scale(x.transpose(0, 1).slice(0, 1, 3).reshape({4}), 2);
  y.backward(Tensor::from_vector({1, 2, 3, 4}, {4}));
  // x^T = [[1,4],[2,5],[3,6]]; rows 1..2 = [[2,5],[3,6]] <- dy [[1,2],[3,4]]*2
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 2, 6, 0, 4, 8}));
}

TEST(Autograd, SetRequiresGradOnNonLeafThrows) {
  Tensor x = Tensor::from_vector({1}, {1}).set_requires_grad();
  Tensor y = scale(x, 2);
  EXPECT_THROW(y.set_requires_grad(), Error);
  EXPECT_THROW(Tensor::from_ids({1}, {1}).set_requires_grad(), Error);
}

// --- the gradient-check harness itself ---------------------------------------------
#include "common/gradcheck.h"

namespace {
// square(x) = x^2 with a deliberately wrong backward (dx = x instead of 2x).
Tensor square_with_wrong_backward(const Tensor& x) {
  Tensor y = Tensor::empty_like(x);
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i] = x.data()[i] * x.data()[i];
  return autograd::record("bad_square", y, {x}, [x](const Tensor& dy, Grads& g) {
    if (g.wants(0))
      for (int64_t i = 0; i < dy.numel(); ++i) g.at(0).data()[i] += x.data()[i] * dy.data()[i];
  });
}
Tensor square(const Tensor& x) {
  Tensor y = Tensor::empty_like(x);
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i] = x.data()[i] * x.data()[i];
  return autograd::record("square", y, {x}, [x](const Tensor& dy, Grads& g) {
    if (g.wants(0))
      for (int64_t i = 0; i < dy.numel(); ++i) g.at(0).data()[i] += 2 * x.data()[i] * dy.data()[i];
  });
}
}  // namespace

TEST(GradCheck, AcceptsACorrectBackward) {
  Tensor x = test::random_tensor({3, 2}, -1, 1, 3);
  EXPECT_TRUE(test::gradcheck([](const std::vector<Tensor>& in) { return square(in[0]); }, {x}));
}

TEST(GradCheck, RejectsAPlantedWrongBackward) {
  Tensor x = test::random_tensor({3, 2}, 0.5f, 1.5f, 3);
  ::testing::AssertionResult r =
      test::gradcheck([](const std::vector<Tensor>& in) { return square_with_wrong_backward(in[0]); }, {x});
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("analytic"), std::string::npos) << r.message();
}

TEST(GradCheck, ViewsOfLeavesAreChecked) {
  Tensor x = test::random_tensor({3, 4}, -1, 1, 5);
  EXPECT_TRUE(test::gradcheck(
      [](const std::vector<Tensor>& in) { return square(in[0].transpose(0, 1).slice(0, 1, 3).contiguous()); },
      {x}));
  Tensor b = test::random_tensor({1, 4}, -1, 1, 6);
  EXPECT_TRUE(test::gradcheck(
      [](const std::vector<Tensor>& in) { return square(in[0].expand({3, 4}).contiguous()); }, {b}));
}
