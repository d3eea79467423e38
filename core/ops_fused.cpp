// Fused ops: softmax, log_softmax, layer_norm, add_layer_norm, dropout, dropout_add, embedding,
// cross_entropy.
// Each is one forward pass and one backward pass over the data, with the arithmetic
// in core/kernels_fused.cpp.
#include <algorithm>
#include <memory>

#include "core/bf16_weights.h"
#include "core/gemm_bf16.h"
#include "core/kernels_fused.h"
#include "core/linear_bf16.h"
#include "core/ops.h"

namespace attend {
namespace {

// Rows and columns of x seen as (N, D) with D the last axis.
std::pair<int64_t, int64_t> rows_cols(const Tensor& x) {
  const int64_t D = x.size(-1);
  return {D == 0 ? 0 : x.numel() / D, D};
}

void check_last_axis_input(const Tensor& x, const char* op) {
  CHECK(x.defined() && x.dtype() == DType::f32 && x.dim() >= 1,
        "{}: expected an f32 tensor with at least one dim, got {}", op, x.str());
}

bool is_index_dtype(DType t) { return t == DType::i32 || t == DType::i64; }

}  // namespace

// x: (...,D) -> (...,D)
Tensor softmax(const Tensor& x_in) {
  check_last_axis_input(x_in, "softmax");
  Tensor x = x_in.contiguous();
  const auto [N, D] = rows_cols(x);
  Tensor y = Tensor::empty_like(x);
  kernels::softmax_forward(y.data(), x.data(), N, D);
  return autograd::record("softmax", y, {x}, [y, N, D](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::softmax_backward(g.at(0).data(), y.data(), dy.data(), N, D);
  });
}

// x: (...,D) -> (...,D)
Tensor log_softmax(const Tensor& x_in) {
  check_last_axis_input(x_in, "log_softmax");
  Tensor x = x_in.contiguous();
  const auto [N, D] = rows_cols(x);
  Tensor y = Tensor::empty_like(x);
  kernels::log_softmax_forward(y.data(), x.data(), N, D);
  return autograd::record("log_softmax", y, {x}, [y, N, D](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::log_softmax_backward(g.at(0).data(), y.data(), dy.data(), N, D);
  });
}

namespace {

// In bf16 training (activation_dtype() bf16, `inputs` needing gradients) the products that
// take a layer norm's output y read its bf16 copy (bf16_activation): an empty bf16 tensor
// of y's shape for the kernel to write from each row while it is in L1, saving a rounding
// pass over y (written for nothing where no product takes y, e.g. before mean pooling).
// Undefined otherwise.
Tensor shared_bf16_copy(const Tensor& y, const std::vector<Tensor>& inputs) {
  if (activation_dtype() != DType::bf16 || !autograd::needs_grad(inputs)) return Tensor();
  return Tensor::empty(y.shape(), DType::bf16);
}

}  // namespace

// x: (...,D), gamma, beta: (D) or undefined (scale 1, shift 0) -> (...,D)
Tensor layer_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, float eps) {
  check_last_axis_input(x_in, "layer_norm");
  const int64_t D = x_in.size(-1);
  for (const Tensor* p : {&gamma_in, &beta_in})
    CHECK(!p->defined() || (p->dtype() == DType::f32 && p->shape() == Shape{D}),
          "layer_norm: gamma and beta must be f32 of shape [{}] for x of shape {}, got {}", D,
          shape_str(x_in.shape()), p->str());
  CHECK(eps >= 0, "layer_norm: eps must be >= 0, got {}", eps);
  Tensor x = x_in.contiguous();
  Tensor gamma = gamma_in.defined() ? gamma_in.contiguous() : Tensor();
  Tensor beta = beta_in.defined() ? beta_in.contiguous() : Tensor();
  const int64_t N = rows_cols(x).first;
  std::vector<Tensor> inputs{x};
  if (gamma.defined()) inputs.push_back(gamma);
  if (beta.defined()) inputs.push_back(beta);
  Tensor y = Tensor::empty_like(x), mean = Tensor::empty({N}), rstd = Tensor::empty({N});
  const Tensor y16 = shared_bf16_copy(y, inputs);
  kernels::layer_norm_forward(y.data(), mean.data(), rstd.data(), x.data(), gamma.defined() ? gamma.data() : nullptr,
                              beta.defined() ? beta.data() : nullptr, N, D, eps,
                              y16.defined() ? y16.data_as<bf16>() : nullptr);
  if (y16.defined()) share_bf16_activation(y, y16);
  const size_t gamma_at = gamma.defined() ? 1 : 0, beta_at = beta.defined() ? inputs.size() - 1 : 0;
  // y16 is held by the closure (the graph) so that the products that take y find it.
  return autograd::record(
      "layer_norm", y, std::move(inputs),
      [x, gamma, mean, rstd, gamma_at, beta_at, N, D, y16](const Tensor& dy, Grads& g) {
        float* dx = g.wants(0) ? g.at(0).data() : nullptr;
        float* dgamma = gamma_at && g.wants(gamma_at) ? g.at(gamma_at).data() : nullptr;
        float* dbeta = beta_at && g.wants(beta_at) ? g.at(beta_at).data() : nullptr;
        kernels::layer_norm_backward(dx, dgamma, dbeta, dy.data(), x.data(), mean.data(), rstd.data(),
                                     gamma.defined() ? gamma.data() : nullptr, N, D);
      });
}

