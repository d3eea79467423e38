#include "layers/module.h"

#include <algorithm>
#include <set>

namespace attend {

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  CHECK(!name.empty() && name.find('.') == std::string::npos,
        "register_parameter: name '{}' must be non-empty and contain no '.'", name);
  for (const auto& [n, t] : params_) CHECK(n != name, "register_parameter: '{}' registered twice", name);
  CHECK(value.defined() && value.dtype() == DType::f32 && value.is_contiguous(),
        "register_parameter: '{}' must be a contiguous f32 tensor, got {}", name, value.str());
  if (!value.requires_grad()) value.set_requires_grad(true);
  params_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, Module* child) {
  for (const auto& [n, c] : children_)
    CHECK(n != name || name.empty(), "register_module: '{}' registered twice", name);
  child->train(training_);
  children_.emplace_back(name, child);
}

void Module::collect(const std::string& prefix, NamedTensors& out, std::vector<const TensorImpl*>& seen) const {
  for (const auto& [name, t] : params_) {
    if (std::find(seen.begin(), seen.end(), t.impl()) != seen.end()) continue;  // tied: first name wins
    seen.push_back(t.impl());
    out.emplace_back(prefix + name, t);
  }
  for (const auto& [name, child] : children_) child->collect(name.empty() ? prefix : prefix + name + ".", out, seen);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  std::vector<const TensorImpl*> seen;
  collect("", out, seen);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

Tensor Module::parameter(const std::string& name) const {
  NamedTensors all = named_parameters();
  for (const auto& [n, t] : all)
    if (n == name) return t;
  std::vector<std::string> near;
  const std::string head = name.substr(0, name.rfind('.') + 1);
  for (const auto& [n, t] : all)
    if (!head.empty() && n.starts_with(head)) near.push_back(n);
  ATTEND_ERROR("no parameter named '{}'{}", name,
               near.empty() ? std::string() : fmt::format(" (parameters under '{}': {})", head, fmt::join(near, ", ")));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Tensor& t : parameters()) t.zero_grad();
}

std::map<std::string, Tensor> Module::state() const {
  std::map<std::string, Tensor> out;
  for (auto& [name, t] : named_parameters()) out.emplace(name, t);
  return out;
}

void Module::load_state(const std::map<std::string, Tensor>& tensors, const std::string& source) {
  const NamedTensors params = named_parameters();
  std::set<std::string> expected;
  // Check everything first so a failed load leaves the weights untouched.
  for (const auto& [name, p] : params) {
    expected.insert(name);
    auto it = tensors.find(name);
    CHECK(it != tensors.end(), "load_state: tensor '{}' is missing from {} (the model expects {}){}", name, source,
          p.str(), tensors.empty() ? "; it holds no tensors" : "");
    const Tensor& t = it->second;
    CHECK(t.shape() == p.shape(), "load_state: tensor '{}' has shape {} in {}, the model expects {}", name,
          shape_str(t.shape()), source, shape_str(p.shape()));
    CHECK(t.dtype() == DType::f32, "load_state: tensor '{}' is {} in {}, the model expects f32", name,
          dtype_name(t.dtype()), source);
  }
  for (const auto& [name, t] : tensors)
    CHECK(expected.count(name), "load_state: unexpected tensor '{}' {} in {} (not a parameter of this model{})",
          name, t.str(), source,
          name.find("embed_tokens") != std::string::npos || name.find("output_projection") != std::string::npos
              ? "; check tie_embeddings"
              : "");
  for (const auto& [name, p] : params) copy_strided(p, tensors.at(name));
}

}  // namespace attend
