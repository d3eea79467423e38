// Reverse-mode automatic differentiation.
//
// An op computes its result and, in the same body, records how to send the
// gradient back (STYLE.md rule 2):
//
//   Tensor y = Tensor::empty_like(x);
//   kernels::tanh_forward(y.data(), x.data(), x.numel());
//   return autograd::record("tanh", y, {x}, [y](const Tensor& dy, Grads& g) {
//     if (g.wants(0)) kernels::tanh_backward(g.at(0).data(), y.data(), dy.data(), y.numel());
//   });
//
// record() returns a new handle on y's data that carries the history; the closure
// may capture y itself without creating a cycle. The graph holds no input's data:
// a closure keeps alive exactly the tensors it captures. Under NoGradGuard, or when no
// input requires a gradient, record() drops the closure at once, so inference
// keeps no saved tensors. backward() runs closures in reverse topological order,
// accumulates into leaf .grad(), and frees each node once it has run.
#pragma once

#include <functional>
#include <initializer_list>
#include <vector>

#include "core/tensor.h"

namespace attend {

struct Node;

// Where the gradient of one op input goes; not the input's data, so a graph keeps
// alive only the tensors its closures capture.
struct Edge {
  std::shared_ptr<Node> grad_fn;     // the op that made the input (non-leaves)
  std::shared_ptr<TensorImpl> leaf;  // the input itself when it is a leaf needing a gradient
  Shape shape;
  bool requires_grad = false;
};

// What a backward closure writes into: one gradient buffer per op input.
class Grads {
 public:
  Grads(const std::vector<Edge>& inputs, std::vector<Tensor>& buffers, bool retain_graph = false)
      : inputs_(inputs), buffers_(buffers), retain_graph_(retain_graph) {}
  // Whether input i needs a gradient (skip the work when it does not).
  bool wants(size_t i) const { return i < inputs_.size() && inputs_[i].requires_grad; }
  // The gradient buffer of input i: contiguous f32 with input i's shape, zero the
  // first time it is asked for. Backward kernels accumulate into it (+=).
  const Tensor& at(size_t i);
  // The gradient buffer of input i for a kernel that writes every element of it (a
  // product's beta, or assign-or-add): when input i has no gradient yet, a new buffer with
  // undefined contents and beta = 0 (overwrite each element), else at(i) and beta = 1
  // (accumulate). Spares the zero fill and the reading back of zeros.
  const Tensor& for_write(size_t i, float& beta);
  // Makes t (contiguous f32 of input i's shape) input i's gradient, when input i has no
  // gradient yet and the graph will not be run again (no retain_graph): a closure that
  // solely owns a saved tensor can then write the gradient over it instead of holding
  // both. False otherwise: then accumulate into at(i) as usual.
  bool adopt(size_t i, const Tensor& t);
  // Whether the graph may be run again (a closure must then leave what it saved intact).
  bool retain_graph() const { return retain_graph_; }

 private:
  const std::vector<Edge>& inputs_;
  std::vector<Tensor>& buffers_;
  bool retain_graph_ = false;
};

using BackwardFn = std::function<void(const Tensor& dy, Grads& g)>;

struct Node {
  const char* name = "";
  std::vector<Edge> inputs;
  BackwardFn backward;
  bool freed = false;
};

// Turns gradient recording off for its lifetime (thread-local).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

namespace autograd {

bool grad_enabled();

// Whether any of `inputs` would make an op's result need a gradient.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches history to the result y of op `name` computed from `inputs`.
Tensor record(const char* name, const Tensor& y, std::vector<Tensor> inputs, BackwardFn backward);

void backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace autograd
}  // namespace attend
