#include "core/autograd.h"

#include "core/kernels.h"
#include "core/profile.h"

#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace attend {
namespace {
thread_local bool g_grad_enabled = true;

Tensor zeros_f32(const Shape& shape) { return Tensor::zeros(shape, DType::f32); }

// dst += src, both contiguous f32 of equal size.
void accumulate(const Tensor& dst, const Tensor& src) {
  kernels::accumulate(dst.data(), src.data(), dst.numel());
}
}  // namespace

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

const Tensor& Grads::at(size_t i) {
  CHECK(i < inputs_.size(), "Grads::at({}): op has {} inputs", i, inputs_.size());
  if (!buffers_[i].defined()) buffers_[i] = zeros_f32(inputs_[i].shape);
  return buffers_[i];
}

const Tensor& Grads::for_write(size_t i, float& beta) {
  CHECK(i < inputs_.size(), "Grads::for_write({}): op has {} inputs", i, inputs_.size());
  beta = buffers_[i].defined() ? 1.0f : 0.0f;
  if (!buffers_[i].defined()) buffers_[i] = Tensor::empty(inputs_[i].shape);
  return buffers_[i];
}

bool Grads::adopt(size_t i, const Tensor& t) {
  if (!wants(i) || buffers_[i].defined() || retain_graph_) return false;
  CHECK(t.dtype() == DType::f32 && t.is_contiguous() && t.shape() == inputs_[i].shape,
        "Grads::adopt({}): need a contiguous f32 tensor of shape {}, got {}", i, shape_str(inputs_[i].shape), t.str());
  buffers_[i] = t;
  return true;
}

namespace autograd {

bool grad_enabled() { return g_grad_enabled; }

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, const Tensor& y, std::vector<Tensor> inputs, BackwardFn backward) {
  if (profile::enabled()) profile::forward_op(name);
  if (!needs_grad(inputs)) return y;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    Edge& e = node->inputs[i];
    if (!in.defined() || !in.requires_grad()) continue;
    e.requires_grad = true;
    e.shape = in.shape();
    if (in.is_leaf())
      e.leaf = in.impl_ptr();
    else
      e.grad_fn = in.impl()->grad_fn;
  }
  node->backward = std::move(backward);
  Tensor out = y.detach();
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  CHECK(root.defined(), "backward() on an undefined tensor");
  CHECK(root.requires_grad(), "backward(): tensor {} does not require grad (no input it depends on does)",
        root.str());
  Tensor seed;
  if (grad.defined()) {
    CHECK(grad.shape() == root.shape(), "backward(): gradient has shape {}, tensor has shape {}",
          shape_str(grad.shape()), shape_str(root.shape()));
    CHECK(grad.dtype() == DType::f32, "backward(): gradient must be f32, got {}", dtype_name(grad.dtype()));
    seed = grad.detach().contiguous();
  } else {
    CHECK(root.numel() == 1,
          "backward(): tensor of shape {} is not a scalar; pass a gradient of the same shape",
          shape_str(root.shape()));
    seed = Tensor::ones(root.shape());
  }

  if (root.is_leaf()) {
    TensorImpl* leaf = root.impl();
    if (!leaf->grad) leaf->grad = Tensor::zeros(root.shape()).impl_ptr();
    accumulate(Tensor(leaf->grad), seed);
    return;
  }

  // Topological order of the ops reachable from root (iterative DFS). Handles, not raw
  // pointers: freeing a node releases its edges, which may hold the last reference to
  // nodes later in the order.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root.impl()->grad_fn, 0}};
  visited.insert(root.impl()->grad_fn.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    CHECK(!node->freed,
          "backward(): the graph through op '{}' was already freed by an earlier backward(); "
          "call the first backward with retain_graph=true to go through it twice",
          node->name);
    if (next < node->inputs.size()) {
      const std::shared_ptr<Node>& in = node->inputs[next++].grad_fn;
      if (in && visited.insert(in.get()).second) stack.push_back({in, 0});
    } else {
      order.push_back(std::move(node));
      stack.pop_back();
    }
  }

  profile::BackwardScope profiling;
  // The gradient of each non-leaf tensor, keyed by the op that made it (one op, one result).
  std::unordered_map<Node*, Tensor> grads;
  grads[root.impl()->grad_fn.get()] = seed;
  std::vector<Tensor> buffers;
  for (size_t k = order.size(); k-- > 0;) {
    std::shared_ptr<Node> node = std::move(order[k]);
    auto it = grads.find(node.get());
    if (it != grads.end()) {
      Tensor dy = std::move(it->second);
      grads.erase(it);
      // Buffers: leaves accumulate straight into .grad (a leaf without one gets the buffer
      // the closure makes); non-leaves into `grads`.
      buffers.assign(node->inputs.size(), Tensor());
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        const Edge& in = node->inputs[i];
        if (!in.requires_grad) continue;
        if (in.leaf) {
          if (in.leaf->grad) buffers[i] = Tensor(in.leaf->grad);
        } else {
          auto g = grads.find(in.grad_fn.get());
          if (g != grads.end()) buffers[i] = g->second;
        }
      }
      Grads g(node->inputs, buffers, retain_graph);
      if (profile::enabled()) {
        const auto t0 = std::chrono::steady_clock::now();
        node->backward(dy, g);
        profile::backward_op(node->name,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      } else {
        node->backward(dy, g);
      }
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        const Edge& in = node->inputs[i];
        if (in.leaf) {  // a leaf whose closure wrote no buffer still gets a (zero) gradient
          if (!in.leaf->grad)
            in.leaf->grad = buffers[i].defined() ? buffers[i].impl_ptr() : zeros_f32(in.shape).impl_ptr();
          else if (buffers[i].defined() && in.leaf->grad != buffers[i].impl_ptr())
            accumulate(Tensor(in.leaf->grad), buffers[i]);  // the same leaf twice in one op
          continue;
        }
        if (!buffers[i].defined() || !in.grad_fn) continue;
        auto [slot, inserted] = grads.try_emplace(in.grad_fn.get(), buffers[i]);
        if (!inserted && slot->second.impl() != buffers[i].impl()) accumulate(slot->second, buffers[i]);
      }
    }
    if (!retain_graph) {
      node->backward = nullptr;
      node->inputs.clear();
      node->freed = true;
    }
  }
}

}  // namespace autograd
}  // namespace attend
