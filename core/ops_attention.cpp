// Fused attention: scores, masks, softmax, dropout and the weighted sum of values in one
// op (core/kernels_attention.cpp), saving only q, k, v, the output and one log-sum-exp
// per query row for backward, which recomputes the probabilities block by block.
#include "core/kernels_attention.h"
#include "core/ops.h"

namespace attend {
namespace {

kernels::HeadStrides head_strides(const Tensor& x) { return {x.stride(0), x.stride(1), x.stride(2)}; }

// The tensor itself when its last dim is contiguous (any other strides are fine), else a copy.
Tensor rows_contiguous(const Tensor& x) { return x.stride(3) == 1 || x.size(3) == 1 ? x : x.contiguous(); }

}  // namespace

// q: (B,H,T,Dh), k, v: (B,H,S,Dh), key_padding: (B,1,1,S) or undefined -> (B,H,T,Dh)
Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& key_padding_in,
                 bool causal, float scale, float dropout_p, Generator* gen) {
  for (const Tensor* x : {&q_in, &k_in, &v_in})
    CHECK(x->defined() && x->dtype() == DType::f32 && x->dim() == 4,
          "attention: q, k and v must be f32 (B,H,L,Dh) tensors, got q {}, k {}, v {}",
          q_in.defined() ? q_in.str() : "undefined", k_in.defined() ? k_in.str() : "undefined",
          v_in.defined() ? v_in.str() : "undefined");
  const int64_t B = q_in.size(0), H = q_in.size(1), T = q_in.size(2), Dh = q_in.size(3), S = k_in.size(2);
  CHECK(k_in.shape() == Shape({B, H, S, Dh}) && v_in.shape() == k_in.shape(),
        "attention: k {} and v {} must both be [{}, {}, S, {}] for q {}", k_in.str(), v_in.str(), B, H, Dh,
        q_in.str());
  CHECK(S > 0 || T == 0, "attention: {} queries but no keys (k {})", T, k_in.str());
  CHECK(!causal || T <= S, "attention: causal with {} queries but only {} keys", T, S);
  CHECK(!key_padding_in.defined() ||
            (key_padding_in.dtype() == DType::f32 && key_padding_in.shape() == Shape({B, 1, 1, S})),
        "attention: key padding mask {} does not match [{}, 1, 1, {}] (f32)", key_padding_in.str(), B, S);
  CHECK(dropout_p >= 0.0f && dropout_p < 1.0f, "attention: dropout must be in [0, 1), got {}", dropout_p);
  CHECK(dropout_p == 0.0f || gen, "attention: dropout {} needs a generator", dropout_p);

  const Tensor q = rows_contiguous(q_in), k = rows_contiguous(k_in), v = rows_contiguous(v_in);
  const Tensor key_padding = key_padding_in.defined() ? key_padding_in.contiguous() : Tensor();
  const kernels::AttentionShape shape{B, H, T, S, Dh};
  const kernels::AttentionMask mask{key_padding.defined() ? key_padding.data() : nullptr, causal};
  kernels::AttentionDropout drop{dropout_p, 0, 0};
  if (dropout_p > 0.0f) drop = {dropout_p, gen->seed(), gen->next_stream()};

  // The result is laid out (B,T,H,Dh) and returned as a (B,H,T,Dh) view, so that merging
  // the heads back into (B,T,D) is a reshape, not a copy.
  Tensor storage = Tensor::empty({B, T, H, Dh});
  Tensor y = storage.permute({0, 2, 1, 3}).detach();
  const bool grad = autograd::needs_grad({q, k, v});
  Tensor lse = grad ? Tensor::empty({B, H, T}) : Tensor();
  kernels::attention_forward(y.data(), head_strides(y), grad ? lse.data() : nullptr, q.data(), head_strides(q),
                             k.data(), head_strides(k), v.data(), head_strides(v), scale, shape, mask, drop);
  return autograd::record(
      "attention", y, {q, k, v}, [q, k, v, y, lse, key_padding, shape, causal, scale, drop](const Tensor& dy_in, Grads& g) {
        const Tensor dy = rows_contiguous(dy_in);
        const kernels::AttentionMask mask{key_padding.defined() ? key_padding.data() : nullptr, causal};
        kernels::attention_backward(g.wants(0) ? g.at(0).data() : nullptr, g.wants(1) ? g.at(1).data() : nullptr,
                                    g.wants(2) ? g.at(2).data() : nullptr, dy.data(), head_strides(dy), y.data(),
                                    head_strides(y), lse.data(), q.data(), head_strides(q), k.data(),
                                    head_strides(k), v.data(), head_strides(v), scale, shape, mask, drop);
      });
}

}  // namespace attend
