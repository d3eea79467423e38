// MultiHeadAttention: against a naive loop reference, masks, probabilities, the
// incremental-decoding cache, and gradients.
#include <gtest/gtest.h>

#include <cmath>

#include "common/gradcheck.h"
#include "core/ops.h"
#include "layers/attention.h"

using namespace attend;

namespace {

constexpr int64_t B = 2, D = 4, H = 2;

// Naive multi-head attention in double, straight from the definition.
// x: (B,T,D), mem: (B,S,D), pad: per (b, s) 1 = ignore -> (B,T,D)
std::vector<double> naive_attention(const MultiHeadAttention& attn, const Tensor& x_t, const Tensor& mem_t,
                                    const std::vector<int>& pad, bool causal) {
  const int64_t T = x_t.size(1), S = mem_t.size(1), Dh = D / H;
  auto p = attn.state();
  auto proj = [&](const std::string& name, const std::vector<float>& in, int64_t rows) {
    std::vector<float> w = p.at(name + ".weight").to_vector(), b = p.at(name + ".bias").to_vector();
    std::vector<double> out(size_t(rows * D));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < D; ++o) {
        double s = b[size_t(o)];
        for (int64_t i = 0; i < D; ++i) s += double(w[size_t(o * D + i)]) * in[size_t(r * D + i)];
        out[size_t(r * D + o)] = s;
      }
    return out;
  };
  std::vector<float> x = x_t.to_vector(), mem = mem_t.to_vector();
  std::vector<double> q = proj("q_proj", x, B * T), k = proj("k_proj", mem, B * S), v = proj("v_proj", mem, B * S);
  std::vector<float> ctx(size_t(B * T * D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> score(static_cast<size_t>(S));
        double mx = -1e300, z = 0;
        for (int64_t s = 0; s < S; ++s) {
          double d = 0;
          for (int64_t e = 0; e < Dh; ++e) d += q[size_t((b * T + t) * D + h * Dh + e)] * k[size_t((b * S + s) * D + h * Dh + e)];
          const bool masked = pad[size_t(b * S + s)] || (causal && s > t + (S - T));
          score[size_t(s)] = masked ? -INFINITY : d / std::sqrt(double(Dh));
          mx = std::max(mx, score[size_t(s)]);
        }
        for (double& s : score) z += (s = std::exp(s - mx));
        for (int64_t e = 0; e < Dh; ++e) {
          double c = 0;
          for (int64_t s = 0; s < S; ++s) c += score[size_t(s)] / z * v[size_t((b * S + s) * D + h * Dh + e)];
          ctx[size_t((b * T + t) * D + h * Dh + e)] = float(c);
        }
      }
  return proj("out_proj", ctx, B * T);
}

// Random weights and biases (biases are zero at init; make them matter).
MultiHeadAttention make_attention(Generator& gen, float dropout = 0.0f) {
  return MultiHeadAttention({.d_model = D, .heads = H, .dropout = dropout, .gen = &gen});
}
void randomise(Module& m, uint64_t seed) {
  for (auto& [name, t] : m.named_parameters()) {
    Tensor r = test::random_tensor(t.shape(), -0.8f, 0.8f, seed++);
    copy_strided(t, r);
  }
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

void expect_same_values(const std::vector<std::pair<std::string, std::vector<float>>>& got,
                        const std::vector<std::pair<std::string, std::vector<float>>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t t = 0; t < got.size(); ++t) {
    ASSERT_EQ(got[t].second.size(), want[t].second.size()) << got[t].first;
    for (size_t i = 0; i < got[t].second.size(); ++i)
      EXPECT_NEAR(got[t].second[i], want[t].second[i], 1e-5f) << got[t].first << " " << i;
  }
}

}  // namespace

TEST(Attention, PaddingMaskMarksPadIds) {
  Tensor m = padding_mask(Tensor::from_ids({5, 0, 7, 0, 0, 1}, {2, 3}), 0);
  EXPECT_EQ(m.shape(), Shape({2, 1, 1, 3}));
  EXPECT_EQ(m.to_vector(), (std::vector<float>{0, 1, 0, 1, 1, 0}));
}

TEST(Attention, CausalMaskHidesLaterKeysForTheLastQueries) {
  EXPECT_EQ(causal_mask(3, 3).to_vector(), (std::vector<float>{0, 1, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(causal_mask(2, 4).to_vector(), (std::vector<float>{0, 0, 0, 1, 0, 0, 0, 0}));
}

TEST(Attention, SelfAttentionMatchesNaiveReferenceWithPadding) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  randomise(attn, 10);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 2);
  Tensor ids = Tensor::from_ids({4, 5, 6, 4, 0, 0}, {B, 3});
  Tensor y = attn.self_attention(x, padding_mask(ids, 0), false);
  EXPECT_EQ(y.shape(), Shape({B, 3, D}));
  expect_close(y.to_vector(), naive_attention(attn, x, x, {0, 0, 0, 0, 1, 1}, false), 1e-5);
}

TEST(Attention, CausalSelfAttentionMatchesNaiveReference) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  randomise(attn, 20);
  Tensor x = test::random_tensor({B, 4, D}, -1, 1, 3);
  Tensor y = attn.self_attention(x, Tensor(), true);
  expect_close(y.to_vector(), naive_attention(attn, x, x, std::vector<int>(B * 4, 0), true), 1e-5);
}

