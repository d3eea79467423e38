// bf16 training converges: a small Seq2Seq learns to copy its source with every matrix
// product in bf16 (fp32 master weights, loss and norms), about as fast as in fp32.
#include <gtest/gtest.h>

#include <random>

#include "core/gemm_bf16.h"
#include "models/seq2seq.h"
#include "optim/factory.h"
#include "tools/train.h"

using namespace attend;

namespace {

// Copy task: tgt = src, ids in [3, 12), length 6, batch 32. Returns the loss of every step.
std::vector<double> train_copy(GemmPrecision precision, int steps) {
  GemmPrecisionScope scope(precision);
  ModelConfig c;
  c.d_model = 32, c.heads = 2, c.ffn_dim = 64, c.encoder_layers = 1, c.decoder_layers = 1;
  c.dropout = 0.0f, c.src_vocab = c.tgt_vocab = 12, c.max_positions = 16;
  std::unique_ptr<Model> model = make_model(c, 7);
  model->train();
  auto opt = make_optimizer(model->named_parameters(), {.name = "adam", .lr = 3e-3f, .beta1 = 0.9, .beta2 = 0.98});
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> token(3, 11);
  const int64_t B = 32, L = 6;
  std::vector<double> losses;
  std::vector<data::Batch> group(1);
  for (int s = 0; s < steps; ++s) {
    std::vector<int32_t> src(B * L), tgt_in(B * (L + 1)), tgt_out(B * (L + 1));
    for (int64_t b = 0; b < B; ++b) {
      tgt_in[b * (L + 1)] = 2;  // <s>
      for (int64_t t = 0; t < L; ++t) {
        const int32_t id = token(rng);
        src[b * L + t] = id;
        tgt_in[b * (L + 1) + t + 1] = id;
        tgt_out[b * (L + 1) + t] = id;
      }
      tgt_out[b * (L + 1) + L] = 1;  // </s>
    }
    data::Batch& batch = group[0];
    batch.src = Tensor::from_ids(src, {B, L});
    batch.tgt_in = Tensor::from_ids(tgt_in, {B, L + 1});
    batch.tgt_out = Tensor::from_ids(tgt_out, {B, L + 1});
    batch.indices.assign(B, 0);
    batch.tgt_tokens = B * (L + 1);
    losses.push_back(training_update(*model, *opt, group, 0.0f, 0.0f, 3e-3f).loss);
  }
  return losses;
}

double mean_of_last(const std::vector<double>& v, size_t n) {
  double s = 0;
  for (size_t i = v.size() - n; i < v.size(); ++i) s += v[i];
  return s / double(n);
}

}  // namespace

TEST(TrainBf16, CopyTaskConvergesLikeFp32) {
  const int steps = 200;
  const std::vector<double> bf16 = train_copy(GemmPrecision::bf16, steps);
  const std::vector<double> fp32 = train_copy(GemmPrecision::fp32, steps);
  EXPECT_GT(bf16.front(), 2.0);  // about ln(12) = 2.48 or more at the start
  const double end_bf16 = mean_of_last(bf16, 20), end_fp32 = mean_of_last(fp32, 20);
  EXPECT_LT(end_bf16, 0.1) << "bf16 training did not learn to copy";
  EXPECT_LT(end_bf16, end_fp32 + 0.05) << "bf16 " << end_bf16 << " vs fp32 " << end_fp32;
  EXPECT_NE(bf16[10], fp32[10]) << "the bf16 run computed exactly what fp32 did: no bf16 products?";
}
