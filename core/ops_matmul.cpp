// matmul, linear and linear_relu: every product, forward and backward, is one call to gemm()
// (core/gemm.h). Operands are read where they lie: a transposed view becomes a trans
// flag with its leading dimension, uniformly strided batch dims one strided batch.
// Only a layout gemm cannot express (e.g. a permuted batch) is copied first.
// Backward writes a gradient with beta = 0 when it is the input's first (Grads::for_write),
// else accumulates into it with beta = 1.
#include <algorithm>
#include <optional>

#include "core/bf16_weights.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/kernels_linear.h"
#include "core/linear_bf16.h"
#include "core/ops.h"

namespace attend {
namespace {

// How gemm reads a tensor: `batch` matrices `stride` apart, each rows x cols, stored
// row-major with leading dimension ld, or (trans) as the row-major cols x rows transpose.
struct Operand {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;
  bool trans = false;
  int64_t ld = 1;
  int64_t batch = 1, stride = 0;
};

// Dims [begin, end) of (shape, strides) as one dim of `count` elements `stride` apart, if
// they are uniformly strided (size-1 dims ignored; all-broadcast dims give stride 0).
bool collapse(const Shape& shape, const Shape& strides, size_t begin, size_t end, int64_t& count,
              int64_t& stride) {
  count = 1;
  stride = 0;
  bool first = true;
  int64_t next = 0;  // the stride the next outer dim must have
  for (size_t i = end; i-- > begin;) {
    if (shape[i] == 1) continue;
    if (!first && strides[i] != next) return false;
    if (first) stride = strides[i];
    first = false;
    count *= shape[i];
    next = strides[i] * shape[i];
  }
  return true;
}

// A rows x cols matrix with row stride sr and column stride sc, as gemm reads it.
bool matrix_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc, Operand& op) {
  op.rows = rows;
  op.cols = cols;
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1))) {
    op.trans = false;
    op.ld = rows == 1 ? std::max<int64_t>(cols, 1) : sr;
    return true;
  }
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1))) {
    op.trans = true;
    op.ld = cols == 1 ? std::max<int64_t>(rows, 1) : sc;
    return true;
  }
  return false;
}

// x: (...,R,C) as a batch of R x C matrices.
std::optional<Operand> as_batched(const Tensor& x) {
  Operand op;
  const size_t nd = size_t(x.dim());
  if (!collapse(x.shape(), x.strides(), 0, nd - 2, op.batch, op.stride)) return std::nullopt;
  if (!matrix_layout(x.size(-2), x.size(-1), x.stride(-2), x.stride(-1), op)) return std::nullopt;
  op.data = x.data();
  return op;
}

// x: (...,C) as one (numel/C) x C matrix.
std::optional<Operand> as_rows(const Tensor& x) {
  Operand op;
  const size_t nd = size_t(x.dim());
  int64_t rows = 1, sr = 0;
  if (!collapse(x.shape(), x.strides(), 0, nd - 1, rows, sr)) return std::nullopt;
  if (!matrix_layout(rows, x.size(-1), sr, x.stride(-1), op)) return std::nullopt;
  op.data = x.data();
  return op;
}

// The batch of a (not transposed, matrices ld*M apart) as one (batch*M) x K matrix.
bool foldable(const Operand& a) { return !a.trans && (a.batch == 1 || a.stride == a.rows * a.ld); }

// y: (batch,M,N) = a: (batch,M,K) @ b: (batch,K,N), or b: (K,N) shared when b.batch == 1.
void matmul_forward(float* y, const Operand& a, const Operand& b) {
  const int64_t M = a.rows, K = a.cols, N = b.cols, batch = a.batch;
  if (b.batch == 1 && foldable(a))
    gemm(false, b.trans, batch * M, N, K, 1.0f, a.data, a.ld, 0, b.data, b.ld, 0, 0.0f, y, N, 0);
  else
    gemm(a.trans, b.trans, M, N, K, 1.0f, a.data, a.ld, a.stride, b.data, b.ld, b.stride, 0.0f, y, N, M * N,
         batch);
}