// x, y: (...,D), gamma/beta: (D) or undefined -> (...,D). p = 0 (or no gen) adds without
// dropout and takes no stream.
Tensor add_layer_norm(const Tensor& x_in, const Tensor& y_in, const Tensor& gamma_in, const Tensor& beta_in,
                      float eps, float p, Generator* gen) {
  check_last_axis_input(x_in, "add_layer_norm");
  CHECK(y_in.defined() && y_in.dtype() == DType::f32 && y_in.shape() == x_in.shape(),
        "add_layer_norm: x and y must be f32 of the same shape, got {} and {}", x_in.str(), y_in.str());
  const int64_t D = x_in.size(-1);
  for (const Tensor* t : {&gamma_in, &beta_in})
    CHECK(!t->defined() || (t->dtype() == DType::f32 && t->shape() == Shape{D}),
          "add_layer_norm: gamma and beta must be f32 of shape [{}] for x of shape {}, got {}", D,
          shape_str(x_in.shape()), t->str());
  CHECK(eps >= 0, "add_layer_norm: eps must be >= 0, got {}", eps);
  CHECK(p >= 0.0f && p < 1.0f, "add_layer_norm: dropout p must be in [0, 1), got {}", p);
  CHECK(p == 0.0f || gen, "add_layer_norm: dropout {} needs a generator", p);
  Tensor x = x_in.contiguous(), y = y_in.contiguous();
  Tensor gamma = gamma_in.defined() ? gamma_in.contiguous() : Tensor();
  Tensor beta = beta_in.defined() ? beta_in.contiguous() : Tensor();
  const int64_t N = rows_cols(x).first;
  const uint64_t stream = p > 0.0f ? gen->next_stream() : 0;
  std::vector<Tensor> inputs{x, y};
  if (gamma.defined()) inputs.push_back(gamma);
  if (beta.defined()) inputs.push_back(beta);
  auto mask = p > 0.0f && autograd::needs_grad({y}) ? std::make_shared<std::vector<uint8_t>>(size_t(N * D)) : nullptr;
  Tensor out = Tensor::empty_like(x), z = Tensor::empty_like(x), mean = Tensor::empty({N}), rstd = Tensor::empty({N});
  const Tensor out16 = shared_bf16_copy(out, inputs);
  kernels::add_layer_norm_forward(out.data(), z.data(), mask ? mask->data() : nullptr, mean.data(), rstd.data(),
                                  x.data(), y.data(), gamma.defined() ? gamma.data() : nullptr,
                                  beta.defined() ? beta.data() : nullptr, N, D, eps, p, p > 0.0f ? gen->seed() : 0,
                                  stream, out16.defined() ? out16.data_as<bf16>() : nullptr);
  if (out16.defined()) share_bf16_activation(out, out16);
  const size_t gamma_at = gamma.defined() ? 2 : 0, beta_at = beta.defined() ? inputs.size() - 1 : 0;
  const float scale = 1.0f / (1.0f - p);
  // out16 is held by the closure (the graph) so that the products that take out find it.
  return autograd::record("add_layer_norm", out, std::move(inputs),
                          [z, gamma, mean, rstd, mask, gamma_at, beta_at, scale, N, D, out16](const Tensor& dout,
                                                                                               Grads& g) {
    // x's and y's gradients are written whole: new buffers are assigned to, not zero-filled
    float beta_x = 1.0f, beta_y = 1.0f;
    float* dx = g.wants(0) ? g.for_write(0, beta_x).data() : nullptr;
    float* dy = g.wants(1) ? g.for_write(1, beta_y).data() : nullptr;
    kernels::add_layer_norm_backward(dx, dy, gamma_at && g.wants(gamma_at) ? g.at(gamma_at).data() : nullptr,
                                     beta_at && g.wants(beta_at) ? g.at(beta_at).data() : nullptr, dout.data(),
                                     z.data(), mask ? mask->data() : nullptr, mean.data(), rstd.data(),
                                     gamma.defined() ? gamma.data() : nullptr, N, D, scale, beta_x == 0.0f,
                                     beta_y == 0.0f);
  });
}

