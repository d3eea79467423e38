// Shape ops that copy: concat, index_select, dtype casts; and split (views).
// concat and index_select work on every dtype (gradients for f32 only).
#include <cstring>
#include <numeric>
#include <type_traits>

#include "core/broadcast.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace attend {
namespace {

int64_t check_dim(const Tensor& x, int64_t d, const char* op) {
  const int64_t nd = x.dim();
  CHECK(d >= -nd && d < nd, "{}: dim {} out of range for shape {}", op, d, shape_str(x.shape()));
  return d < 0 ? d + nd : d;
}

// Sizes of the dims before and after d.
std::pair<int64_t, int64_t> outer_inner(const Shape& s, int64_t d) {
  const int64_t outer = std::accumulate(s.begin(), s.begin() + d, int64_t(1), std::multiplies<>());
  const int64_t inner = std::accumulate(s.begin() + d + 1, s.end(), int64_t(1), std::multiplies<>());
  return {outer, inner};
}

// x: (O,N,I) of `elem`-byte items, idx: (n) -> y: (O,n,I); y[o,j,:] = x[o,idx[j],:]
void index_select_forward(char* y, const char* x, const int64_t* idx, int64_t O, int64_t N, int64_t n,
                          int64_t I, size_t elem) {
  const size_t row = size_t(I) * elem;
#pragma omp parallel for schedule(static) if (O * n * I > kernels::kParallelMin)
  for (int64_t k = 0; k < O * n; ++k) {
    const int64_t o = k / n, j = k % n;
    std::memcpy(y + size_t(k) * row, x + size_t(o * N + idx[j]) * row, row);
  }
}
// dx: (O,N,I) += scatter of dy: (O,n,I) by idx; j in order per column block (fixed order
// for repeated indices), parallel over (o, column block).
void index_select_backward(float* dx, const float* dy, const int64_t* idx, int64_t O, int64_t N, int64_t n,
                           int64_t I) {
  constexpr int64_t kCols = 256;
  const int64_t blocks = (I + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (O * n * I > kernels::kParallelMin)
  for (int64_t u = 0; u < O * blocks; ++u) {
    const int64_t o = u / blocks, c0 = (u % blocks) * kCols, w = std::min(kCols, I - c0);
    for (int64_t j = 0; j < n; ++j) {
      float* d = dx + (o * N + idx[j]) * I + c0;
      const float* s = dy + (o * n + j) * I + c0;
      for (int64_t c = 0; c < w; ++c) d[c] += s[c];
    }
  }
}

template <typename F> void with_type(DType t, F f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::bf16: return f(bf16{});
  }
}

// One element from S to D: floats to integers truncate toward zero; bf16 goes through f32.
template <typename D, typename S> inline D cast_to(S v) {
  if constexpr (std::is_same_v<D, bf16>) {
    return to_bf16(float(v));
  } else if constexpr (std::is_same_v<S, bf16>) {
    return D(from_bf16(v));
  } else {
    return D(v);
  }
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  CHECK(!xs.empty(), "concat: no tensors given");
  for (size_t i = 0; i < xs.size(); ++i) CHECK(xs[i].defined(), "concat: tensor {} is undefined", i);
  const Tensor& first = xs[0];
  const int64_t d = check_dim(first, dim, "concat");
  Shape out = first.shape();
  out[size_t(d)] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    CHECK(x.dtype() == first.dtype(), "concat: tensor {} is {}, tensor 0 is {}", i, x.str(), first.str());
    bool agree = x.dim() == first.dim();
    for (int64_t k = 0; agree && k < x.dim(); ++k) agree = k == d || x.shape()[size_t(k)] == first.shape()[size_t(k)];
    CHECK(agree, "concat: shapes {} and {} differ outside dim {}", shape_str(first.shape()), shape_str(x.shape()),
          d);
    out[size_t(d)] += x.shape()[size_t(d)];
  }
  Tensor y = Tensor::empty(out, first.dtype());
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& x : xs) {
    const int64_t n = x.shape()[size_t(d)];
    starts.push_back(start);
    copy_strided(y.slice(d, start, start + n), x.detach());
    start += n;
  }
  if (first.dtype() != DType::f32) return y;
  return autograd::record("concat", y, xs, [d, starts](const Tensor& dy, Grads& g) {
    for (size_t i = 0; i < starts.size(); ++i) {
      if (!g.wants(i)) continue;
      float beta = 1.0f;
      const Tensor& dx = g.for_write(i, beta);  // a new buffer is copied into, not zero-filled and added to
      const Tensor part = dy.detach().slice(d, starts[i], starts[i] + dx.shape()[size_t(d)]);
      if (beta == 0.0f) copy_strided(dx, part);
      else sum_to_accumulate(dx.data(), dx.shape(), part);
    }
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  CHECK(x.defined(), "split: got an undefined tensor");
  const int64_t d = check_dim(x, dim, "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    CHECK(s >= 0, "split: negative size in [{}]", fmt::join(sizes, ", "));
    total += s;
  }
  CHECK(total == x.shape()[size_t(d)], "split: sizes [{}] sum to {}, but dim {} of shape {} has size {}",
        fmt::join(sizes, ", "), total, d, shape_str(x.shape()), x.shape()[size_t(d)]);
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(x.slice(d, start, start + s));
    start += s;
  }
  return parts;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  CHECK(x.defined() && index.defined(), "index_select: got an undefined tensor");
  CHECK(index.dtype() == DType::i32 || index.dtype() == DType::i64, "index_select: index must be i32 or i64, got {}",
        index.str());
  CHECK(index.dim() == 1, "index_select: index must be 1-D, got {}", index.str());
  const int64_t d = check_dim(x, dim, "index_select");
  const int64_t N = x.shape()[size_t(d)];
  std::vector<int64_t> idx = index.to_ids();
  for (int64_t v : idx)
    CHECK(0 <= v && v < N, "index_select: index {} out of range for dim {} of size {} (shape {})", v, d, N,
          shape_str(x.shape()));
  const auto [O, I] = outer_inner(x.shape(), d);
  const int64_t n = int64_t(idx.size());
  Shape out = x.shape();
  out[size_t(d)] = n;
  Tensor y = Tensor::empty(out, x.dtype());
  Tensor xc = x.detach().contiguous();
  index_select_forward(static_cast<char*>(y.raw_data()), static_cast<const char*>(xc.raw_data()), idx.data(), O, N,
                       n, I, dtype_size(x.dtype()));
  if (x.dtype() != DType::f32) return y;
  return autograd::record("index_select", y, {x}, [idx = std::move(idx), O, N, n, I](const Tensor& dy, Grads& g) {
    if (g.wants(0)) index_select_backward(g.at(0).data(), dy.data(), idx.data(), O, N, n, I);
  });
}

// The same dtype returns x itself (no copy; its history, if any, is kept).
Tensor to_dtype(const Tensor& x, DType dtype) {
  CHECK(x.defined(), "to_dtype: got an undefined tensor");
  if (x.dtype() == dtype) return x;
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), dtype);
  const int64_t n = x.numel();
  with_type(x.dtype(), [&](auto s) {
    using S = decltype(s);
    with_type(dtype, [&](auto t) {
      using D = decltype(t);
      if constexpr (!std::is_same_v<S, D>) {
        const S* src = static_cast<const S*>(xc.raw_data());
        D* dst = static_cast<D*>(y.raw_data());
        kernels::parallel_for_each(n, [=](int64_t i) { dst[i] = cast_to<D>(src[i]); });
      }
    });
  });
  return y;
}

}  // namespace attend