// da: (batch,M,K) = beta_a * da + dy @ b^T; db: (batch,K,N), or (K,N) summed over the
// batch, = beta_b * db + a^T @ dy. dy: (batch,M,N). Either gradient may be null (not wanted).
void matmul_backward(float* da, float beta_a, float* db, float beta_b, const float* dy, const Operand& a,
                     const Operand& b) {
  const int64_t M = a.rows, K = a.cols, N = b.cols, batch = a.batch;
  const bool shared_b = b.batch == 1 && batch > 1;
  if (da != nullptr) {
    if (shared_b)
      gemm(false, !b.trans, batch * M, K, N, 1.0f, dy, N, 0, b.data, b.ld, 0, beta_a, da, K, 0);
    else
      gemm(false, !b.trans, M, K, N, 1.0f, dy, N, M * N, b.data, b.ld, b.stride, beta_a, da, K, M * K, batch);
  }
  if (db != nullptr) {
    if (!shared_b)
      gemm(!a.trans, false, K, N, M, 1.0f, a.data, a.ld, a.stride, dy, N, M * N, beta_b, db, N, K * N, batch);
    else if (foldable(a))
      gemm(true, false, K, N, batch * M, 1.0f, a.data, a.ld, 0, dy, N, 0, beta_b, db, N, 0);
    else
      for (int64_t i = 0; i < batch; ++i)
        gemm(!a.trans, false, K, N, M, 1.0f, a.data + i * a.stride, a.ld, 0, dy + i * M * N, N, 0,
             i == 0 ? beta_b : 1.0f, db, N, 0);
  }
}

// y: (R,out) after the product += bias (if defined), then relu when `relu`: one pass.
void add_bias(const Tensor& y, const Tensor& bias, int64_t R, int64_t out, bool relu) {
  if (relu) kernels::bias_relu_forward(y.data(), bias.defined() ? bias.data() : nullptr, R, out);
  else if (bias.defined()) kernels::bias_add_forward(y.data(), bias.data(), R, out);
}

// linear() or linear_relu() with gemm precision bf16; x: (...,in) f32 or bf16, w: (out,in)
// contiguous; the result f32 or bf16 (`out_type`). The product is detail::bf16_linear's
// (core/linear_bf16.h). Backward keeps, for relu, the output's bf16 copy (the one the next
// product of it takes; the output itself when bf16) as the mask, and makes one pass over dy
// for the mask, the bias gradient and dy's bf16 copy.
Tensor linear_bf16(const Tensor& x, const Tensor& w, const Tensor& bias, bool relu, DType out_type) {
  const bool has_bias = bias.defined();
  Shape shape = x.shape();
  shape.back() = w.size(0);
  Tensor y = Tensor::empty(shape, out_type);
  std::vector<Tensor> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  const bool grad = autograd::needs_grad(inputs);
  const detail::Bf16Linear lin = detail::bf16_linear(x, w, bias, relu, y, grad);
  const Tensor y16 = !relu || !grad ? Tensor() : out_type == DType::bf16 ? y : bf16_activation(y);
  return autograd::record(relu ? "linear_relu" : "linear", y, std::move(inputs),
                          [lin, y16, has_bias, relu](const Tensor& dy_in, Grads& g) {
    const int64_t R = lin.R, out = lin.out;
    float* dbias = has_bias && g.wants(2) ? g.at(2).data() : nullptr;
    const Tensor dy = dy_in.detach().contiguous();
    Tensor dy16 = g.wants(0) || g.wants(1) ? Tensor::empty({R, out}, DType::bf16) : Tensor();
    bf16* dz16 = dy16.defined() ? dy16.data_as<bf16>() : nullptr;
    if (relu)
      kernels::linear_output_backward(nullptr, dz16, dbias, dy.data(), y16.data_as<bf16>(), R, out);
    else
      kernels::linear_output_backward(nullptr, dz16, dbias, dy.data(), static_cast<const float*>(nullptr), R, out);
    if (dz16 != nullptr) lin.backward(g, dz16);
  });
}

// linear() without gradients through the weight packed once for oneDNN
// (core/bf16_weights.h); undefined when no Bf16WeightCache lives or the weight cannot
// be packed. x: rows as X (not transposed), w: (out,in) contiguous.
Tensor linear_packed(const Tensor& x, const Operand& X, const Tensor& w, const Tensor& bias, bool bf16) {
  const int64_t R = X.rows, in = X.cols, out = w.size(0);
  detail::PackedWeight* packed = packed_weight(w, bf16, R);
  if (packed == nullptr) return Tensor();
  Shape shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape);
  const float* b = bias.defined() ? bias.data() : nullptr;
  bool done;
  if (bf16) {
    Tensor x16 = Tensor::empty({R, in}, DType::bf16);
    convert_to_bf16(x16.data_as<attend::bf16>(), X.data, R, in, X.ld);
    done = detail::gemm_packed(*packed, R, x16.data_as<attend::bf16>(), in, b, y.data(), out);
  } else {
    done = detail::gemm_packed(*packed, R, X.data, X.ld, b, y.data(), out);
  }
  return done ? y : Tensor();
}

void check_f32(const char* op, const Tensor& x, const char* name) {
  CHECK(x.dtype() == DType::f32, "{}: {} must be f32, got {} ({})", op, name, dtype_name(x.dtype()), x.str());
}

}  // namespace

