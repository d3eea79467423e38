// Module: the base of every layer and model. A module owns named parameters and
// named child modules; the full name of a parameter is the path through its parents
// ("decoder.layers.0.self_attn.q_proj.weight"), the name used verbatim in checkpoints
// (docs/model-format.md). Modules implement only forward; autograd does the rest.
//
//   class Scale : public Module {
//    public:
//     Scale() { w_ = register_parameter("weight", Tensor::ones({4})); }
//     Tensor forward(const Tensor& x) const { return x * w_; }
//    private:
//     Tensor w_;
//   };
//
// A tensor registered under two names (tied embeddings) is one parameter: it is listed
// once, under the name it was first reached by. Modules are neither copied nor moved
// (parents keep pointers to their children).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace attend {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every distinct parameter, depth-first in registration order, with its full name.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;  // total elements
  Tensor parameter(const std::string& name) const;  // by full name, or throws listing near names

  // Training mode turns dropout on; eval mode turns it off. Applies to all children.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();

  // The weights by full name (the tensors themselves, not copies).
  std::map<std::string, Tensor> state() const;
  // Copies `tensors` into the parameters. Throws, naming the tensor (and `source`, e.g.
  // the file), when one is missing, one is not a parameter of this module, or shapes or
  // dtypes differ; on error the parameters are left unchanged.
  void load_state(const std::map<std::string, Tensor>& tensors, const std::string& source = "the checkpoint");

 protected:
  // Registers a leaf parameter (sets requires_grad) and returns the handle to keep.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a child; `child` must outlive this module (normally a member of it).
  // An empty name folds the child's parameter names into this module's.
  template <typename M> M& register_module(const std::string& name, M& child) {
    add_child(name, &child);
    return child;
  }

 private:
  void add_child(const std::string& name, Module* child);
  void collect(const std::string& prefix, NamedTensors& out, std::vector<const TensorImpl*>& seen) const;

  NamedTensors params_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

}  // namespace attend