// x: any shape -> same shape. p = 0 returns x itself and takes no stream from gen.
Tensor dropout(const Tensor& x_in, float p, Generator& gen) {
  CHECK(p >= 0.0f && p < 1.0f, "dropout: p must be in [0, 1), got {}", p);
  CHECK(x_in.defined() && x_in.dtype() == DType::f32, "dropout: expected an f32 tensor, got {}", x_in.str());
  if (p == 0.0f) return x_in;
  Tensor x = x_in.contiguous();
  const uint64_t stream = gen.next_stream();
  const int64_t n = x.numel();
  Tensor y = Tensor::empty_like(x);
  // The kept/dropped bit of every element, only when backward will need it.
  auto mask = autograd::needs_grad({x}) ? std::make_shared<std::vector<uint8_t>>(size_t(n)) : nullptr;
  kernels::dropout_forward(y.data(), mask ? mask->data() : nullptr, x.data(), n, p, gen.seed(), stream);
  const float scale = 1.0f / (1.0f - p);
  return autograd::record("dropout", y, {x}, [mask, scale, n](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::dropout_backward(g.at(0).data(), mask->data(), dy.data(), n, scale);
  });
}

// x, y: same shape -> same shape. p = 0 returns x + y and takes no stream from gen.
Tensor dropout_add(const Tensor& x_in, const Tensor& y_in, float p, Generator& gen) {
  CHECK(p >= 0.0f && p < 1.0f, "dropout_add: p must be in [0, 1), got {}", p);
  CHECK(x_in.defined() && y_in.defined() && x_in.dtype() == DType::f32 && y_in.dtype() == DType::f32 &&
            x_in.shape() == y_in.shape(),
        "dropout_add: expected two f32 tensors of the same shape, got {} and {}", x_in.str(), y_in.str());
  if (p == 0.0f) return add(x_in, y_in);
  Tensor x = x_in.contiguous(), y = y_in.contiguous();
  const uint64_t stream = gen.next_stream();
  const int64_t n = x.numel();
  Tensor z = Tensor::empty_like(x);
  // y's kept/dropped bits, only when backward will need them.
  auto mask = autograd::needs_grad({y}) ? std::make_shared<std::vector<uint8_t>>(size_t(n)) : nullptr;
  kernels::dropout_add_forward(z.data(), mask ? mask->data() : nullptr, x.data(), y.data(), n, p, gen.seed(),
                               stream);
  const float scale = 1.0f / (1.0f - p);
  return autograd::record("dropout_add", z, {x, y}, [mask, scale, n](const Tensor& dz, Grads& g) {
    kernels::dropout_add_backward(g.wants(0) ? g.at(0).data() : nullptr, g.wants(1) ? g.at(1).data() : nullptr,
                                  mask ? mask->data() : nullptr, dz.data(), n, scale);
  });
}

