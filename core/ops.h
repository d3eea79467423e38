// Every differentiable op of attend, with its derivative rule in one line, so all
// rules can be reviewed in one place (like PyTorch's derivatives.yaml).
// Shapes: B batch, S source length, T target length, D model dim, H heads, V vocab;
// "..." is any number of leading dims. Binary elementwise ops broadcast as NumPy does.
// Each op accepts non-contiguous inputs and returns a contiguous result (views excepted).
#pragma once

#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace attend {

// --- views (no copy; ops_view.cpp) --------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // one dim may be -1; dx = reshape(dy, x.shape)
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // dx = permute(dy, inverse)
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);          // dx = transpose(dy, d0, d1)
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // dx[start:end] += dy
Tensor expand(const Tensor& x, const Shape& shape);  // size-1 dims repeat; dx = sum of dy over them
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);  // dx = dy

// --- elementwise (ops_elementwise.cpp) ----------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);  // da = dy, db = dy (summed to shape)
Tensor sub(const Tensor& a, const Tensor& b);  // da = dy, db = -dy
Tensor mul(const Tensor& a, const Tensor& b);  // da = dy*b, db = dy*a
Tensor div(const Tensor& a, const Tensor& b);  // da = dy/b, db = -dy*a/b^2
Tensor add(const Tensor& x, float s);           // dx = dy
Tensor mul(const Tensor& x, float s);           // dx = s*dy
Tensor neg(const Tensor& x);                    // dx = -dy
Tensor exp(const Tensor& x);                    // dx = dy*y
Tensor log(const Tensor& x);                    // dx = dy/x
Tensor sqrt(const Tensor& x);                   // dx = dy/(2y)
Tensor pow(const Tensor& x, float p);           // dx = dy*p*x^(p-1)
Tensor tanh(const Tensor& x);                   // dx = dy*(1-y^2)
Tensor sigmoid(const Tensor& x);                // dx = dy*y*(1-y)
Tensor relu(const Tensor& x);                   // dx = dy*[x>0]
enum class GeluApprox { none, tanh };
// none: x*Phi(x), dx = dy*(Phi(x) + x*phi(x)); tanh: 0.5x(1+tanh(k(x+0.044715x^3))), Hendrycks & Gimpel 2016
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::none);
// mask: any dtype, broadcast to x; where mask != 0 the result is `value`. dx = dy*[mask==0]
Tensor masked_fill(const Tensor& x, const Tensor& mask, float value);
// cond: any dtype; y = cond != 0 ? a : b. da = dy*[cond], db = dy*[!cond]
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul(a, 1.0f / s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// --- reductions (ops_reduce.cpp) ----------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> scalar; dx = dy broadcast
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);  // dx = dy/n
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);  // dx = dy at the first argmax
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i64, not differentiable

// --- matrix products (ops_matmul.cpp) -----------------------------------------------
// a: (...,M,K), b: (...,K,N) or (K,N) -> (...,M,N). Transposed views of either
// operand are folded into the gemm call, not copied. da = dy@b^T, db = a^T@dy
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (...,in), w: (out,in), bias: (out) or undefined -> (...,out); nn.Linear. x may be
// bf16 (a result kept in bf16 by bf16 training): under gemm precision bf16 the product
// reads it as it is; otherwise it is widened, and then takes no gradient. `out`: the
// result's type, f32 or bf16 (bf16 training keeps attention's projections in bf16: the
// fused attention reads its operands rounded anyway).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), DType out = DType::f32);
// relu(linear(x, w, bias)) with bias and relu in one pass after the product (in its
// epilogue under gemm precision bf16). With dz = dy*[y>0]: dx = dz@w, dw = dz^T@x, dbias
// = sum of dz over rows. `out`: the result's type, f32 or bf16; bf16 training keeps a
// feed-forward's hidden layer in bf16 (its one reader, the next product, rounds it anyway).
Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), DType out = DType::f32);

// --- fused ops (ops_fused.cpp) ------------------------------------------------------
Tensor softmax(const Tensor& x);      // last axis; dx = y*(dy - sum(dy*y))
Tensor log_softmax(const Tensor& x);  // last axis; dx = dy - exp(y)*sum(dy)
// x: (...,D), gamma/beta: (D) -> (...,D); normalised over the last axis (biased var).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f);
// layer_norm(x + dropout(y, p, *gen), gamma, beta, eps) in one pass per row (post-norm
// residual); p = 0 adds without dropout. With dz = layer_norm's dx: dx = dz,
// dy = dz*mask/(1-p); dgamma, dbeta as layer_norm's
Tensor add_layer_norm(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f,
                      float p = 0.0f, Generator* gen = nullptr);
