// Tensor: an n-dimensional view (shape, strides, offset, dtype) of shared,
// 64-byte aligned storage from the caching allocator, plus autograd metadata.
//
//   Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
//   Tensor y = x.transpose(0, 1);          // a view: no copy, strides swapped
//   Tensor z = y.contiguous();             // a copy in row-major order
//   x.set_requires_grad(true);             // a leaf whose .grad() backward fills
//
// Tensor is a cheap handle (a shared pointer); copies share the same data.
// View methods (reshape, permute, slice, expand, ...) are differentiable and
// are defined in ops_view.cpp; arithmetic lives in core/ops.h.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace attend {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

// A block of raw memory shared by every view of it; returned to the caching
// allocator when the last view goes away.
class Storage {
 public:
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
};

struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;      // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // leaves only: accumulated by backward()
  std::shared_ptr<Node> grad_fn;     // non-leaves: how to send gradients back
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- creation -----------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, float value);
  static Tensor ones(const Shape& shape) { return full(shape, 1.0f); }
  static Tensor empty_like(const Tensor& x) { return empty(x.shape(), x.dtype()); }
  static Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype()); }
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_ids(const std::vector<int32_t>& values, const Shape& shape);
  static Tensor from_ids64(const std::vector<int64_t>& values, const Shape& shape);
  static Tensor scalar(float value) { return from_vector({value}, {}); }

  // --- metadata -----------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(impl_->shape); }
  bool is_contiguous() const;
  bool shares_storage(const Tensor& other) const { return impl_->storage == other.impl_->storage; }
  std::string str() const;  // "f32[2, 3]"

  // --- data ---------------------------------------------------------------
  float* data() const;  // f32 only; pointer to element 0 of this view
  template <typename T> T* data_as() const {
    CHECK(dtype() == dtype_of<T>(), "data_as: tensor is {}, asked for {}", dtype_name(dtype()),
          dtype_name(dtype_of<T>()));
    return static_cast<T*>(impl_->storage->data()) + impl_->offset;
  }
  void* raw_data() const;  // any dtype; element 0 of this view
  float item() const;      // one-element f32 tensor
  std::vector<float> to_vector() const;      // f32, in row-major order (any strides)
  std::vector<int64_t> to_ids() const;       // i32/i64, in row-major order
  void fill_(float value);                   // in place, f32

  // --- views (differentiable; defined in ops_view.cpp) ---------------------
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;  // this tensor when already contiguous, else a copy
  Tensor clone() const;       // always a copy (differentiable)

  // --- autograd -----------------------------------------------------------
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  Tensor grad() const;  // undefined tensor until backward() reaches this leaf
  void zero_grad();     // drops the accumulated gradient
  // Gradient of this tensor w.r.t. every leaf it depends on. Without `grad` the
  // tensor must hold one element. The graph is freed afterwards unless retain_graph.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same data, no history

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Copies src into dst elementwise (same shape and dtype, any strides).
void copy_strided(const Tensor& dst, const Tensor& src);

// Wrap an existing view description around a storage (used by view ops).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// Negative dims count from the end; checks the range and names the op.
int64_t normalize_dim(int64_t d, int64_t ndim, const char* op);

}  // namespace attend
