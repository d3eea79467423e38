// Fused-vs-composed: softmax, log_softmax, layer_norm, add_layer_norm, cross_entropy,
// dropout_add and linear_relu give the same values and the same gradients as the same
// functions built from primitive ops.
#include <gtest/gtest.h>

#include "common/expect.h"
#include "common/gradcheck.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"

using namespace attend;
using test::random_tensor;

namespace {

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

namespace composed {

Tensor softmax(const Tensor& x) {
  Tensor e = exp(x - max(x, -1, /*keepdim=*/true).detach());
  return e / sum(e, {-1}, /*keepdim=*/true);
}

Tensor log_softmax(const Tensor& x) {
  Tensor shifted = x - max(x, -1, /*keepdim=*/true).detach();
  return shifted - log(sum(exp(shifted), {-1}, /*keepdim=*/true));
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f) {
  Tensor centred = x - mean(x, {-1}, /*keepdim=*/true);
  Tensor var = mean(centred * centred, {-1}, /*keepdim=*/true);
  return centred / sqrt(var + eps) * gamma + beta;
}

// -sum_v q_v * logp_v per row with q = (1-e)*onehot(t) + e/V, and q = 0 on ignored rows.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt) {
  const int64_t N = logits.size(0), V = logits.size(1);
  const std::vector<int64_t> t = target.to_ids();
  std::vector<float> q(size_t(N * V), 0.0f);
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (t[size_t(i)] == opt.ignore_index) continue;
    ++count;
    for (int64_t v = 0; v < V; ++v) q[size_t(i * V + v)] = opt.label_smoothing / float(V);
    q[size_t(i * V + t[size_t(i)])] += 1.0f - opt.label_smoothing;
  }
  Tensor rows = neg(sum(composed::log_softmax(logits) * Tensor::from_vector(q, {N, V}), {-1}));
  if (opt.reduction == Reduction::none) return rows;
  if (opt.reduction == Reduction::sum) return sum(rows);
  return sum(rows) / float(count);
}

}  // namespace composed

namespace {

// Runs fused and composed on fresh leaf copies of `inputs`, back-propagates the same
// random output weights through both, and compares outputs and every input gradient.
void expect_fused_equals_composed(const test::OpFn& fused, const test::OpFn& composed,
                                  const std::vector<Tensor>& inputs, float tol = 1e-5f) {
  auto run = [&](const test::OpFn& f) {
    std::vector<Tensor> leaves;
    for (const Tensor& x : inputs) leaves.push_back(x.clone().detach().set_requires_grad());
    Tensor y = f(leaves);
    y.backward(random_tensor(y.shape(), -1, 1, 99));
    std::vector<std::vector<float>> out{y.to_vector()};
    for (const Tensor& x : leaves) out.push_back(x.grad().to_vector());
    return out;
  };
  const auto a = run(fused), b = run(composed);
  for (size_t k = 0; k < a.size(); ++k) {
    SCOPED_TRACE(k == 0 ? std::string("output") : "gradient of input " + std::to_string(k - 1));
    expect_near(a[k], b[k], tol);
  }
}

}  // namespace

TEST(FusedVsComposed, Softmax) {
  Tensor x = random_tensor({4, 37}, -5, 5, 30);
  expect_fused_equals_composed([](const std::vector<Tensor>& in) { return softmax(in[0]); },
                               [](const std::vector<Tensor>& in) { return composed::softmax(in[0]); }, {x});
  Tensor t = random_tensor({6, 3, 5}, -5, 5, 31);  // non-contiguous input
  expect_fused_equals_composed([](const std::vector<Tensor>& in) { return softmax(in[0].transpose(0, 2)); },
                               [](const std::vector<Tensor>& in) { return composed::softmax(in[0].transpose(0, 2)); },
                               {t});
}

TEST(FusedVsComposed, LogSoftmax) {
  Tensor x = random_tensor({2, 3, 300}, -8, 8, 32);
  expect_fused_equals_composed([](const std::vector<Tensor>& in) { return log_softmax(in[0]); },
                               [](const std::vector<Tensor>& in) { return composed::log_softmax(in[0]); }, {x});
}

TEST(FusedVsComposed, LayerNorm) {
  Tensor x = random_tensor({5, 64}, -3, 3, 33);
  Tensor gamma = random_tensor({64}, 0.5f, 1.5f, 34), beta = random_tensor({64}, -1, 1, 35);
  expect_fused_equals_composed(
      [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); },
      [](const std::vector<Tensor>& in) { return composed::layer_norm(in[0], in[1], in[2]); }, {x, gamma, beta});
}

