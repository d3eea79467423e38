// The ops of the residual connection: dropout's vectorised keep bits against the scalar
// Philox, dropout_add (x + dropout(y)) and add_layer_norm (layer_norm(x + dropout(y))):
// forward values, gradient checks, bad inputs, independence from the thread count.
#include <gtest/gtest.h>

#include <cmath>

#include "common/expect.h"
#include "common/gradcheck.h"
#include "core/kernels_fused.h"
#include "core/ops.h"

using namespace attend;
using test::expect_error;
using test::expect_near;
using test::on_one_and_two_threads;
using test::gradcheck;
using test::random_tensor;

// --- dropout's keep bits -----------------------------------------------------------------

namespace {
// Dropout's uniform for element i, from the scalar philox4x32: half-word i % 8 of counter
// i / 8, the low half of each word first.
float scalar_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t r[4];
  philox4x32(seed, stream, i / 8, r);
  const uint32_t half = (r[(i % 8) / 2] >> (16 * (i % 2))) & 0xffffu;
  return float(half) / 65536.0f;
}
}  // namespace

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Random123's kat_vectors for philox4x32-10: counter (c0..c3) = (index, stream) in 32-bit
  // words, low first; key (k0, k1) = seed.
  uint32_t r[4];
  philox4x32(0, 0, 0, r);
  EXPECT_EQ(std::vector<uint32_t>(r, r + 4), (std::vector<uint32_t>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  philox4x32(~uint64_t(0), ~uint64_t(0), ~uint64_t(0), r);
  EXPECT_EQ(std::vector<uint32_t>(r, r + 4), (std::vector<uint32_t>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, r);
  EXPECT_EQ(std::vector<uint32_t>(r, r + 4), (std::vector<uint32_t>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Dropout, VectorisedMaskEqualsScalarPhiloxForOddSizes) {
  // The kernel draws blocks of 1024 in a vectorised loop; every size and tail must give
  // the bits of the scalar philox4x32 (core/rng.h), eight elements per counter.
  for (int64_t n : {1, 15, 17, 1023, 1025, 2049, 40001})
    for (uint64_t seed : {uint64_t(3), uint64_t(0x123456789abcdefull)})
      for (uint64_t stream : {uint64_t(0), uint64_t(0xfedcba9876ull)}) {
        std::vector<uint8_t> mask(static_cast<size_t>(n));
        kernels::dropout_keep_mask(mask.data(), n, 0.3f, seed, stream);
        for (int64_t i = 0; i < n; ++i) {
          const bool keep = scalar_uniform(seed, stream, uint64_t(i)) >= 0.3f;
          ASSERT_EQ(mask[size_t(i)], keep ? 1 : 0) << "n " << n << " seed " << seed << " stream " << stream << " i " << i;
        }
      }
}

TEST(Dropout, KeepBitsOfARangeEqualScalarPhiloxForOddOffsets) {
  // add_layer_norm draws row by row: ranges starting anywhere, of any length.
  for (int64_t i0 : {int64_t(0), int64_t(1), int64_t(333), int64_t(12345), (int64_t(1) << 32) - 5})
    for (int64_t len : {1, 7, 16, 31, 512, 515}) {
      std::vector<uint8_t> keep(static_cast<size_t>(len));
      kernels::dropout_keep(keep.data(), i0, len, 0.1f, 17, 3);
      for (int64_t j = 0; j < len; ++j) {
        ASSERT_EQ(keep[size_t(j)], scalar_uniform(17, 3, uint64_t(i0 + j)) >= 0.1f ? 1 : 0)
            << "i0 " << i0 << " len " << len << " j " << j;
      }
    }
}

TEST(Dropout, UniformInAVectorLoopEqualsScalarPhiloxAcrossTheHighIndexWord) {
  const uint64_t i0 = (uint64_t(1) << 32) - 7;  // counters whose upper 32 bits change mid-loop
  float u[19];
#pragma omp simd
  for (int j = 0; j < 19; ++j) u[j] = uniform(11, 5, i0 + uint64_t(j));
  for (int j = 0; j < 19; ++j) {
    uint32_t r[4];
    philox4x32(11, 5, i0 + uint64_t(j), r);
    EXPECT_EQ(u[j], float(r[0] >> 8) * (1.0f / 16777216.0f)) << "index " << i0 + uint64_t(j);
  }
}

TEST(Dropout, UniformsOfARangeEqualScalarPhiloxAcrossTheHighCounterWord) {
  // counters i / 8 whose upper 32 bits change inside the range, starting at every half-word
  for (uint64_t back = 57; back <= 64; ++back) {
    const uint64_t i0 = (uint64_t(1) << 35) - back;
    for (int64_t n : {1, 3, 59, 300}) {
      std::vector<float> u(size_t(n), -1.0f);
      dropout_uniforms(u.data(), 11, 5, i0, n);
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_EQ(u[size_t(j)], scalar_uniform(11, 5, i0 + uint64_t(j))) << "i0 " << i0 << " n " << n << " j " << j;
        ASSERT_EQ(dropout_uniform(11, 5, i0 + uint64_t(j)), u[size_t(j)]);
      }
    }
  }
}

// --- dropout_add -------------------------------------------------------------------------

TEST(DropoutAdd, DrawsTheMaskDropoutDraws) {
  // With x = 0 the result is dropout(y) bit for bit (x + y*scale may be one fused
  // multiply-add, so other x can differ from the composed sum in the last bit).
  Tensor y = random_tensor({7, 333}, -2, 2, 41);
  Generator a(13), b(13);
  a.set_state(13, 4), b.set_state(13, 4);
  EXPECT_EQ(dropout_add(Tensor::zeros({7, 333}), y, 0.3f, a).to_vector(), dropout(y, 0.3f, b).to_vector());
  EXPECT_EQ(a.counter(), b.counter());  // one stream, as dropout takes
}

TEST(DropoutAdd, AddsTheKeptScaledElements) {
  Generator gen(2);
  gen.set_state(2, 0);
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {6}), y = Tensor::full({6}, 10.0f);
  std::vector<float> z = dropout_add(x, y, 0.5f, gen).to_vector();
  for (size_t i = 0; i < z.size(); ++i)
    EXPECT_EQ(z[i], dropout_uniform(2, 0, i) >= 0.5f ? float(i + 1) + 20.0f : float(i + 1)) << "element " << i;
}

TEST(DropoutAdd, ZeroProbabilityIsAddAndTakesNoStream) {
  Generator gen(1);
  Tensor x = Tensor::from_vector({1, 2}, {2}), y = Tensor::from_vector({10, 20}, {2});
  EXPECT_EQ(dropout_add(x, y, 0.0f, gen).to_vector(), (std::vector<float>{11, 22}));
  EXPECT_EQ(gen.counter(), 0u);
}

TEST(DropoutAdd, BadInputsAreRejected) {
  Generator gen(1);
  Tensor x = Tensor::ones({4}), y = Tensor::ones({2, 2});
  expect_error([&] { dropout_add(x, y, 0.1f, gen); }, {"dropout_add", "same shape", "[4]", "[2, 2]"});
  expect_error([&] { dropout_add(x, x, 1.0f, gen); }, {"dropout_add", "[0, 1)", "got 1"});
}

TEST(DropoutAdd, GradientWithAFixedGeneratorState) {
  Tensor x = random_tensor({4, 5}, -2, 2, 42), y = random_tensor({4, 5}, -2, 2, 43);
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        Generator gen(21);
        gen.set_state(21, 3);
        return dropout_add(in[0], in[1], 0.4f, gen);
      },
      {x, y}));
}