detail::Bf16Linear detail::bf16_linear(const Tensor& x, const Tensor& w, const Tensor& bias, bool relu,
                                       const Tensor& y, bool grad) {
  Bf16Linear lin;
  lin.in = x.size(-1), lin.R = lin.in == 0 ? 0 : x.numel() / lin.in, lin.out = w.size(0);
  lin.x16 = x.dtype() == DType::bf16 ? x : bf16_activation(x);
  Tensor w16 = bf16_weight(w);
  gemm_bf16_linear(lin.R, lin.out, lin.in, lin.x16.data_as<bf16>(), w16.data_as<bf16>(),
                   bias.defined() ? bias.data() : nullptr, relu, y.raw_data(), y.dtype() == DType::bf16);
  if (w.is_leaf() || !grad) lin.w = w;
  else lin.w16 = w16;
  return lin;
}

void detail::Bf16Linear::backward(Grads& g, const bf16* dy16) const {
  const Bf16Operand DY{.rounded = dy16};
  float beta = 1.0f;
  if (g.wants(0)) {  // (R,in) (+)= dy @ w
    const Tensor w_rounded = w16.defined() ? w16 : bf16_weight(w);
    float* dx = g.for_write(0, beta).data();
    gemm_bf16_pre(false, false, R, in, out, 1.0f, DY, out, 0, {.rounded = w_rounded.data_as<bf16>()}, in, 0, beta, dx,
                  in, 0);
  }
  if (g.wants(1)) {  // (out,in) (+)= dy^T @ x
    float* dw = g.for_write(1, beta).data();
    gemm_bf16_pre(true, false, out, in, R, 1.0f, DY, out, 0, {.rounded = x16.data_as<bf16>()}, in, 0, beta, dw, in,
                  0);
  }
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_f32("matmul", a_in, "a");
  check_f32("matmul", b_in, "b");
  CHECK(a_in.dim() >= 2 && b_in.dim() >= 2, "matmul: need at least 2-D operands, got {} @ {}",
        shape_str(a_in.shape()), shape_str(b_in.shape()));
  CHECK(a_in.size(-1) == b_in.size(-2), "matmul: inner dims differ: {} @ {} ({} vs {})", shape_str(a_in.shape()),
        shape_str(b_in.shape()), a_in.size(-1), b_in.size(-2));
  const Shape batch_shape(a_in.shape().begin(), a_in.shape().end() - 2);
  CHECK(b_in.dim() == 2 || Shape(b_in.shape().begin(), b_in.shape().end() - 2) == batch_shape,
        "matmul: batch dims differ: {} @ {} (b must be 2-D or have a's batch dims)", shape_str(a_in.shape()),
        shape_str(b_in.shape()));

  const Tensor a = as_batched(a_in) ? a_in : contiguous(a_in);
  const Tensor b = as_batched(b_in) ? b_in : contiguous(b_in);
  Operand A = *as_batched(a), B = *as_batched(b);
  if (b.dim() == 2) B.stride = 0;  // one matrix shared by every batch
  Shape out = batch_shape;
  out.push_back(A.rows);
  out.push_back(B.cols);
  Tensor y = Tensor::empty(out);
  matmul_forward(y.data(), A, B);
  return autograd::record("matmul", y, {a, b}, [a, b, A, B](const Tensor& dy_in, Grads& g) {
    const Tensor dy = dy_in.detach().contiguous();
    float beta_a = 1.0f, beta_b = 1.0f;
    float* da = g.wants(0) ? g.for_write(0, beta_a).data() : nullptr;
    float* db = g.wants(1) ? g.for_write(1, beta_b).data() : nullptr;
    matmul_backward(da, beta_a, db, beta_b, dy.data(), A, B);
  });
}

