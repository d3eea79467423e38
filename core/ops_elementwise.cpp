// Elementwise ops: binary arithmetic with NumPy broadcasting, scalar and unary maps,
// masked_fill and where. Unary kernels live in kernels_unary.h; broadcast loops run
// through kernels_strided.h. Binary ops take two fast paths before the general
// strided loop: equal-shape contiguous operands (one flat run) and the bias case
// (...,D) op (D) (rows of D); gradients of the bias operand are column sums.
#include <cmath>

#include "core/broadcast.h"
#include "core/kernels.h"
#include "core/kernels_reduce.h"
#include "core/kernels_strided.h"
#include "core/kernels_unary.h"
#include "core/ops.h"

namespace attend {
namespace {

using kernels::Offsets;

void check_f32(const Tensor& t, const char* op) {
  CHECK(t.defined(), "{}: got an undefined tensor", op);
  CHECK(t.dtype() == DType::f32, "{}: expected an f32 tensor, got {}", op, t.str());
}

// Non-contiguous inputs of unary ops are copied (differentiably) first.
Tensor unary_input(const Tensor& x, const char* op) {
  check_f32(x, op);
  return x.contiguous();
}

// Whether an input of shape `s` is a (D) row repeated over an output of shape out (...,D).
bool is_row(const Shape& s, const Shape& out) {
  if (out.empty() || s == out || s.empty()) return false;
  return out.back() > 0 && s.back() == out.back() && shape_numel(s) == out.back();
}

// g (contiguous, an input's shape) += scale * t summed down to that shape; t: contiguous at `out`.
void reduce_into(const Tensor& g, const Tensor& t, const Shape& out, float scale) {
  if (g.shape() == out) {
    kernels::axpy(g.data(), scale, t.data(), t.numel());
  } else if (is_row(g.shape(), out)) {
    kernels::sum_mid(g.data(), t.data(), 1, t.numel() / out.back(), out.back(), scale, true);
  } else if (scale == 1.0f) {
    sum_to_accumulate(g.data(), g.shape(), t);
  } else {
    Tensor tmp = Tensor::zeros(g.shape());
    sum_to_accumulate(tmp.data(), g.shape(), t);
    kernels::axpy(g.data(), scale, tmp.data(), tmp.numel());
  }
}

struct BinaryPlan {
  Shape out;
  kernels::RunLayout<2> layout;  // a, b at shape out
};

BinaryPlan plan_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_f32(a, op);
  check_f32(b, op);
  BinaryPlan p;
  p.out = broadcast_shapes(a.shape(), b.shape(), op);
  const int64_t n = shape_numel(p.out);
  const bool a_full = a.shape() == p.out && a.is_contiguous();
  const bool b_full = b.shape() == p.out && b.is_contiguous();
  if (a_full && b_full) {  // fast path: one flat run
    p.layout = {{n}, {Shape{1}, Shape{1}}};
  } else if (a_full && b.is_contiguous() && is_row(b.shape(), p.out)) {  // (...,D) op (D)
    const int64_t d = p.out.back();
    p.layout = {{n / d, d}, {Shape{d, 1}, Shape{0, 1}}};
  } else if (b_full && a.is_contiguous() && is_row(a.shape(), p.out)) {  // (D) op (...,D)
    const int64_t d = p.out.back();
    p.layout = {{n / d, d}, {Shape{0, 1}, Shape{d, 1}}};
  } else {
    p.layout = kernels::coalesce<2>(p.out, {broadcast_strides(a, p.out), broadcast_strides(b, p.out)});
  }
  return p;
}

// y = op(a, b) over the plan; a, b: broadcastable -> y: (out), contiguous
template <typename Op> Tensor binary_forward(const BinaryPlan& p, const Tensor& a, const Tensor& b, Op op) {
  Tensor y = Tensor::empty(p.out);
  float* py = y.data();
  const float *pa = a.data(), *pb = b.data();
  kernels::for_each_run(p.layout, [&](int64_t o, const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
    float* yo = py + o;
    const float *ao = pa + off[0], *bo = pb + off[1];
    kernels::with_strides(st[0], st[1], [&](auto sa, auto sb) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) yo[j] = op(ao[j * sa], bo[j * sb]);
    });
  });
  return y;
}

