#include "core/broadcast.h"

#include <algorithm>
#include <vector>

namespace attend {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast", op, shape_str(a),
          shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& x, const Shape& out) {
  const size_t lead = out.size() - size_t(x.dim());
  Shape strides(out.size(), 0);
  for (size_t i = lead; i < out.size(); ++i)
    strides[i] = x.shape()[i - lead] == 1 ? 0 : x.strides()[i - lead];
  return strides;
}

void sum_to_accumulate(float* dst, const Shape& dst_shape, const Tensor& src) {
  const Shape& shape = src.shape();
  const size_t nd = shape.size();
  CHECK(dst_shape.size() <= nd, "sum_to: cannot reduce {} to {}", shape_str(shape), shape_str(dst_shape));
  // Strides into dst for each src dim: 0 where dst is broadcast.
  const size_t lead = nd - dst_shape.size();
  const Shape dst_contig = contiguous_strides(dst_shape);
  Shape dstr(nd, 0);
  for (size_t i = lead; i < nd; ++i) {
    CHECK(dst_shape[i - lead] == shape[i] || dst_shape[i - lead] == 1, "sum_to: cannot reduce {} to {}",
          shape_str(shape), shape_str(dst_shape));
    dstr[i] = dst_shape[i - lead] == 1 ? 0 : dst_contig[i - lead];
  }
  const int64_t n = src.numel();
  if (n == 0) return;
  const float* s = src.data();
  if (nd == 0) {
    dst[0] += s[0];
    return;
  }
  const Shape& sstr = src.strides();
  const int64_t inner = shape[nd - 1];
  const int64_t ds_in = dstr[nd - 1], ss_in = sstr[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  for (int64_t outer = 0; outer < n / std::max<int64_t>(inner, 1); ++outer) {
    int64_t doff = 0, soff = 0;
    for (size_t k = 0; k + 1 < nd; ++k) doff += idx[k] * dstr[k], soff += idx[k] * sstr[k];
    float* d = dst + doff;
    const float* p = s + soff;
    if (ds_in == 0) {
      float acc = 0;
      for (int64_t j = 0; j < inner; ++j) acc += p[j * ss_in];
      d[0] += acc;
    } else {
      for (int64_t j = 0; j < inner; ++j) d[j * ds_in] += p[j * ss_in];
    }
    for (size_t k = nd - 1; k-- > 0;) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

}  // namespace attend