// ids: (...) i32/i64, weight: (V,D) -> (...,D)
Tensor embedding(const Tensor& ids, const Tensor& weight_in, int64_t padding_idx) {
  CHECK(ids.defined() && is_index_dtype(ids.dtype()), "embedding: ids must be i32 or i64, got {}", ids.str());
  CHECK(weight_in.defined() && weight_in.dtype() == DType::f32 && weight_in.dim() == 2,
        "embedding: weight must be an f32 (V,D) matrix, got {}", weight_in.str());
  const int64_t V = weight_in.size(0), D = weight_in.size(1);
  CHECK(padding_idx < V, "embedding: padding_idx {} out of range for vocab size {}", padding_idx, V);
  auto idv = std::make_shared<std::vector<int64_t>>(ids.to_ids());
  for (int64_t id : *idv) CHECK(0 <= id && id < V, "embedding: id {} out of range for vocab size {}", id, V);
  Tensor weight = weight_in.contiguous();
  Shape shape = ids.shape();
  shape.push_back(D);
  Tensor y = Tensor::empty(shape);
  const int64_t n = int64_t(idv->size());
  kernels::embedding_forward(y.data(), idv->data(), weight.data(), n, D);
  return autograd::record("embedding", y, {weight}, [idv, n, D, padding_idx](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::embedding_backward(g.at(0).data(), idv->data(), dy.data(), n, D, padding_idx);
  });
}

namespace {

// cross_entropy's targets: (N) ids in [0,V) or ignore_index; *count: those not ignored.
std::shared_ptr<std::vector<int64_t>> checked_targets(const char* op, const Tensor& target, int64_t N, int64_t V,
                                                      const std::string& of, const CrossEntropyOptions& options,
                                                      int64_t* count) {
  CHECK(target.defined() && is_index_dtype(target.dtype()) && target.shape() == Shape{N},
        "{}: target must be i32/i64 of shape [{}] for {}, got {}", op, N, of, target.str());
  CHECK(options.label_smoothing >= 0.0f && options.label_smoothing <= 1.0f,
        "{}: label_smoothing must be in [0, 1], got {}", op, options.label_smoothing);
  auto tv = std::make_shared<std::vector<int64_t>>(target.to_ids());
  *count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = (*tv)[size_t(i)];
    if (t == options.ignore_index) continue;
    CHECK(0 <= t && t < V, "{}: target {} (row {}) out of range for {} classes (ignore_index is {})", op, t, i, V,
          options.ignore_index);
    ++*count;
  }
  return tv;
}

// The per-row losses reduced as asked.
Tensor reduce_loss(const Tensor& loss, Reduction reduction, int64_t count) {
  if (reduction == Reduction::none) return loss;
  double total = 0;  // in row order: independent of the thread count
  for (int64_t i = 0; i < loss.numel(); ++i) total += loss.data()[i];
  // mean over no target is 0/0 = NaN, as in PyTorch
  return Tensor::scalar(reduction == Reduction::sum ? float(total) : float(total / double(count)));
}

// Each row's factor of the loss gradient, from the reduced loss's gradient dy.
std::vector<float> row_scales(const Tensor& dy, Reduction reduction, int64_t N, int64_t count) {
  std::vector<float> scale(static_cast<size_t>(N));
  if (reduction == Reduction::none)
    std::copy(dy.data(), dy.data() + N, scale.begin());
  else
    std::fill(scale.begin(), scale.end(), reduction == Reduction::sum ? dy.item() : dy.item() / float(count));
  return scale;
}

}  // namespace