TEST(DropoutAdd, MaskDoesNotDependOnThreadCount) {
  Tensor x = random_tensor({1 << 17}, -1, 1, 44), y = Tensor::ones({1 << 17});
  auto [one, two] = on_one_and_two_threads([&] {
    Generator gen(5);
    return dropout_add(x, y, 0.1f, gen).to_vector();
  });
  EXPECT_EQ(one, two);
}

// --- add_layer_norm ------------------------------------------------------------------------

TEST(AddLayerNorm, NormalisesTheSumWithoutDropout) {
  Tensor x = Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3}), y = Tensor::from_vector({0, 0, 0, 2, 4, 6}, {2, 3});
  const float s = 1.0f / std::sqrt(2.0f / 3.0f + 1e-5f), t = 1.0f / std::sqrt(8.0f / 3.0f + 1e-5f);
  expect_near(add_layer_norm(x, y, Tensor(), Tensor()).to_vector(), {-s, 0, s, -2 * t, 0, 2 * t});
}

TEST(AddLayerNorm, ZeroProbabilityTakesNoStream) {
  Generator gen(1);
  Tensor x = random_tensor({2, 8}, -1, 1, 60);
  add_layer_norm(x, x, Tensor(), Tensor(), 1e-5f, 0.0f, &gen);
  EXPECT_EQ(gen.counter(), 0u);
}