// g (an input's gradient) += dy * h(a, b, y), summed to g's shape; dy, y: contiguous (out).
// y may be undefined when h does not read it.
template <typename H>
void binary_backward(const Tensor& g, const BinaryPlan& p, const Tensor& a, const Tensor& b, const Tensor& y,
                     const Tensor& dy, H h) {
  const bool direct = g.shape() == p.out;
  Tensor t = direct ? g : Tensor::empty(p.out);
  float* pt = t.data();
  const float *pa = a.data(), *pb = b.data(), *pdy = dy.data();
  const float* py = y.defined() ? y.data() : pdy;
  kernels::for_each_run(p.layout, [&](int64_t o, const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
    float* to = pt + o;
    const float *ao = pa + off[0], *bo = pb + off[1], *dyo = pdy + o, *yo = py + o;
    kernels::with_strides(st[0], st[1], [&](auto sa, auto sb) {
      if (direct) {
        for (int64_t j = 0; j < n; ++j) to[j] += dyo[j] * h(ao[j * sa], bo[j * sb], yo[j]);
      } else {
        for (int64_t j = 0; j < n; ++j) to[j] = dyo[j] * h(ao[j * sa], bo[j * sb], yo[j]);
      }
    });
  });
  if (!direct) reduce_into(g, t, p.out, 1.0f);
}

// Masks and conditions of any dtype: nonzero means true (bf16: any nonzero magnitude).
inline bool nonzero(float v) { return v != 0.0f; }
inline bool nonzero(int32_t v) { return v != 0; }
inline bool nonzero(int64_t v) { return v != 0; }
inline bool nonzero(uint16_t bf16_bits) { return (bf16_bits & 0x7fffu) != 0; }

template <typename F> void with_mask_type(const Tensor& m, F f) {
  switch (m.dtype()) {
    case DType::f32: return f(static_cast<const float*>(m.raw_data()));
    case DType::i32: return f(static_cast<const int32_t*>(m.raw_data()));
    case DType::i64: return f(static_cast<const int64_t*>(m.raw_data()));
    case DType::bf16: return f(static_cast<const uint16_t*>(m.raw_data()));
  }
}

}  // namespace