TEST(FusedVsComposed, CrossEntropy) {
  Tensor logits = random_tensor({6, 50}, -4, 4, 36);
  Tensor target = Tensor::from_ids({3, -100, 49, 0, 7, -100}, {6});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    for (float e : {0.0f, 0.1f}) {
      SCOPED_TRACE(fmt::format("reduction {}, label_smoothing {}", int(r), e));
      CrossEntropyOptions opt{.label_smoothing = e, .reduction = r};
      expect_fused_equals_composed(
          [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, opt); },
          [&](const std::vector<Tensor>& in) { return composed::cross_entropy(in[0], target, opt); }, {logits});
    }
}

TEST(FusedVsComposed, DropoutAdd) {
  Tensor x = random_tensor({3, 7, 41}, -2, 2, 37), y = random_tensor({3, 7, 41}, -2, 2, 38);
  auto with_gen = [](auto f) {
    return [f](const std::vector<Tensor>& in) {
      Generator gen(5);
      gen.set_state(5, 2);
      return f(in, gen);
    };
  };
  expect_fused_equals_composed(
      with_gen([](const std::vector<Tensor>& in, Generator& gen) { return dropout_add(in[0], in[1], 0.25f, gen); }),
      with_gen([](const std::vector<Tensor>& in, Generator& gen) { return in[0] + dropout(in[1], 0.25f, gen); }),
      {x, y}, 1e-6f);  // x + y*scale may be one fused multiply-add
}

TEST(FusedVsComposed, LinearRelu) {
  Tensor x = random_tensor({2, 9, 24}, -1, 1, 50), w = random_tensor({70, 24}, -1, 1, 51);
  Tensor bias = random_tensor({70}, -1, 1, 52);
  expect_fused_equals_composed([](const std::vector<Tensor>& in) { return linear_relu(in[0], in[1], in[2]); },
                               [](const std::vector<Tensor>& in) { return relu(linear(in[0], in[1], in[2])); },
                               {x, w, bias}, 1e-5f);
}

TEST(FusedVsComposed, LinearReluWithBf16Products) {
  // Both round the masked dy to bf16 before the products; only the bias sums' order differs.
  GemmPrecisionScope bf16(GemmPrecision::bf16);
  Tensor x = random_tensor({40, 24}, -1, 1, 53), w = random_tensor({70, 24}, -1, 1, 54);
  Tensor bias = random_tensor({70}, -1, 1, 55);
  expect_fused_equals_composed([](const std::vector<Tensor>& in) { return linear_relu(in[0], in[1], in[2]); },
                               [](const std::vector<Tensor>& in) { return relu(linear(in[0], in[1], in[2])); },
                               {x, w, bias}, 1e-5f);
}

TEST(FusedVsComposed, AddLayerNorm) {
  Tensor x = random_tensor({3, 5, 64}, -2, 2, 56), y = random_tensor({3, 5, 64}, -2, 2, 57);
  Tensor gamma = random_tensor({64}, 0.5f, 1.5f, 58), beta = random_tensor({64}, -1, 1, 59);
  for (float p : {0.0f, 0.3f}) {
    SCOPED_TRACE(fmt::format("p {}", p));
    auto make = [p](bool fused) {
      return [p, fused](const std::vector<Tensor>& in) {
        Generator gen(8);
        gen.set_state(8, 1);
        if (fused) return add_layer_norm(in[0], in[1], in[2], in[3], 1e-5f, p, &gen);
        return composed::layer_norm(in[0] + (p > 0 ? dropout(in[1], p, gen) : in[1]), in[2], in[3]);
      };
    };
    expect_fused_equals_composed(make(true), make(false), {x, y, gamma, beta});
  }
}

TEST(FusedVsComposed, AddLayerNormWithoutGammaAndBeta) {
  Tensor x = random_tensor({4, 48}, -2, 2, 73), y = random_tensor({4, 48}, -2, 2, 74);
  expect_fused_equals_composed(
      [](const std::vector<Tensor>& in) {
        Generator gen(3);
        return add_layer_norm(in[0], in[1], Tensor(), Tensor(), 1e-5f, 0.2f, &gen);
      },
      [](const std::vector<Tensor>& in) {
        Generator gen(3);
        Tensor z = in[0] + dropout(in[1], 0.2f, gen);
        Tensor centred = z - mean(z, {-1}, /*keepdim=*/true);
        return centred / sqrt(mean(centred * centred, {-1}, /*keepdim=*/true) + 1e-5f);
      },
      {x, y});
}