// Inverted dropout: kept elements scaled by 1/(1-p). The mask of element i depends
// only on (gen's seed, the stream this call takes, i): not on the thread count.
Tensor dropout(const Tensor& x, float p, Generator& gen);
// x, y: same shape -> x + dropout(y, p, gen), in one pass, with the mask dropout draws
// (one stream of gen). dx = dz, dy = dz*mask/(1-p)
Tensor dropout_add(const Tensor& x, const Tensor& y, float p, Generator& gen);
// Fused attention (ops_attention.cpp): y = dropout(softmax(scale q k^T, masked)) v per head,
// without ever holding the (B,H,T,S) probabilities. Heads lie side by side in the last dim
// (Dh = D/heads), as projections make them: q: (B,T,D), k, v: (B,S,D) (any row strides, a
// contiguous last dim; k and v may also be heads-major (B,H,S,Dh), as decoding caches keep
// them), key_padding: (B,1,1,S) f32 1 = masked, or undefined -> (B,T,D).
// causal: queries are the last T of S positions. Masked scores are -1e30 (a fully masked row
// attends uniformly); dropout draws the mask `dropout` would on a (B,H,T,S) tensor.
// P probabilities, Z dropout's keep mask times 1/(1-p), D = rowsum(dy*y) (Dao 2023):
// dv = (P*Z)^T dy, dS = P*(Z*(dy v^T) - D) (0 where masked), dq = scale dS k, dk = scale dS^T q.
// With gemm_precision() bf16 (core/gemm_bf16.h) its products take bf16 operands (fp32 sums).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const Tensor& key_padding,
                 bool causal, float scale, float dropout_p = 0.0f, Generator* gen = nullptr);
// The same on packed projections, gradients written into the packed layout: self-attention
// qkv: (B,T,3D) = [q | k | v]; cross-attention q: (B,T,D), kv: (B,S,2D) = [k | v].
Tensor attention_qkv(const Tensor& qkv, int64_t heads, const Tensor& key_padding, bool causal, float scale,
                     float dropout_p = 0.0f, Generator* gen = nullptr);
Tensor attention_q_kv(const Tensor& q, const Tensor& kv, int64_t heads, const Tensor& key_padding, bool causal,
                      float scale, float dropout_p = 0.0f, Generator* gen = nullptr);
// ids: (...) i32/i64, weight: (V,D) -> (...,D). Rows of padding_idx (if >= 0) get no
// gradient. dweight[ids[i]] += dy[i] (scatter-add).
Tensor embedding(const Tensor& ids, const Tensor& weight, int64_t padding_idx = -1);

enum class Reduction { mean, sum, none };
struct CrossEntropyOptions {
  float label_smoothing = 0.0f;  // PyTorch semantics: (1-e)*nll + e*mean_v(-log p_v)
  int64_t ignore_index = -100;   // targets equal to it contribute nothing
  Reduction reduction = Reduction::mean;  // mean: over non-ignored targets
};
// logits: (N,V), target: (N) i32/i64 -> scalar, or (N) for Reduction::none.
// Fused log-softmax + NLL: dlogits = (softmax - smoothed one-hot) * dy.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
// cross_entropy(linear(x, w), target, options): x: (N,D) f32, w: (V,D) f32 (an output
// projection). In bf16 training (gemm precision bf16, gradients enabled) one op that keeps
// the logits in bf16, as autocast does, computes the loss in f32 from them and writes their
// gradient over them in bf16; otherwise exactly the composed ops.
Tensor linear_cross_entropy(const Tensor& x, const Tensor& w, const Tensor& target,
                            const CrossEntropyOptions& options = {});

// --- shape ops that copy (ops_shape.cpp) --------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);  // dxs[i] = slice of dy
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);  // views
// index: (n) i32/i64 -> x with dim `dim` replaced by n. dx[index[i]] += dy[i]
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// Casts (not differentiable).
Tensor to_dtype(const Tensor& x, DType dtype);

}  // namespace attend