// --- binary ---------------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  BinaryPlan p = plan_binary(a, b, "add");
  Tensor y = binary_forward(p, a, b, [](float u, float v) { return u + v; });
  return autograd::record("add", y, {a, b}, [out = p.out](const Tensor& dy, Grads& g) {
    if (g.wants(0)) reduce_into(g.at(0), dy, out, 1.0f);
    if (g.wants(1)) reduce_into(g.at(1), dy, out, 1.0f);
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  BinaryPlan p = plan_binary(a, b, "sub");
  Tensor y = binary_forward(p, a, b, [](float u, float v) { return u - v; });
  return autograd::record("sub", y, {a, b}, [out = p.out](const Tensor& dy, Grads& g) {
    if (g.wants(0)) reduce_into(g.at(0), dy, out, 1.0f);
    if (g.wants(1)) reduce_into(g.at(1), dy, out, -1.0f);
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  BinaryPlan p = plan_binary(a, b, "mul");
  Tensor y = binary_forward(p, a, b, [](float u, float v) { return u * v; });
  return autograd::record("mul", y, {a, b}, [p, a, b](const Tensor& dy, Grads& g) {
    if (g.wants(0)) binary_backward(g.at(0), p, a, b, Tensor(), dy, [](float, float v, float) { return v; });
    if (g.wants(1)) binary_backward(g.at(1), p, a, b, Tensor(), dy, [](float u, float, float) { return u; });
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  BinaryPlan p = plan_binary(a, b, "div");
  Tensor y = binary_forward(p, a, b, [](float u, float v) { return u / v; });
  return autograd::record("div", y, {a, b}, [p, a, b, y](const Tensor& dy, Grads& g) {
    if (g.wants(0)) binary_backward(g.at(0), p, a, b, Tensor(), dy, [](float, float v, float) { return 1.0f / v; });
    if (g.wants(1)) binary_backward(g.at(1), p, a, b, y, dy, [](float, float v, float r) { return -r / v; });
  });
}

// --- scalar and unary -------------------------------------------------------------------

Tensor add(const Tensor& x_in, float s) {
  Tensor x = unary_input(x_in, "add");
  Tensor y = Tensor::empty_like(x);
  kernels::scale_add_forward(y.data(), x.data(), 1.0f, s, x.numel());
  return autograd::record("add_scalar", y, {x}, [](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::axpy(g.at(0).data(), 1.0f, dy.data(), dy.numel());
  });
}

Tensor mul(const Tensor& x_in, float s) {
  Tensor x = unary_input(x_in, "mul");
  Tensor y = Tensor::empty_like(x);
  kernels::scale_add_forward(y.data(), x.data(), s, 0.0f, x.numel());
  return autograd::record("mul_scalar", y, {x}, [s](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::axpy(g.at(0).data(), s, dy.data(), dy.numel());
  });
}

Tensor neg(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "neg");
  Tensor y = Tensor::empty_like(x);
  kernels::scale_add_forward(y.data(), x.data(), -1.0f, 0.0f, x.numel());
  return autograd::record("neg", y, {x}, [](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::axpy(g.at(0).data(), -1.0f, dy.data(), dy.numel());
  });
}

Tensor exp(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "exp");
  Tensor y = Tensor::empty_like(x);
  kernels::exp_forward(y.data(), x.data(), x.numel());
  return autograd::record("exp", y, {x}, [y](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::exp_backward(g.at(0).data(), y.data(), dy.data(), y.numel());
  });
}

Tensor log(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "log");
  Tensor y = Tensor::empty_like(x);
  kernels::log_forward(y.data(), x.data(), x.numel());
  return autograd::record("log", y, {x}, [x](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::log_backward(g.at(0).data(), x.data(), dy.data(), x.numel());
  });
}

Tensor sqrt(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "sqrt");
  Tensor y = Tensor::empty_like(x);
  kernels::sqrt_forward(y.data(), x.data(), x.numel());
  return autograd::record("sqrt", y, {x}, [y](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::sqrt_backward(g.at(0).data(), y.data(), dy.data(), y.numel());
  });
}

Tensor pow(const Tensor& x_in, float p) {
  Tensor x = unary_input(x_in, "pow");
  Tensor y = Tensor::empty_like(x);
  kernels::pow_forward(y.data(), x.data(), p, x.numel());
  return autograd::record("pow", y, {x}, [x, p](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::pow_backward(g.at(0).data(), x.data(), p, dy.data(), x.numel());
  });
}

Tensor tanh(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "tanh");
  Tensor y = Tensor::empty_like(x);
  kernels::tanh_forward(y.data(), x.data(), x.numel());
  return autograd::record("tanh", y, {x}, [y](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::tanh_backward(g.at(0).data(), y.data(), dy.data(), y.numel());
  });
}

Tensor sigmoid(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "sigmoid");
  Tensor y = Tensor::empty_like(x);
  kernels::sigmoid_forward(y.data(), x.data(), x.numel());
  return autograd::record("sigmoid", y, {x}, [y](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::sigmoid_backward(g.at(0).data(), y.data(), dy.data(), y.numel());
  });
}

Tensor relu(const Tensor& x_in) {
  Tensor x = unary_input(x_in, "relu");
  Tensor y = Tensor::empty_like(x);
  kernels::relu_forward(y.data(), x.data(), x.numel());
  return autograd::record("relu", y, {x}, [y](const Tensor& dy, Grads& g) {
    if (g.wants(0)) kernels::relu_backward(g.at(0).data(), y.data(), dy.data(), y.numel());
  });
}

Tensor gelu(const Tensor& x_in, GeluApprox approx) {
  Tensor x = unary_input(x_in, "gelu");
  Tensor y = Tensor::empty_like(x);
  if (approx == GeluApprox::tanh) {
    kernels::gelu_tanh_forward(y.data(), x.data(), x.numel());
  } else {
    kernels::gelu_erf_forward(y.data(), x.data(), x.numel());
  }
  return autograd::record("gelu", y, {x}, [x, approx](const Tensor& dy, Grads& g) {
    if (!g.wants(0)) return;
    if (approx == GeluApprox::tanh) {
      kernels::gelu_tanh_backward(g.at(0).data(), x.data(), dy.data(), x.numel());
    } else {
      kernels::gelu_erf_backward(g.at(0).data(), x.data(), dy.data(), x.numel());
    }
  });
}

