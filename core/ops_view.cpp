// Views: new shape/strides/offset over the same storage, differentiable.
#include <algorithm>
#include <numeric>

#include "core/broadcast.h"
#include "core/kernels.h"
#include "core/kernels_strided.h"
#include "core/ops.h"

namespace attend {
namespace {

// dst_view (any strides, no two elements overlapping) += src (contiguous, same shape):
// the backward of slice and permute. Runs along src's contiguous rows, in parallel
// when large (each dst element is written by exactly one run).
void add_into(const Tensor& dst_view, const Tensor& src) {
  if (src.numel() == 0) return;
  const kernels::RunLayout<1> L = kernels::coalesce<1>(src.shape(), {dst_view.strides()});
  float* d = dst_view.data();
  const float* s = src.data();
  kernels::for_each_run(L, [d, s](int64_t o, const kernels::Offsets<1>& off, int64_t n,
                                  const kernels::Offsets<1>& st) {
    float* dp = d + off[0];
    const float* sp = s + o;
    if (st[0] == 1) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) dp[j] += sp[j];
    } else {
      for (int64_t j = 0; j < n; ++j) dp[j * st[0]] += sp[j];
    }
  });
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  Shape shape = shape_in;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CHECK(infer < 0, "reshape: more than one -1 in {}", shape_str(shape_in));
      infer = int64_t(i);
    } else {
      CHECK(shape[i] >= 0, "reshape: negative size in {}", shape_str(shape_in));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape {} into {}", shape_str(x.shape()),
          shape_str(shape_in));
    shape[size_t(infer)] = x.numel() / known;
  }
  CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape {} ({} elements) into {}",
        shape_str(x.shape()), x.numel(), shape_str(shape_in));
  Tensor base = x.is_contiguous() ? x : contiguous(x);
  Tensor y = make_view(base, shape, contiguous_strides(shape), base.offset());
  return autograd::record("reshape", y, {base}, [in_shape = base.shape()](const Tensor& dy, Grads& g) {
    if (!g.wants(0)) return;
    // A gradient nothing else holds becomes x's gradient as it is, reshaped: no copy.
    const bool sole = dy.is_contiguous() && dy.impl_ptr().use_count() == 1 && dy.impl()->storage.use_count() == 1;
    if (sole && g.adopt(0, make_view(dy, in_shape, contiguous_strides(in_shape), dy.offset()))) return;
    kernels::accumulate(g.at(0).data(), dy.data(), dy.numel());
  });
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims_in) {
  const int64_t nd = x.dim();
  CHECK(int64_t(dims_in.size()) == nd, "permute: {} dims given for a {}-D tensor", dims_in.size(), nd);
  std::vector<int64_t> dims(dims_in.size());
  std::vector<bool> seen(static_cast<size_t>(nd), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    dims[i] = normalize_dim(dims_in[i], nd, "permute");
    CHECK(!seen[size_t(dims[i])], "permute: dim {} repeated in [{}]", dims[i], fmt::join(dims_in, ", "));
    seen[size_t(dims[i])] = true;
  }
  Shape shape(static_cast<size_t>(nd)), strides(static_cast<size_t>(nd));
  for (int64_t i = 0; i < nd; ++i) {
    shape[size_t(i)] = x.shape()[size_t(dims[size_t(i)])];
    strides[size_t(i)] = x.strides()[size_t(dims[size_t(i)])];
  }
  Tensor y = make_view(x, shape, strides, x.offset());
  return autograd::record("permute", y, {x}, [dims, shape](const Tensor& dy, Grads& g) {
    if (!g.wants(0)) return;
    // dx seen through the permutation has dy's shape: add dy into that view, no copy.
    const Tensor& dx = g.at(0);
    Shape view_strides(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) view_strides[i] = dx.strides()[size_t(dims[i])];
    add_into(make_view(dx, shape, view_strides, dx.offset()), dy);
  });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  const int64_t nd = x.dim();
  d0 = normalize_dim(d0, nd, "transpose");
  d1 = normalize_dim(d1, nd, "transpose");
  std::vector<int64_t> dims(static_cast<size_t>(nd));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(d0)], dims[size_t(d1)]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  dim = normalize_dim(dim, x.dim(), "slice");
  const int64_t n = x.shape()[size_t(dim)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  CHECK(0 <= start && start <= end && end <= n, "slice: range [{}, {}) out of bounds for dim {} of size {}",
        start, end, dim, n);
  Shape shape = x.shape();
  shape[size_t(dim)] = end - start;
  Tensor y = make_view(x, shape, x.strides(), x.offset() + start * x.strides()[size_t(dim)]);
  return autograd::record("slice", y, {x}, [dim, start, end](const Tensor& dy, Grads& g) {
    if (g.wants(0)) add_into(slice(g.at(0).detach(), dim, start, end), dy);
  });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  CHECK(int64_t(shape.size()) >= x.dim(), "expand: cannot expand {} to fewer dims {}", shape_str(x.shape()),
        shape_str(shape));
  const size_t lead = shape.size() - size_t(x.dim());
  Shape strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) continue;
    const int64_t have = x.shape()[i - lead];
    if (have == shape[i]) {
      strides[i] = x.strides()[i - lead];
    } else {
      CHECK(have == 1, "expand: cannot expand {} to {} (dim {} has size {}, not 1)", shape_str(x.shape()),
            shape_str(shape), i - lead, have);
    }
  }
  Tensor y = make_view(x, shape, strides, x.offset());
  return autograd::record("expand", y, {x}, [](const Tensor& dy, Grads& g) {
    if (!g.wants(0)) return;
    const Tensor& dx = g.at(0);
    sum_to_accumulate(dx.data(), dx.shape(), dy);
  });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + dim, 1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "squeeze");
  CHECK(x.shape()[size_t(dim)] == 1, "squeeze: dim {} of {} has size {}, not 1", dim, shape_str(x.shape()),
        x.shape()[size_t(dim)]);
  Shape shape = x.shape();
  shape.erase(shape.begin() + dim);
  return reshape(x, shape);
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  copy_strided(y, x);
  // bf16 activations (bf16 training) pass their f32 gradient through the copy too
  if (x.dtype() != DType::f32 && x.dtype() != DType::bf16) return y;
  return autograd::record("contiguous", y, {x}, [](const Tensor& dy, Grads& g) {
    if (g.wants(0)) {
      kernels::accumulate(g.at(0).data(), dy.data(), dy.numel());
    }
  });
}

Tensor Tensor::reshape(const Shape& shape) const { return attend::reshape(*this, shape); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return attend::permute(*this, dims); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return attend::transpose(*this, d0, d1); }
Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end) const {
  return attend::slice(*this, dim, start, end);
}
Tensor Tensor::expand(const Shape& shape) const { return attend::expand(*this, shape); }
Tensor Tensor::unsqueeze(int64_t dim) const { return attend::unsqueeze(*this, dim); }
Tensor Tensor::squeeze(int64_t dim) const { return attend::squeeze(*this, dim); }
Tensor Tensor::contiguous() const { return attend::contiguous(*this); }

Tensor Tensor::clone() const {
  Tensor y = Tensor::empty(shape(), dtype());
  copy_strided(y, *this);
  if (dtype() != DType::f32) return y;
  return autograd::record("clone", y, {*this}, [](const Tensor& dy, Grads& g) {
    if (g.wants(0)) {
      kernels::accumulate(g.at(0).data(), dy.data(), dy.numel());
    }
  });
}

}  // namespace attend