// logits: (N,V) f32, target: (N) i32/i64 -> scalar, or (N) for Reduction::none
Tensor cross_entropy(const Tensor& logits_in, const Tensor& target, const CrossEntropyOptions& options) {
  CHECK(logits_in.defined() && logits_in.dtype() == DType::f32 && logits_in.dim() == 2,
        "cross_entropy: logits must be f32 (N,V), got {}", logits_in.str());
  const int64_t N = logits_in.size(0), V = logits_in.size(1);
  const float e = options.label_smoothing;
  const int64_t ignore = options.ignore_index;
  int64_t count = 0;
  auto tv = checked_targets("cross_entropy", target, N, V, "logits " + logits_in.str(), options, &count);
  Tensor logits = logits_in.contiguous();
  Tensor loss = Tensor::empty({N}), lse = Tensor::empty({N});
  kernels::cross_entropy_forward(loss.data(), lse.data(), logits.data(), tv->data(), N, V, e, ignore);
  const Tensor y = reduce_loss(loss, options.reduction, count);
  const Reduction reduction = options.reduction;
  return autograd::record(
      "cross_entropy", y, {logits}, [logits, lse, tv, N, V, e, ignore, count, reduction](const Tensor& dy, Grads& g) {
        if (!g.wants(0)) return;
        const std::vector<float> scale = row_scales(dy, reduction, N, count);
        // Nobody else sees the saved logits (the usual case in training): the gradient is
        // written over them rather than into a second (N,V) buffer.
        const bool sole = logits.impl_ptr().use_count() == 1 && logits.impl()->storage.use_count() == 1;
        if (sole && g.adopt(0, logits)) {
          kernels::cross_entropy_backward(logits.data(), logits.data(), lse.data(), tv->data(), scale.data(), N, V, e,
                                          ignore, /*overwrite=*/true);
          return;
        }
        kernels::cross_entropy_backward(g.at(0).data(), logits.data(), lse.data(), tv->data(), scale.data(), N, V, e,
                                        ignore);
      });
}

Tensor linear_cross_entropy(const Tensor& x, const Tensor& w, const Tensor& target,
                            const CrossEntropyOptions& options) {
  CHECK(x.defined() && x.dtype() == DType::f32 && x.dim() == 2, "linear_cross_entropy: x must be f32 (N,D), got {}",
        x.defined() ? x.str() : "undefined");
  CHECK(w.defined() && w.dtype() == DType::f32 && w.dim() == 2 && w.size(1) == x.size(1),
        "linear_cross_entropy: weight must be f32 (V,D) with D = {} (x {}), got {}", x.size(1), x.str(),
        w.defined() ? w.str() : "undefined");
  if (gemm_precision() != GemmPrecision::bf16 || !autograd::grad_enabled() || !x.is_contiguous() ||
      !w.is_contiguous() || x.numel() == 0 || w.numel() == 0)
    return cross_entropy(linear(x, w), target, options);

  // bf16 training: bf16 logits (as autocast's linear makes them), the loss in f32 from
  // them, and their gradient written over them in bf16: the two backward products take it
  // as it is. Holds (N,V) bf16 between the passes, where the composed ops hold f32 logits
  // and then a bf16 copy of their gradient beside them.
  const int64_t N = x.size(0), V = w.size(0);
  const float e = options.label_smoothing;
  const int64_t ignore = options.ignore_index;
  int64_t count = 0;
  auto tv = checked_targets("linear_cross_entropy", target, N, V, fmt::format("x {}", x.str()), options, &count);
  Tensor logits = Tensor::empty({N, V}, DType::bf16);
  const detail::Bf16Linear lin = detail::bf16_linear(x, w, Tensor(), false, logits, autograd::needs_grad({x, w}));
  Tensor loss = Tensor::empty({N}), lse = Tensor::empty({N});
  kernels::cross_entropy_forward(loss.data(), lse.data(), logits.data_as<bf16>(), tv->data(), N, V, e, ignore);
  const Tensor y = reduce_loss(loss, options.reduction, count);
  const Reduction reduction = options.reduction;
  return autograd::record("linear_cross_entropy", y, {x, w},
                          [lin, logits, lse, tv, N, V, e, ignore, count, reduction](const Tensor& dy, Grads& g) {
    if (!g.wants(0) && !g.wants(1)) return;
    const std::vector<float> scale = row_scales(dy, reduction, N, count);
    const Tensor dl = g.retain_graph() ? logits.clone() : logits;  // the logits may be needed again
    kernels::cross_entropy_backward_bf16(dl.data_as<bf16>(), lse.data(), tv->data(), scale.data(), N, V, e, ignore);
    lin.backward(g, dl.data_as<bf16>());
  });
}

}  // namespace attend
