// Reductions: sum and mean over all or some dims, max and argmax over one dim.
// Sums use the fixed-order kernels of kernels_reduce.h, so results do not depend
// on the thread count. The input is viewed as blocks of kept (K) and reduced (R)
// dims: (R), (K,R), (R,K) and (K,R,K) reduce in place; other patterns are first
// permuted to (K,R) by a copy.
#include <numeric>

#include "core/broadcast.h"
#include "core/kernels_reduce.h"
#include "core/kernels_strided.h"
#include "core/kernels_unary.h"
#include "core/ops.h"

namespace attend {
namespace {

int64_t check_dim(const Tensor& x, int64_t d, const char* op) {
  const int64_t nd = x.dim();
  CHECK(d >= -nd && d < nd, "{}: dim {} out of range for shape {}", op, d, shape_str(x.shape()));
  return d < 0 ? d + nd : d;
}

// Flags of the dims to reduce; repeated dims are an error.
std::vector<bool> reduced_flags(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  std::vector<bool> r(size_t(x.dim()), false);
  for (int64_t d : dims) {
    const int64_t k = check_dim(x, d, op);
    CHECK(!r[size_t(k)], "{}: dim {} repeated in [{}] for shape {}", op, d, fmt::join(dims, ", "),
          shape_str(x.shape()));
    r[size_t(k)] = true;
  }
  return r;
}

Shape reduced_shape(const Shape& s, const std::vector<bool>& r, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    if (!r[d]) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// y (contiguous, the kept dims) = scale * sum of x (contiguous) over the dims flagged in r.
void sum_forward(float* y, const Tensor& x, const std::vector<bool>& r, float scale) {
  const int64_t n = x.numel();
  if (n == 0) {
    const int64_t m = shape_numel(reduced_shape(x.shape(), r, false));
    for (int64_t i = 0; i < m; ++i) y[i] = float(scale * 0.0);  // mean of nothing is NaN
    return;
  }
  struct Block {
    int64_t size;
    bool reduced;
  };
  std::vector<Block> blocks;
  for (size_t d = 0; d < r.size(); ++d) {
    if (x.shape()[d] == 1) continue;
    if (!blocks.empty() && blocks.back().reduced == r[d]) blocks.back().size *= x.shape()[d];
    else blocks.push_back({x.shape()[d], r[d]});
  }
  const float* px = x.data();
  auto is = [&](std::initializer_list<bool> pattern) {
    if (blocks.size() != pattern.size()) return false;
    size_t i = 0;
    for (bool p : pattern)
      if (blocks[i++].reduced != p) return false;
    return true;
  };
  if (blocks.empty() || is({false})) {  // nothing of size > 1 is reduced
    kernels::scale_add_forward(y, px, scale, 0.0f, n);
  } else if (is({true})) {
    y[0] = float(scale * kernels::sum_contiguous(px, n, n > kernels::kParallelMin));
  } else if (is({false, true})) {
    kernels::sum_rows(y, px, blocks[0].size, blocks[1].size, scale);
  } else if (is({true, false})) {
    kernels::sum_mid(y, px, 1, blocks[0].size, blocks[1].size, scale, false);
  } else if (is({false, true, false})) {
    kernels::sum_mid(y, px, blocks[0].size, blocks[1].size, blocks[2].size, scale, false);
  } else {
    std::vector<int64_t> perm;
    int64_t kept = 1;
    for (size_t d = 0; d < r.size(); ++d)
      if (!r[d]) perm.push_back(int64_t(d)), kept *= x.shape()[d];
    for (size_t d = 0; d < r.size(); ++d)
      if (r[d]) perm.push_back(int64_t(d));
    Tensor xp = x.permute(perm).contiguous();
    kernels::sum_rows(y, xp.data(), kept, n / kept, scale);
  }
}

// dx (contiguous, shape x_shape) += scale * dy broadcast back over the reduced dims;
// dy: contiguous, shape reduced_shape(x_shape, r, keepdim).
void sum_backward(float* dx, const Shape& x_shape, const Tensor& dy, const std::vector<bool>& r, float scale) {
  Tensor dy_keep = dy.detach().reshape(reduced_shape(x_shape, r, true));
  auto layout = kernels::coalesce<1>(x_shape, {broadcast_strides(dy_keep, x_shape)});
  const float* pdy = dy_keep.data();
  kernels::for_each_run(layout, [&](int64_t o, const kernels::Offsets<1>& off, int64_t n, const kernels::Offsets<1>& st) {
    kernels::with_strides(st[0], 1, [&](auto s, auto) {
      for (int64_t j = 0; j < n; ++j) dx[o + j] += scale * pdy[off[0] + j * s];
    });
  });
}

Tensor reduce_sum(const Tensor& x, const std::vector<bool>& r, bool keepdim, bool mean, const char* op) {
  CHECK(x.defined(), "{}: got an undefined tensor", op);
  CHECK(x.dtype() == DType::f32, "{}: expected an f32 tensor, got {}", op, x.str());
  int64_t count = 1;
  for (size_t d = 0; d < r.size(); ++d)
    if (r[d]) count *= x.shape()[d];
  const float scale = mean ? 1.0f / float(count) : 1.0f;
  Tensor y = Tensor::empty(reduced_shape(x.shape(), r, keepdim));
  sum_forward(y.data(), x.detach().contiguous(), r, scale);
  return autograd::record(op, y, {x}, [r, scale](const Tensor& dy, Grads& g) {
    if (g.wants(0)) sum_backward(g.at(0).data(), g.at(0).shape(), dy, r, scale);
  });
}

// x: (R) -> index of the first maximum (NaN counts as largest): a vectorised max, then a search.
int64_t argmax_row(const float* x, int64_t R) {
  float m = x[0];
  bool nan = false;
#pragma omp simd reduction(max : m) reduction(|| : nan)
  for (int64_t r = 0; r < R; ++r) {
    m = x[r] > m ? x[r] : m;
    nan = nan || x[r] != x[r];
  }
  int64_t r = 0;
  if (nan) {
    while (x[r] == x[r]) ++r;
  } else {
    while (x[r] != m) ++r;
  }
  return r;
}

// x: (O,R,I) -> values, index: (O,I); the first maximum along R (NaN counts as largest).
void max_forward(float* values, int64_t* index, const float* x, int64_t O, int64_t R, int64_t I) {
  if (I == 1) {
#pragma omp parallel for schedule(static) if (O * R > kernels::kParallelMin)
    for (int64_t o = 0; o < O; ++o) {
      index[o] = argmax_row(x + o * R, R);
      if (values) values[o] = x[o * R + index[o]];
    }
    return;
  }
  constexpr int64_t kCols = 64;
  const int64_t blocks = (I + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (O * R * I > kernels::kParallelMin)
  for (int64_t u = 0; u < O * blocks; ++u) {
    const int64_t o = u / blocks, c0 = (u % blocks) * kCols, w = std::min(kCols, I - c0);
    float best[kCols];
    int64_t arg[kCols] = {};
    const float* base = x + o * R * I + c0;
    for (int64_t j = 0; j < w; ++j) best[j] = base[j];
    for (int64_t r = 1; r < R; ++r) {
      const float* row = base + r * I;
      for (int64_t j = 0; j < w; ++j) {
        const float v = row[j];
        if (v > best[j] || (v != v && best[j] == best[j])) best[j] = v, arg[j] = r;
      }
    }
    for (int64_t j = 0; j < w; ++j) {
      if (values) values[o * I + c0 + j] = best[j];
      index[o * I + c0 + j] = arg[j];
    }
  }
}

struct MaxResult {
  Tensor values, index;
};

MaxResult max_impl(const Tensor& x_in, int64_t dim, bool keepdim, bool want_values, const char* op) {
  CHECK(x_in.defined(), "{}: got an undefined tensor", op);
  CHECK(x_in.dtype() == DType::f32, "{}: expected an f32 tensor, got {}", op, x_in.str());
  const int64_t d = check_dim(x_in, dim, op);
  const Shape& s = x_in.shape();
  const int64_t R = s[size_t(d)];
  CHECK(R > 0, "{}: dim {} of shape {} is empty", op, dim, shape_str(s));
  const int64_t O = std::accumulate(s.begin(), s.begin() + d, int64_t(1), std::multiplies<>());
  const int64_t I = std::accumulate(s.begin() + d + 1, s.end(), int64_t(1), std::multiplies<>());
  std::vector<bool> r(s.size(), false);
  r[size_t(d)] = true;
  const Shape out = reduced_shape(s, r, keepdim);
  MaxResult res{want_values ? Tensor::empty(out) : Tensor(), Tensor::empty(out, DType::i64)};
  Tensor x = x_in.detach().contiguous();
  max_forward(want_values ? res.values.data() : nullptr, res.index.data_as<int64_t>(), x.data(), O, R, I);
  return res;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_sum(x, std::vector<bool>(size_t(x.dim()), true), false, false, "sum"); }

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum(x, reduced_flags(x, dims, "sum"), keepdim, false, "sum");
}

Tensor mean(const Tensor& x) { return reduce_sum(x, std::vector<bool>(size_t(x.dim()), true), false, true, "mean"); }

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum(x, reduced_flags(x, dims, "mean"), keepdim, true, "mean");
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  MaxResult m = max_impl(x, dim, keepdim, true, "max");
  const int64_t d = check_dim(x, dim, "max");
  const Shape& s = x.shape();
  const int64_t R = s[size_t(d)], I = std::accumulate(s.begin() + d + 1, s.end(), int64_t(1), std::multiplies<>());
  return autograd::record("max", m.values, {x}, [index = m.index, R, I](const Tensor& dy, Grads& g) {
    if (!g.wants(0)) return;
    float* dx = g.at(0).data();
    const float* pdy = dy.data();
    const int64_t* idx = index.data_as<int64_t>();
    for (int64_t k = 0; k < index.numel(); ++k) {  // k = o*I + i
      const int64_t o = k / I, i = k % I;
      dx[(o * R + idx[k]) * I + i] += pdy[k];
    }
  });
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return max_impl(x, dim, keepdim, false, "argmax").index;
}

}  // namespace attend