TEST(FusedVsComposed, LinearCrossEntropy) {
  Tensor x = random_tensor({6, 24}, -1, 1, 60), w = random_tensor({50, 24}, -1, 1, 61);
  Tensor target = Tensor::from_ids({3, -100, 49, 0, 7, -100}, {6});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    SCOPED_TRACE(fmt::format("reduction {}", int(r)));
    CrossEntropyOptions opt{.label_smoothing = 0.1f, .reduction = r};
    expect_fused_equals_composed(
        [&](const std::vector<Tensor>& in) { return linear_cross_entropy(in[0], in[1], target, opt); },
        [&](const std::vector<Tensor>& in) {
          return composed::cross_entropy(matmul(in[0], in[1].transpose(0, 1)), target, opt);
        },
        {x, w});
  }
  EXPECT_TRUE(test::gradcheck(
      [&](const std::vector<Tensor>& in) {
        return linear_cross_entropy(in[0], in[1], target, {.label_smoothing = 0.1f, .reduction = Reduction::none});
      },
      {random_tensor({6, 5}, -1, 1, 62), random_tensor({50, 5}, -1, 1, 63)}));
}

namespace {

double round_bf16(double v) { return from_bf16(to_bf16(float(v))); }

}  // namespace

// bf16 training: the logits are rounded to bf16, the loss is f32 arithmetic on them, and
// their gradient, rounded to bf16, meets the bf16 operands in both products. Checked
// against that recipe computed here in double from the rounded operands.
TEST(FusedVsComposed, LinearCrossEntropyWithBf16Products) {
  const int64_t N = 7, D = 24, V = 50;
  Tensor x = random_tensor({N, D}, -1, 1, 64), w = random_tensor({V, D}, -1, 1, 65);
  Tensor target = Tensor::from_ids({3, -100, 49, 0, 7, 12, 3}, {N});
  const std::vector<float> xv = x.to_vector(), wv = w.to_vector();
  for (Reduction r : {Reduction::mean, Reduction::none}) {
    SCOPED_TRACE(fmt::format("reduction {}", int(r)));
    const CrossEntropyOptions opt{.label_smoothing = 0.1f, .reduction = r};
    // The recipe: bf16 logits as an f32 leaf, the reference loss on them, its gradient rounded.
    std::vector<float> logits(size_t(N * V));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t v = 0; v < V; ++v) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += round_bf16(xv[size_t(n * D + d)]) * round_bf16(wv[size_t(v * D + d)]);
        logits[size_t(n * V + v)] = float(round_bf16(s));
      }
    Tensor leaf = Tensor::from_vector(logits, {N, V}).set_requires_grad();
    Tensor want = composed::cross_entropy(leaf, target, opt);
    const Tensor dy = r == Reduction::none ? random_tensor({N}, -1, 1, 66) : Tensor::scalar(0.75f);
    want.backward(dy);
    const std::vector<float> dl = leaf.grad().to_vector();
    std::vector<float> want_dx(size_t(N * D), 0.0f), want_dw(size_t(V * D), 0.0f);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t v = 0; v < V; ++v) {
        const double g = round_bf16(dl[size_t(n * V + v)]);
        for (int64_t d = 0; d < D; ++d) {
          want_dx[size_t(n * D + d)] += float(g * round_bf16(wv[size_t(v * D + d)]));
          want_dw[size_t(v * D + d)] += float(g * round_bf16(xv[size_t(n * D + d)]));
        }
      }

    GemmPrecisionScope bf16(GemmPrecision::bf16);
    Tensor xl = x.clone().detach().set_requires_grad(), wl = w.clone().detach().set_requires_grad();
    Tensor got = linear_cross_entropy(xl, wl, target, opt);
    // a one-ulp flip of a rounded logit moves the loss by ~1e-3 at most here
    expect_near(got.to_vector(), want.to_vector(), 2e-3f);
    got.backward(dy, /*retain_graph=*/true);
    {
      SCOPED_TRACE("dx");
      expect_near(xl.grad().to_vector(), want_dx, 2e-3f);
    }
    {
      SCOPED_TRACE("dw");
      expect_near(wl.grad().to_vector(), want_dw, 2e-3f);
    }
    // The graph kept: a second backward sees the logits, not the gradient written the first time.
    const std::vector<float> once = xl.grad().to_vector();
    got.backward(dy);
    std::vector<float> twice = once;
    for (float& g : twice) g *= 2;
    expect_near(xl.grad().to_vector(), twice, 1e-6f);
  }
}

TEST(FusedVsComposed, LinearCrossEntropyNamesBadInput) {
  for (GemmPrecision p : {GemmPrecision::fp32, GemmPrecision::bf16}) {
    GemmPrecisionScope precision(p);
    Tensor x = random_tensor({2, 4}, -1, 1, 67).set_requires_grad(), w = random_tensor({5, 4}, -1, 1, 68);
    test::expect_error([&] { linear_cross_entropy(x, random_tensor({5, 3}, -1, 1, 69), Tensor::from_ids({1, 2}, {2})); },
                       {"linear_cross_entropy", "D = 4"});
    test::expect_error([&] { linear_cross_entropy(x, w, Tensor::from_ids({1, 5}, {2})); },
                       {"target 5", "row 1", "5 classes"});
  }
}
