#include "optim/clip.h"

#include <cmath>

namespace attend {
namespace kernels {

// Sum of squares of x: (n), in double.
double sum_squares(const float* x, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

// x: (n) *= s
void scale_inplace(float* x, int64_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n >= kOptimParallelMin)
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace kernels

namespace {

constexpr int64_t kBlock = 1 << 14;  // elements per partial sum; fixed so the result is reproducible

struct Block {
  const float* data;
  int64_t n;
};

}  // namespace

float clip_grad_norm(const NamedParams& params, float max_norm) {
  std::vector<Tensor> grads;
  std::vector<Block> blocks;
  int64_t total_elements = 0;
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    CHECK(g.dtype() == DType::f32 && g.is_contiguous(), "clip_grad_norm: gradient of '{}' is {} (contiguous: {})",
          name, g.str(), g.is_contiguous());
    grads.push_back(g);
    total_elements += g.numel();
    for (int64_t off = 0; off < g.numel(); off += kBlock)
      blocks.push_back({g.data() + off, std::min(kBlock, g.numel() - off)});
  }
  std::vector<double> partial(blocks.size());
  const int64_t nblocks = int64_t(blocks.size());
#pragma omp parallel for schedule(static) if (total_elements >= kOptimParallelMin)
  for (int64_t b = 0; b < nblocks; ++b) partial[b] = kernels::sum_squares(blocks[b].data, blocks[b].n);
  double total = 0;
  for (double s : partial) total += s;
  double norm = std::sqrt(total);

  if (max_norm > 0 && std::isfinite(norm)) {
    double coef = double(max_norm) / (norm + 1e-6);
    if (coef < 1.0)
      for (Tensor& g : grads) kernels::scale_inplace(g.data(), g.numel(), float(coef));
  }
  return float(norm);
}

}  // namespace attend
