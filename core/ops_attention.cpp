// Fused attention: scores, masks, softmax, dropout and the weighted sum of values in one
// op (core/kernels_attention.cpp), saving only q, k, v, the output and one log-sum-exp
// per query row for backward, which recomputes the probabilities block by block.
// Heads lie side by side in the rows of (B,L,H*Dh) tensors, as the projections make them,
// and gradients are written straight into that layout: no head permutes, no copies.
// Training in bf16 precision saves q, k, v and the output as bf16 (as autocast keeps
// them), half the memory: forward reads the same rounded q, k, v that backward does.
#include <array>

#include "core/bf16_weights.h"
#include "core/gemm_bf16.h"
#include "core/kernels_attention.h"
#include "core/ops.h"

namespace attend {
namespace {

// One of q, k, v: columns [col, col + D) of input `input` (B,L,W).
struct Operand {
  size_t input;
  int64_t col;
};

// x: (B,L,W) or (B,H,L,Dh) with a contiguous last dim -> the (B,H,L,Dh) strides of its heads.
kernels::HeadStrides head_strides(const Tensor& x, int64_t Dh) {
  return x.dim() == 4 ? kernels::HeadStrides{x.stride(0), x.stride(1), x.stride(2)}
                      : kernels::HeadStrides{x.stride(0), Dh, x.stride(1)};
}
// The positions of x: (B,L,W) or (B,H,L,Dh).
int64_t positions(const Tensor& x) { return x.size(x.dim() == 4 ? 2 : 1); }

// The tensor itself when its last dim is contiguous (any other strides are fine), else a copy.
Tensor rows_contiguous(const Tensor& x) { return x.stride(-1) == 1 || x.size(-1) == 1 ? x : x.contiguous(); }

std::string str(const Tensor& x) { return x.defined() ? x.str() : "undefined"; }

// Where q (of element type Q), k and v (KV) lie in memory: pointers and head strides.
template <typename Q, typename KV>
struct Operands {
  const Q* q;
  const KV *k, *v;
  std::array<kernels::HeadStrides, 3> strides;
};

// inputs: the tensors (f32 or bf16, as Q and KV say) q, k and v lie in, per `where`.
template <typename Q, typename KV = Q>
Operands<Q, KV> operands(const std::vector<Tensor>& inputs, const std::array<Operand, 3>& where, int64_t Dh) {
  Operands<Q, KV> op;
  op.q = inputs[where[0].input].data_as<Q>() + where[0].col;
  op.k = inputs[where[1].input].data_as<KV>() + where[1].col;
  op.v = inputs[where[2].input].data_as<KV>() + where[2].col;
  for (size_t i = 0; i < 3; ++i) op.strides[i] = head_strides(inputs[where[i].input], Dh);
  return op;
}

// inputs: 1 to 3 (B,L,W) f32 tensors, or k and v heads-major (B,H,S,Dh) f32 or bf16 (a
// decoding cache); q, k, v: where each lies in them.
Tensor attention_of(const char* op, std::vector<Tensor> inputs, const std::array<Operand, 3>& where, int64_t H,
                    int64_t D, const Tensor& key_padding_in, bool causal, float scale, float dropout_p,
                    Generator* gen) {
  for (Tensor& x : inputs) x = rows_contiguous(x);
  const Tensor& q0 = inputs[where[0].input];
  const Tensor& k0 = inputs[where[1].input];
  const int64_t B = q0.size(0), T = q0.size(1), S = positions(k0), Dh = D / H;
  CHECK(S > 0 || T == 0, "{}: {} queries but no keys (k {})", op, T, k0.str());
  CHECK(!causal || T <= S, "{}: causal with {} queries but only {} keys", op, T, S);
  CHECK(!key_padding_in.defined() ||
            (key_padding_in.dtype() == DType::f32 && key_padding_in.shape() == Shape({B, 1, 1, S})),
        "{}: key padding mask {} does not match [{}, 1, 1, {}] (f32)", op, key_padding_in.str(), B, S);
  CHECK(dropout_p >= 0.0f && dropout_p < 1.0f, "{}: dropout must be in [0, 1), got {}", op, dropout_p);
  CHECK(dropout_p == 0.0f || gen, "{}: dropout {} needs a generator", op, dropout_p);

  const Tensor key_padding = key_padding_in.defined() ? key_padding_in.contiguous() : Tensor();
  const kernels::AttentionShape shape{B, H, T, S, Dh, gemm_precision() == GemmPrecision::bf16};
  const kernels::AttentionMask mask{key_padding.defined() ? key_padding.data() : nullptr, causal};
  kernels::AttentionDropout drop{dropout_p, 0, 0};
  if (dropout_p > 0.0f) drop = {dropout_p, gen->seed(), gen->next_stream()};
  const bool grad = autograd::needs_grad(inputs);
  // Keys and values from a bf16 decoding cache (layers/attention.h KVCache): no gradients.
  const bool bf16_cache = inputs[where[1].input].dtype() == DType::bf16 && inputs[where[1].input].dim() == 4;
  CHECK(!bf16_cache || !grad, "{}: bf16 keys and values (a decoding cache) take no gradients", op);
  // (B,L,W) rows in bf16: projections kept in bf16 by bf16 training, read as they are.
  bool bf16_rows = false;
  for (const Tensor& x : inputs) bf16_rows |= x.dtype() == DType::bf16 && x.dim() == 3;
  // The dropout mask, 1 bit per probability, saved for backward rather than drawn again.
  Tensor keep_bits;
  if (grad && dropout_p > 0.0f) {
    keep_bits = Tensor::empty({(kernels::attention_keep_words(shape) + 1) / 2}, DType::i32);
    drop.keep_bits = reinterpret_cast<uint16_t*>(keep_bits.data_as<int32_t>());
  }

  // q, k, v read in bf16 in bf16 training, or when any comes in bf16 rows: f32 ones are
  // rounded (bf16_activation: a copy shared with the products of the same tensors), bf16
  // ones read as they are; saved so for backward, with (below) the output's bf16 copy.
  const bool read_bf16 = (grad && shape.bf16) || bf16_rows;
  const bool keep_bf16 = grad && read_bf16;
  std::vector<Tensor> rows16;
  if (read_bf16)
    for (const Tensor& x : inputs)
      rows16.push_back(x.dtype() == DType::bf16 ? x.contiguous() : bf16_activation(x.contiguous()));
  std::vector<Tensor> saved;
  if (keep_bf16) saved = rows16;
  Tensor y = Tensor::empty({B, T, D});
  Tensor lse = grad ? Tensor::empty({B, H, T}) : Tensor();
  auto forward = [&](const auto& op) {
    kernels::attention_forward(y.data(), head_strides(y, Dh), grad ? lse.data() : nullptr, op.q, op.strides[0], op.k,
                               op.strides[1], op.v, op.strides[2], scale, shape, mask, drop);
  };
  if (read_bf16) forward(operands<bf16>(rows16, where, Dh));
  else if (bf16_cache) forward(operands<float, bf16>(inputs, where, Dh));
  else forward(operands<float>(inputs, where, Dh));
  if (keep_bf16) saved.push_back(bf16_activation(y));  // last: the output
  else if (grad) saved = inputs;
  return autograd::record(
      "attention", y, inputs,
      [saved, where, saved_inputs = inputs.size(), y = keep_bf16 ? Tensor() : y, lse, keep_bits, key_padding, shape,
       causal, scale, drop](
          const Tensor& dy_in, Grads& g) {
        const Tensor dy = rows_contiguous(dy_in);
        const int64_t Dh = shape.Dh;
        const kernels::AttentionMask mask{key_padding.defined() ? key_padding.data() : nullptr, causal};
        // Backward writes every element of each input's gradient: a new buffer is assigned
        // to, not zero-filled and added to.
        std::array<float, 3> beta{};
        for (size_t in = 0; in < saved_inputs; ++in)
          if (g.wants(in)) g.for_write(in, beta[in]);
        std::array<float*, 3> d{};
        std::array<kernels::HeadStrides, 3> ds{};
        const kernels::AttentionAssign assign{beta[where[0].input] == 0.0f, beta[where[1].input] == 0.0f,
                                              beta[where[2].input] == 0.0f};
        for (size_t i = 0; i < 3; ++i) {
          const size_t in = where[i].input;
          if (!g.wants(in)) continue;
          const Tensor& buffer = g.at(in);  // contiguous, shaped like the input
          d[i] = buffer.data() + where[i].col;
          ds[i] = buffer.dim() == 4 ? kernels::HeadStrides{buffer.size(1) * buffer.size(2) * Dh, buffer.size(2) * Dh, Dh}
                                    : kernels::HeadStrides{buffer.size(1) * buffer.size(2), Dh, buffer.size(2)};
        }
        auto backward = [&](const auto& op, const auto* o, kernels::HeadStrides os) {
          kernels::attention_backward(d[0], ds[0], d[1], ds[1], d[2], ds[2], dy.data(), head_strides(dy, Dh), o, os,
                                      lse.data(), op.q, op.strides[0], op.k, op.strides[1], op.v, op.strides[2], scale,
                                      shape, mask, drop, assign);
        };
        if (y.defined()) {
          backward(operands<float>(saved, where, Dh), y.data(), head_strides(y, Dh));
        } else {
          const Tensor& y16 = saved.back();
          backward(operands<bf16>(saved, where, Dh), y16.data_as<bf16>(), head_strides(y16, Dh));
        }
      });
}

void check_rows(const char* op, const Tensor& x, const char* name, int64_t B, int64_t W) {
  CHECK(x.defined() && (x.dtype() == DType::f32 || x.dtype() == DType::bf16) && x.dim() == 3 &&
            (B < 0 || x.size(0) == B) && x.size(2) == W,
        "{}: {} must be f32 or bf16 ({}, L, {}), got {}", op, name, B < 0 ? "B" : std::to_string(B), W, str(x));
}

void check_heads(const char* op, int64_t D, int64_t heads) {
  CHECK(heads > 0 && D % heads == 0, "{}: {} heads do not divide the model dim {}", op, heads, D);
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const Tensor& key_padding,
                 bool causal, float scale, float dropout_p, Generator* gen) {
  check_rows("attention", q, "q", -1, q.defined() && q.dim() == 3 ? q.size(2) : -1);
  const int64_t B = q.size(0), D = q.size(2);
  check_heads("attention", D, heads);
  for (const Tensor* x : {&k, &v})
    if (x->defined() && x->dim() == 4)  // heads-major (B,H,S,Dh), as decoding caches keep them
      CHECK((x->dtype() == DType::f32 || x->dtype() == DType::bf16) && x->dtype() == k.dtype() &&
                x->size(0) == B && x->size(1) == heads && x->size(3) == D / heads,
            "attention: {} {} is not f32 or bf16 ({}, {}, S, {}) like k", x == &k ? "k" : "v", x->str(), B, heads,
            D / heads);
    else
      check_rows("attention", *x, x == &k ? "k" : "v", B, D);
  CHECK(positions(v) == positions(k), "attention: k {} and v {} hold different numbers of positions", k.str(),
        v.str());
  return attention_of("attention", {q, k, v}, {{{0, 0}, {1, 0}, {2, 0}}}, heads, D, key_padding, causal, scale,
                      dropout_p, gen);
}

Tensor attention_qkv(const Tensor& qkv, int64_t heads, const Tensor& key_padding, bool causal, float scale,
                     float dropout_p, Generator* gen) {
  const int64_t W = qkv.defined() && qkv.dim() == 3 ? qkv.size(2) : -1, D = W / 3;
  CHECK(W % 3 == 0, "attention_qkv: qkv {} does not end in 3 * D", str(qkv));
  check_rows("attention_qkv", qkv, "qkv", -1, W);
  check_heads("attention_qkv", D, heads);
  return attention_of("attention_qkv", {qkv}, {{{0, 0}, {0, D}, {0, 2 * D}}}, heads, D, key_padding, causal, scale,
                      dropout_p, gen);
}

Tensor attention_q_kv(const Tensor& q, const Tensor& kv, int64_t heads, const Tensor& key_padding, bool causal,
                      float scale, float dropout_p, Generator* gen) {
  check_rows("attention_q_kv", q, "q", -1, q.defined() && q.dim() == 3 ? q.size(2) : -1);
  const int64_t B = q.size(0), D = q.size(2);
  check_heads("attention_q_kv", D, heads);
  check_rows("attention_q_kv", kv, "kv", B, 2 * D);
  return attention_of("attention_q_kv", {q, kv}, {{{0, 0}, {1, 0}, {1, D}}}, heads, D, key_padding, causal, scale,
                      dropout_p, gen);
}

}  // namespace attend