TEST(Attention, CrossAttentionMatchesNaiveReference) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  randomise(attn, 30);
  Tensor x = test::random_tensor({B, 2, D}, -1, 1, 4);
  Tensor mem = test::random_tensor({B, 5, D}, -1, 1, 5);
  std::vector<int> pad = {0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
  Tensor mask = padding_mask(Tensor::from_ids({1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, {B, 5}), 0);
  expect_close(attn.cross_attention(x, mem, mask).to_vector(), naive_attention(attn, x, mem, pad, false), 1e-5);
}

TEST(Attention, ProbabilitiesSumToOneAndAreZeroAtMaskedKeys) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 6);
  Tensor probs;
  attn.self_attention(x, padding_mask(Tensor::from_ids({4, 4, 0, 4, 4, 4}, {B, 3}), 0), true, nullptr, &probs);
  ASSERT_EQ(probs.shape(), Shape({B, H, 3, 3}));
  std::vector<float> p = probs.to_vector();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < 3; ++t) {
        const float* row = &p[size_t(((b * H + h) * 3 + t) * 3)];
        EXPECT_NEAR(row[0] + row[1] + row[2], 1.0f, 1e-6f);
        for (int64_t s = t + 1; s < 3; ++s) EXPECT_EQ(row[s], 0.0f) << "future key";
        if (b == 0) {
          EXPECT_EQ(row[2], 0.0f) << "padded key";
        }
      }
}

TEST(Attention, PaddedKeysDoNotInfluenceTheOutput) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  Tensor mem = test::random_tensor({B, 3, D}, -1, 1, 7);
  Tensor mem2 = mem.clone();
  std::fill_n(mem2.data() + 2 * D, D, 9.0f);  // row 0, key 2: padded
  Tensor mask = padding_mask(Tensor::from_ids({4, 4, 0, 4, 4, 4}, {B, 3}), 0);
  Tensor x = test::random_tensor({B, 2, D}, -1, 1, 8);
  EXPECT_EQ(attn.cross_attention(x, mem, mask).to_vector(), attn.cross_attention(x, mem2, mask).to_vector());
}

TEST(Attention, CachedSelfAttentionStepsEqualTheFullCausalPass) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  randomise(attn, 40);
  const int64_t T = 5;
  Tensor x = test::random_tensor({B, T, D}, -1, 1, 9);
  std::vector<float> full = attn.self_attention(x, Tensor(), true).to_vector();
  KVCache cache;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> step = attn.self_attention(x.slice(1, t, t + 1), Tensor(), true, &cache).to_vector();
    EXPECT_EQ(cache.length(), t + 1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t d = 0; d < D; ++d)
        EXPECT_NEAR(step[size_t(b * D + d)], full[size_t((b * T + t) * D + d)], 1e-6f) << "step " << t;
  }
}

TEST(Attention, CrossAttentionCacheComputesTheMemoryOnce) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  Tensor mem = test::random_tensor({B, 4, D}, -1, 1, 10);
  Tensor x = test::random_tensor({B, 1, D}, -1, 1, 11);
  KVCache cache;
  std::vector<float> first = attn.cross_attention(x, mem, Tensor(), &cache).to_vector();
  EXPECT_EQ(cache.length(), 4);
  // later steps reuse the cached keys/values; the memory argument is not read again
  EXPECT_EQ(attn.cross_attention(x, Tensor(), Tensor(), &cache).to_vector(), first);
}

TEST(Attention, CacheReorderSelectsBatchRows) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  Tensor x = test::random_tensor({B, 1, D}, -1, 1, 12);
  KVCache cache;
  attn.self_attention(x, Tensor(), true, &cache);
  std::vector<float> k = cache.k.to_vector();
  cache.reorder(Tensor::from_ids64({1, 1, 0}, {3}));
  ASSERT_EQ(cache.k.shape(), Shape({3, H, 1, D / H}));
  std::vector<float> k2 = cache.k.to_vector();
  const size_t row = size_t(H * D / H);
  EXPECT_EQ(std::vector<float>(k2.begin(), k2.begin() + row), std::vector<float>(k.begin() + row, k.end()));
  EXPECT_EQ(std::vector<float>(k2.begin() + 2 * row, k2.end()), std::vector<float>(k.begin(), k.begin() + row));
}

TEST(Attention, AttentionDropoutOnlyInTraining) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen, 0.5f);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 13);
  std::vector<float> train = attn.self_attention(x, Tensor(), false).to_vector();
  attn.eval();
  std::vector<float> eval1 = attn.self_attention(x, Tensor(), false).to_vector();
  EXPECT_NE(train, eval1);
  EXPECT_EQ(eval1, attn.self_attention(x, Tensor(), false).to_vector());
}

