#include "core/tensor.h"

#include <algorithm>
#include <cstring>

#include "core/allocator.h"
#include "core/autograd.h"

namespace attend {

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t normalize_dim(int64_t d, int64_t ndim, const char* op) {
  CHECK(d >= -ndim && d < std::max<int64_t>(ndim, 1), "{}: dim {} out of range for a {}-D tensor", op, d,
        ndim);
  return d < 0 ? d + ndim : d;
}

Storage::Storage(size_t nbytes) : nbytes_(nbytes) { data_ = allocator().allocate(nbytes); }
Storage::~Storage() { allocator().release(data_, nbytes_); }

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t s : shape) CHECK(s >= 0, "cannot create a tensor of shape {}: negative size", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, size_t(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape, DType::f32);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: {} values for shape {}", values.size(),
        shape_str(shape));
  Tensor t = empty(shape, DType::f32);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::from_ids(const std::vector<int32_t>& values, const Shape& shape) {
  CHECK(int64_t(values.size()) == shape_numel(shape), "from_ids: {} values for shape {}", values.size(),
        shape_str(shape));
  Tensor t = empty(shape, DType::i32);
  std::copy(values.begin(), values.end(), t.data_as<int32_t>());
  return t;
}

Tensor Tensor::from_ids64(const std::vector<int64_t>& values, const Shape& shape) {
  CHECK(int64_t(values.size()) == shape_numel(shape), "from_ids64: {} values for shape {}", values.size(),
        shape_str(shape));
  Tensor t = empty(shape, DType::i64);
  std::copy(values.begin(), values.end(), t.data_as<int64_t>());
  return t;
}

int64_t Tensor::size(int64_t d) const { return impl_->shape[size_t(normalize_dim(d, dim(), "size"))]; }
int64_t Tensor::stride(int64_t d) const { return impl_->strides[size_t(normalize_dim(d, dim(), "stride"))]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = impl_->shape.size(); i-- > 0;) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return fmt::format("{}{}", dtype_name(dtype()), shape_str(shape()));
}

float* Tensor::data() const {
  CHECK(defined(), "data() of an undefined tensor");
  CHECK(dtype() == DType::f32, "data(): tensor is {}, expected f32", dtype_name(dtype()));
  return static_cast<float*>(impl_->storage->data()) + impl_->offset;
}

void* Tensor::raw_data() const {
  CHECK(defined(), "raw_data() of an undefined tensor");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * int64_t(dtype_size(dtype()));
}

float Tensor::item() const {
  CHECK(numel() == 1, "item(): tensor has shape {}, expected one element", shape_str(shape()));
  return data()[0];
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = detach().contiguous();
  return std::vector<float>(c.data(), c.data() + c.numel());
}

std::vector<int64_t> Tensor::to_ids() const {
  Tensor c = detach().contiguous();
  std::vector<int64_t> out(size_t(c.numel()));
  if (c.dtype() == DType::i32) {
    std::copy(c.data_as<int32_t>(), c.data_as<int32_t>() + c.numel(), out.begin());
  } else {
    CHECK(c.dtype() == DType::i64, "to_ids(): tensor is {}, expected i32 or i64", dtype_name(c.dtype()));
    std::copy(c.data_as<int64_t>(), c.data_as<int64_t>() + c.numel(), out.begin());
  }
  return out;
}

void Tensor::fill_(float value) {
  CHECK(is_contiguous(), "fill_: tensor {} is not contiguous", str());
  std::fill(data(), data() + numel(), value);
}

Tensor& Tensor::set_requires_grad(bool on) {
  CHECK(is_leaf(), "set_requires_grad: only leaves (tensors not produced by an op) can be marked");
  CHECK(!on || dtype() == DType::f32, "set_requires_grad: only f32 tensors have gradients, got {}",
        dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }
void Tensor::zero_grad() { impl_->grad.reset(); }

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::backward(*this, grad, retain_graph);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

namespace {

// Copies an n-D strided block of `elem`-byte items; the innermost dim is a
// memcpy when both sides are unit-stride there.
void copy_rec(char* dst, const char* src, const Shape& shape, const Shape& dst_strides,
              const Shape& src_strides, size_t d, size_t elem) {
  const int64_t n = shape[d];
  if (d + 1 == shape.size()) {
    if (dst_strides[d] == 1 && src_strides[d] == 1) {
      std::memcpy(dst, src, size_t(n) * elem);
    } else {
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + i * dst_strides[d] * int64_t(elem), src + i * src_strides[d] * int64_t(elem), elem);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    copy_rec(dst + i * dst_strides[d] * int64_t(elem), src + i * src_strides[d] * int64_t(elem), shape,
             dst_strides, src_strides, d + 1, elem);
}

}  // namespace

void copy_strided(const Tensor& dst, const Tensor& src) {
  CHECK(dst.shape() == src.shape(), "copy: shapes differ, {} vs {}", shape_str(dst.shape()),
        shape_str(src.shape()));
  CHECK(dst.dtype() == src.dtype(), "copy: dtypes differ, {} vs {}", dtype_name(dst.dtype()),
        dtype_name(src.dtype()));
  if (dst.numel() == 0) return;
  const size_t elem = dtype_size(src.dtype());
  if (dst.is_contiguous() && src.is_contiguous()) {
    std::memcpy(dst.raw_data(), src.raw_data(), size_t(src.numel()) * elem);
    return;
  }
  if (dst.dim() == 0) {
    std::memcpy(dst.raw_data(), src.raw_data(), elem);
    return;
  }
  copy_rec(static_cast<char*>(dst.raw_data()), static_cast<const char*>(src.raw_data()), src.shape(),
           dst.strides(), src.strides(), 0, elem);
}

}  // namespace attend
