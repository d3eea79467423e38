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
#pragma once

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

// w: contiguous f32 -> bf16 of the same shape: from the cache while one lives, else
// rounded now (round to nearest even).
Tensor bf16_weight(const Tensor& w);

}  // namespace attend