// --- masks ------------------------------------------------------------------------------

Tensor masked_fill(const Tensor& x, const Tensor& mask, float value) {
  check_f32(x, "masked_fill");
  CHECK(mask.defined(), "masked_fill: mask is an undefined tensor");
  const Shape out = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  CHECK(out == x.shape(), "masked_fill: mask of shape {} does not broadcast to x's shape {}",
        shape_str(mask.shape()), shape_str(x.shape()));
  auto layout = kernels::coalesce<2>(out, {broadcast_strides(x, out), broadcast_strides(mask, out)});
  Tensor y = Tensor::empty(out);
  float* py = y.data();
  const float* px = x.data();
  with_mask_type(mask, [&](auto pm) {
    kernels::for_each_run(layout, [&](int64_t o, const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
      kernels::with_strides(st[0], st[1], [&](auto sx, auto sm) {
        const auto *xo = px + off[0], *mo = pm + off[1];
        for (int64_t j = 0; j < n; ++j) {
          const float v = xo[j * sx];
          py[o + j] = nonzero(mo[j * sm]) ? value : v;
        }
      });
    });
  });
  return autograd::record("masked_fill", y, {x}, [layout, mask](const Tensor& dy, Grads& g) {
    if (!g.wants(0)) return;
    float* dx = g.at(0).data();
    const float* pdy = dy.data();
    with_mask_type(mask, [&](auto pm) {
      kernels::for_each_run(layout, [&](int64_t o, const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
        kernels::with_strides(st[1], 1, [&](auto sm, auto) {
          const auto* mo = pm + off[1];
          for (int64_t j = 0; j < n; ++j) {
            const float d = pdy[o + j];
            dx[o + j] += nonzero(mo[j * sm]) ? 0.0f : d;
          }
        });
      });
    });
  });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  CHECK(cond.defined(), "where: cond is an undefined tensor");
  check_f32(a, "where");
  check_f32(b, "where");
  const Shape out = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  auto layout = kernels::coalesce<3>(
      out, {broadcast_strides(cond, out), broadcast_strides(a, out), broadcast_strides(b, out)});
  Tensor y = Tensor::empty(out);
  float* py = y.data();
  const float *pa = a.data(), *pb = b.data();
  with_mask_type(cond, [&](auto pc) {
    kernels::for_each_run(layout, [&](int64_t o, const Offsets<3>& off, int64_t n, const Offsets<3>& st) {
      kernels::with_strides(st[1], st[2], [&](auto sa, auto sb) {
        const auto *co = pc + off[0], *ao = pa + off[1], *bo = pb + off[2];
        for (int64_t j = 0; j < n; ++j) {
          const float u = ao[j * sa], v = bo[j * sb];
          py[o + j] = nonzero(co[j * st[0]]) ? u : v;
        }
      });
    });
  });
  return autograd::record("where", y, {a, b}, [layout, cond, out](const Tensor& dy, Grads& g) {
    const float* pdy = dy.data();
    for (size_t i = 0; i < 2; ++i) {
      if (!g.wants(i)) continue;
      const Tensor& gi = g.at(i);
      const bool direct = gi.shape() == out;
      Tensor t = direct ? gi : Tensor::empty(out);
      float* pt = t.data();
      const bool keep_when = i == 0;  // a takes the gradient where cond holds, b elsewhere
      with_mask_type(cond, [&](auto pc) {
        kernels::for_each_run(layout, [&](int64_t o, const Offsets<3>& off, int64_t n, const Offsets<3>& st) {
          for (int64_t j = 0; j < n; ++j) {
            const float d = nonzero(pc[off[0] + j * st[0]]) == keep_when ? pdy[o + j] : 0.0f;
            pt[o + j] = direct ? pt[o + j] + d : d;
          }
        });
      });
      if (!direct) reduce_into(gi, t, out, 1.0f);
    }
  });
}

}  // namespace attend