namespace {

// linear(), then relu when `relu`: y = x @ w^T, then bias (and relu) added in one pass;
// backward takes relu's mask from y and sums the bias gradient in the same pass. The
// result is f32, or bf16 when out_type says (bf16 training, a feed-forward's hidden layer).
Tensor linear_op(const char* op, const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, bool relu,
                 DType out_type) {
  CHECK(x_in.defined() && (x_in.dtype() == DType::f32 || x_in.dtype() == DType::bf16),
        "{}: x must be f32 or bf16, got {}", op, x_in.defined() ? x_in.str() : "undefined");
  CHECK(out_type == DType::f32 || out_type == DType::bf16, "{}: the result can be f32 or bf16, not {}", op,
        dtype_name(out_type));
  check_f32(op, w_in, "weight");
  CHECK(w_in.dim() == 2, "{}: weight must be 2-D (out, in), got {}", op, shape_str(w_in.shape()));
  CHECK(x_in.dim() >= 1 && x_in.size(-1) == w_in.size(1),
        "{}: x {} does not match weight {} (x's last dim must be in = {})", op, shape_str(x_in.shape()),
        shape_str(w_in.shape()), w_in.size(1));
  const bool has_bias = bias_in.defined();
  if (has_bias) {
    check_f32(op, bias_in, "bias");
    CHECK(bias_in.dim() == 1 && bias_in.size(0) == w_in.size(0), "{}: bias {} does not match weight {}", op,
          shape_str(bias_in.shape()), shape_str(w_in.shape()));
  }
  const bool bf16 = gemm_precision() == GemmPrecision::bf16;
  // bf16 in or out is bf16 training's (gemm precision bf16, on linear_bf16's path below);
  // elsewhere a bf16 x is widened and a bf16 result rounded, without gradients.
  const bool bf16_path = bf16 && w_in.is_contiguous() && (x_in.dtype() == DType::f32 || x_in.is_contiguous());
  if ((x_in.dtype() == DType::bf16 || out_type == DType::bf16) && !bf16_path) {
    CHECK(!autograd::needs_grad({x_in, w_in, bias_in}),
          "{}: a bf16 x or result ({}) takes gradients only under gemm precision bf16, contiguous, with a "
          "contiguous weight",
          op, x_in.str());
    const Tensor y = linear_op(op, to_dtype(x_in, DType::f32), w_in, bias_in, relu, DType::f32);
    return to_dtype(y, out_type);
  }
  const Tensor w = as_batched(w_in) ? w_in : contiguous(w_in);
  const Tensor bias = has_bias ? contiguous(bias_in) : Tensor();
  if (x_in.dtype() == DType::bf16 || out_type == DType::bf16)
    return linear_bf16(contiguous(x_in), w, bias, relu, out_type);
  const Tensor x = as_rows(x_in) ? x_in : contiguous(x_in);
  const Operand X = *as_rows(x), W = *as_batched(w);
  const int64_t R = X.rows, in = X.cols, out = W.rows;

  if (!autograd::needs_grad({x, w, bias}) && !X.trans && w.is_contiguous()) {
    Tensor y = linear_packed(x, X, w, bias, bf16);  // decoding under a Bf16WeightCache
    if (y.defined()) {
      if (relu) kernels::bias_relu_forward(y.data(), nullptr, R, out);
      return autograd::record(op, y, {x, w, bias}, {});
    }
  }
  if (bf16 && x.is_contiguous() && w.is_contiguous()) return linear_bf16(x, w, bias, relu, DType::f32);

  Shape shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape);
  if (!X.trans && X.ld == in && !W.trans && W.ld == in) {
    gemm_linear(R, out, in, X.data, W.data, has_bias ? bias.data() : nullptr, relu, y.data());
  } else {
    gemm(X.trans, !W.trans, R, out, in, 1.0f, X.data, X.ld, 0, W.data, W.ld, 0, 0.0f, y.data(), out, 0);
    add_bias(y, bias, R, out, relu);
  }

  std::vector<Tensor> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  const Tensor saved_y = relu ? y : Tensor();
  return autograd::record(op, y, std::move(inputs), [x, w, X, W, has_bias, relu, saved_y](const Tensor& dy_in,
                                                                                          Grads& g) {
    Tensor dy = dy_in.detach().contiguous();
    const int64_t R = X.rows, in = X.cols, out = W.rows;
    float* dbias = has_bias && g.wants(2) ? g.at(2).data() : nullptr;
    if (relu) {  // dy becomes dz = dy * [y > 0], the gradient of the product
      Tensor dz = Tensor::empty({R, out});
      kernels::linear_output_backward(dz.data(), nullptr, dbias, dy.data(), saved_y.data(), R, out);
      dy = dz;
    } else if (dbias) {
      kernels::linear_bias_backward(dbias, dy.data(), R, out);
    }
    float beta = 1.0f;
    if (g.wants(0)) {  // dx: (R,in) (+)= dy @ w
      float* dx = g.for_write(0, beta).data();
      gemm(false, W.trans, R, in, out, 1.0f, dy.data(), out, 0, W.data, W.ld, 0, beta, dx, in, 0);
    }
    if (g.wants(1)) {  // dw: (out,in) (+)= dy^T @ x
      float* dw = g.for_write(1, beta).data();
      gemm(true, X.trans, out, in, R, 1.0f, dy.data(), out, 0, X.data, X.ld, 0, beta, dw, in, 0);
    }
  });
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, DType out) {
  return linear_op("linear", x, w, bias, false, out);
}

Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& bias, DType out) {
  return linear_op("linear_relu", x, w, bias, true, out);
}

}  // namespace attend