TEST(AddLayerNorm, BadInputsAreRejected) {
  Generator gen(1);
  Tensor x = Tensor::ones({2, 4});
  expect_error([&] { add_layer_norm(x, Tensor::ones({4, 2}), Tensor(), Tensor()); },
               {"add_layer_norm", "same shape", "[2, 4]", "[4, 2]"});
  expect_error([&] { add_layer_norm(x, x, Tensor::ones({3}), Tensor()); }, {"add_layer_norm", "[4]", "f32[3]"});
  expect_error([&] { add_layer_norm(x, x, Tensor(), Tensor(), 1e-5f, 0.1f, nullptr); },
               {"add_layer_norm", "dropout 0.1 needs a generator"});
  expect_error([&] { add_layer_norm(x, x, Tensor(), Tensor(), 1e-5f, 1.0f, &gen); }, {"add_layer_norm", "got 1"});
}

TEST(AddLayerNorm, Gradient) {
  Tensor x = random_tensor({3, 6}, -2, 2, 61), y = random_tensor({3, 6}, -2, 2, 62);
  Tensor gamma = random_tensor({6}, 0.5f, 1.5f, 63), beta = random_tensor({6}, -1, 1, 64);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return add_layer_norm(in[0], in[1], in[2], in[3]); },
                        {x, y, gamma, beta}));
}

TEST(AddLayerNorm, GradientWithDropoutAndAFixedGeneratorState) {
  Tensor x = random_tensor({3, 6}, -2, 2, 65), y = random_tensor({3, 6}, -2, 2, 66);
  Tensor gamma = random_tensor({6}, 0.5f, 1.5f, 67), beta = random_tensor({6}, -1, 1, 68);
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        Generator gen(4);
        gen.set_state(4, 9);
        return add_layer_norm(in[0], in[1], in[2], in[3], 1e-5f, 0.3f, &gen);
      },
      {x, y, gamma, beta}));
}

TEST(AddLayerNorm, DoesNotDependOnThreadCount) {
  Tensor x = random_tensor({300, 128}, -1, 1, 69), y = random_tensor({300, 128}, -1, 1, 70);
  Tensor gamma = random_tensor({128}, 0.5f, 1.5f, 71);
  auto [one, two] = on_one_and_two_threads([&] {
    Tensor xl = x.clone().detach().set_requires_grad(), yl = y.clone().detach().set_requires_grad();
    Tensor gl = gamma.clone().detach().set_requires_grad();
    Generator gen(5);
    Tensor out = add_layer_norm(xl, yl, gl, Tensor(), 1e-5f, 0.1f, &gen);
    out.backward(random_tensor(out.shape(), -1, 1, 72));
    std::vector<float> all = out.to_vector();
    for (const Tensor& t : {xl, yl, gl}) {
      std::vector<float> g = t.grad().to_vector();
      all.insert(all.end(), g.begin(), g.end());
    }
    return all;
  });
  EXPECT_EQ(one, two);
}

// Backward assigning to new gradient buffers (the op's case) writes every row of dx and dy:
// into NaN it gives what adding into zeros gives, with and without dropout's mask.
TEST(AddLayerNorm, BackwardAssigningNewGradientsWritesEveryElement) {
  const int64_t N = 70, D = 48;
  const std::vector<float> x = random_tensor({N, D}, -1, 1, 73).to_vector(), y = random_tensor({N, D}, -1, 1, 74).to_vector();
  const std::vector<float> dout = random_tensor({N, D}, -1, 1, 75).to_vector();
  for (float p : {0.0f, 0.2f}) {
    std::vector<float> out(size_t(N * D)), z(size_t(N * D)), mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N));
    std::vector<uint8_t> mask(size_t(N * D));
    kernels::add_layer_norm_forward(out.data(), z.data(), p > 0 ? mask.data() : nullptr, mean.data(), rstd.data(),
                                    x.data(), y.data(), nullptr, nullptr, N, D, 1e-5f, p, 3, 4);
    std::vector<float> grads[2];
    for (int assign = 0; assign < 2; ++assign) {
      std::vector<float> dx(size_t(N * D), assign ? std::nanf("") : 0.0f), dy = dx;
      kernels::add_layer_norm_backward(dx.data(), dy.data(), nullptr, nullptr, dout.data(), z.data(),
                                       p > 0 ? mask.data() : nullptr, mean.data(), rstd.data(), nullptr, N, D,
                                       1.0f / (1.0f - p), assign == 1, assign == 1);
      grads[assign] = dx;
      grads[assign].insert(grads[assign].end(), dy.begin(), dy.end());
    }
    EXPECT_EQ(grads[1], grads[0]) << "p " << p;
  }
}