TEST(Attention, FusedPathEqualsTheComposedPathThatKeepsProbabilities) {
  // Training mode with attention dropout: asking for the probabilities takes the composed
  // ops; not asking takes the fused op. Same generator state, same values and gradients.
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen, 0.3f);
  randomise(attn, 60);
  Tensor mask = padding_mask(Tensor::from_ids({4, 4, 0, 0, 4, 4, 4, 4}, {B, 4}), 0);
  Tensor x0 = test::random_tensor({B, 4, D}, -1, 1, 15), dy = test::random_tensor({B, 4, D}, -1, 1, 16);
  std::vector<std::pair<std::string, std::vector<float>>> got[2];
  for (int fused = 0; fused < 2; ++fused) {
    gen.set_state(5, 0);
    attn.zero_grad();
    Tensor x = x0.clone().detach().set_requires_grad();
    Tensor probs;
    Tensor y = attn.self_attention(x, mask, true, nullptr, fused ? nullptr : &probs);
    y.backward(dy);
    got[fused] = {{"y", y.to_vector()}, {"dx", x.grad().to_vector()}};
    for (auto& [name, t] : attn.named_parameters()) got[fused].push_back({"d" + name, t.grad().to_vector()});
  }
  expect_same_values(got[1], got[0]);
}

TEST(Attention, PackedCrossAttentionEqualsTheComposedPathWithGradients) {
  // Training with gradients projects k and v of the memory in one product; the composed
  // path (probabilities asked for) projects them separately.
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen, 0.3f);
  randomise(attn, 70);
  Tensor mask = padding_mask(Tensor::from_ids({4, 4, 0, 4, 4, 4, 4, 4, 4, 0}, {B, 5}), 0);
  Tensor x0 = test::random_tensor({B, 3, D}, -1, 1, 17), m0 = test::random_tensor({B, 5, D}, -1, 1, 18);
  Tensor dy = test::random_tensor({B, 3, D}, -1, 1, 19);
  std::vector<std::pair<std::string, std::vector<float>>> got[2];
  for (int fused = 0; fused < 2; ++fused) {
    gen.set_state(5, 0);
    attn.zero_grad();
    Tensor x = x0.clone().detach().set_requires_grad(), memory = m0.clone().detach().set_requires_grad();
    Tensor probs;
    Tensor y = attn.cross_attention(x, memory, mask, nullptr, fused ? nullptr : &probs);
    y.backward(dy);
    got[fused] = {{"y", y.to_vector()}, {"dx", x.grad().to_vector()}, {"dmemory", memory.grad().to_vector()}};
    for (auto& [name, t] : attn.named_parameters()) got[fused].push_back({"d" + name, t.grad().to_vector()});
  }
  expect_same_values(got[1], got[0]);
}

TEST(Attention, PackedProjectionsInTrainingGiveTheValuesOfSeparateOnesWithoutGradients) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  randomise(attn, 80);
  Tensor x = test::random_tensor({B, 4, D}, -1, 1, 20), mem = test::random_tensor({B, 3, D}, -1, 1, 21);
  const std::vector<float> self = attn.self_attention(x, Tensor(), true).to_vector();
  const std::vector<float> cross = attn.cross_attention(x, mem, Tensor()).to_vector();
  NoGradGuard no_grad;
  const std::vector<float> self_ng = attn.self_attention(x, Tensor(), true).to_vector();
  const std::vector<float> cross_ng = attn.cross_attention(x, mem, Tensor()).to_vector();
  for (size_t i = 0; i < self.size(); ++i) EXPECT_NEAR(self[i], self_ng[i], 1e-6f) << "self " << i;
  for (size_t i = 0; i < cross.size(); ++i) EXPECT_NEAR(cross[i], cross_ng[i], 1e-6f) << "cross " << i;
}

TEST(Attention, GradientsOfInputAndWeightsMatchCentralDifferences) {
  Generator gen(1);
  MultiHeadAttention attn = make_attention(gen);
  randomise(attn, 50);
  Tensor mask = padding_mask(Tensor::from_ids({4, 4, 0, 4, 4, 4}, {B, 3}), 0);
  Tensor x = test::random_tensor({B, 3, D}, -1, 1, 14);
  auto state = attn.state();
  EXPECT_TRUE(test::gradcheck(
      [&](const std::vector<Tensor>&) { return attn.self_attention(x, mask, true); }, {x, state.at("q_proj.weight"),
                                                                                      state.at("k_proj.bias"),
                                                                                      state.at("v_proj.weight"),
                                                                                      state.at("out_proj.weight")}));
}

TEST(Attention, HeadsMustDivideDModel) {
  Generator gen(1);
  EXPECT_THROW(MultiHeadAttention({.d_model = 6, .heads = 4, .gen = &gen}), Error);
}
