// bf16 copies of weights for mixed-precision linear() (core/gemm_bf16.h): the weight is
// rounded once per call of linear() and serves both its forward product and the
// backward dx = dy @ w. Where weights do not change (decoding), a Bf16WeightCache keeps
// each weight's copy for its lifetime, as PyTorch's model.to(bfloat16) would:
//
//   GemmPrecisionScope bf16(GemmPrecision::bf16);
//   Bf16WeightCache cache;                       // weights must not change while it lives
//   greedy_search(model, src, options);          // each weight rounded once, on first use
//
// The cache is process-wide; nested caches share it and it empties when the outermost
// one ends. Only contiguous f32 weights are cached (keyed by storage, offset and shape).
// While a cache lives, linear() without gradients multiplies by a copy of its weight
// packed once into oneDNN's preferred layout (packed_weight; bf16 or f32 by the gemm
// precision): decoding's products of a few dozen rows then skip the weight copy oneDNN
// makes on each call of a plain weight. The fp32 packed copy adds the weights' size in
// memory; the bf16 one replaces the rounded copy. bf16_activation() does the same for
// inputs of products in training: callers share one copy of a tensor while any holds it.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace attend {

class Bf16WeightCache {
 public:
  Bf16WeightCache();
  ~Bf16WeightCache();
  Bf16WeightCache(const Bf16WeightCache&) = delete;
  Bf16WeightCache& operator=(const Bf16WeightCache&) = delete;
  static int64_t size();  // weights held now
};

// w: contiguous f32 -> bf16 of the same shape: its optimizer's copy while a Bf16CopyScope
// holds it, from the cache while one lives, else rounded now (round to nearest even).
Tensor bf16_weight(const Tensor& w);

// x: contiguous f32 -> its bf16 copy, shared by every caller while any holds it (keyed
// by x's storage, offset and shape), so that products of one input (q/k/v projections,
// cross-attention keys and values of every decoder layer, relu and fc2) keep one copy.
// x must not be written while a copy of it lives.
Tensor bf16_activation(const Tensor& x);

// x: contiguous f32, and x16 its bf16 copy (round to nearest even, x's shape) written by
// the kernel that wrote x, from rows still in cache: bf16_activation(x) returns x16 while
// anyone holds it, instead of rounding x in a pass of its own.
void share_bf16_activation(const Tensor& x, const Tensor& x16);

// While a cache lives: `parts` (contiguous f32 tensors of equal trailing dims: weights or
// biases) concatenated along dim 0, made on first use and kept, so that a product by it
// (packed_weight) packs it once too: decoding multiplies by q|k|v in one product. Null
// when no cache lives. Not differentiable: for inputs that need no gradient.
Tensor cached_concat(const std::vector<Tensor>& parts);

// Parameters' bf16 copies kept by their optimizer (optim/optimizer.h bf16_copies(), in
// bf16 training): while a Bf16CopyScope lives, bf16_weight(w) of such a parameter returns
// its copy instead of rounding w, in forward and backward alike. The copies must be
// current: the optimizer rewrites them in each step(). Scopes may nest; a weight's newest
// registration wins until its scope ends.
//
//   Bf16CopyScope copies(optimizer.bf16_copies());  // (parameter, bf16 copy) pairs
//   loss.backward(); optimizer.step();              // products read the copies
class Bf16CopyScope {
 public:
  explicit Bf16CopyScope(const std::vector<std::pair<Tensor, Tensor>>& copies);
  ~Bf16CopyScope();
  Bf16CopyScope(const Bf16CopyScope&) = delete;
  Bf16CopyScope& operator=(const Bf16CopyScope&) = delete;

 private:
  std::vector<std::pair<Tensor, Tensor>> copies_;
};

namespace detail {
struct PackedWeight;
}
// While a cache lives: w: (N,K) contiguous f32, packed once for products of about `rows`
// rows, in bf16 (rounded to nearest even) or f32; null when no cache lives, w is not a
// contiguous 2-D f32 tensor, the fp32 backend is not oneDNN, or oneDNN cannot pack it.
detail::PackedWeight* packed_weight(const Tensor& w, bool bf16, int64_t rows);

}  // namespace attend
