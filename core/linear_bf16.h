// The bf16 product of a linear layer in bf16 training, shared by linear()/linear_relu()
// (core/ops_matmul.cpp) and linear_cross_entropy() (core/ops_fused.cpp): the forward
// y = x @ w^T (+ bias, relu) on bf16 operands with the epilogue in oneDNN, and the
// backward products dx = dy @ w and dw = dy^T @ x from dy already in bf16.
//
//   Tensor y = Tensor::empty({R, out}, DType::bf16);
//   const detail::Bf16Linear lin = detail::bf16_linear(x, w, bias, relu, y, grad);
//   ... in backward, once dy is rounded: lin.backward(g, dy16);   // inputs 0 = x, 1 = w
#pragma once

#include "core/autograd.h"
#include "core/tensor.h"

namespace attend::detail {

// What the backward products keep: x's bf16 copy (shared with every other product of x:
// bf16_activation; x itself when bf16), and the weight: a parameter as itself, its bf16
// copy taken again in backward (the optimizer's copy in training, core/bf16_weights.h), a
// weight made in the forward (e.g. attention's q|k|v concatenated) only as its bf16 copy,
// half its size.
struct Bf16Linear {
  Tensor x16, w, w16;
  int64_t R = 0, in = 0, out = 0;

  // dx (Grads input 0) and dw (input 1), those Grads wants, from dy16: (R,out) bf16.
  void backward(Grads& g, const bf16* dy16) const;
};

// x: (...,in) f32 or bf16 contiguous, w: (out,in) f32 contiguous, bias: (out) or undefined
// -> y: (R,out) contiguous, f32 or bf16 (y's dtype), written; grad: whether backward will run.
Bf16Linear bf16_linear(const Tensor& x, const Tensor& w, const Tensor& bias, bool relu, const Tensor& y, bool grad);

}  // namespace attend::detail
