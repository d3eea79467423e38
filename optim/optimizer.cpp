#include "optim/optimizer.h"

#include "core/allocator.h"
#include "core/gemm_bf16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace attend {

Optimizer::Optimizer(NamedParams params, float lr, std::string name)
    : params_(std::move(params)), lr_(lr), name_(std::move(name)) {
  CHECK(!params_.empty(), "{}: got an empty parameter list", name_);
  set_lr(lr);
  std::set<std::string> seen;
  for (const auto& [pname, p] : params_) {
    CHECK(!pname.empty(), "{}: a parameter has an empty name", name_);
    CHECK(seen.insert(pname).second, "{}: parameter name '{}' appears twice", name_, pname);
    CHECK(p.defined(), "{}: parameter '{}' is an undefined tensor", name_, pname);
    CHECK(p.dtype() == DType::f32, "{}: parameter '{}' is {}, expected f32", name_, pname,
          dtype_name(p.dtype()));
    CHECK(p.is_leaf(), "{}: parameter '{}' is not a leaf (it was produced by an op)", name_, pname);
    CHECK(p.is_contiguous(), "{}: parameter '{}' ({}) is not contiguous", name_, pname, p.str());
  }
  param_steps_.assign(params_.size(), 0);
  // Flat layout: each segment starts on a 64-byte boundary (16 floats).
  for (const auto& [pname, p] : params_) {
    offsets_.push_back(flat_size_);
    flat_size_ += (p.numel() + 15) / 16 * 16;
  }
  flat_params_ = Tensor::zeros({flat_size_});
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    TensorImpl& impl = *p.impl();
    if (impl.storage == flat_params_.impl()->storage) continue;  // the same tensor listed twice
    const float* src = p.data();
    std::copy(src, src + p.numel(), flat_params_.data() + offsets_[i]);
    impl.storage = flat_params_.impl()->storage;  // every handle of p now reads the flat copy
    impl.offset = offsets_[i];
  }
  allocator().empty_cache();  // the parameters' old blocks: not needed again
}

void Optimizer::set_lr(float lr) {
  CHECK(std::isfinite(lr) && lr >= 0, "{}: learning rate must be finite and >= 0, got {}", name_, lr);
  lr_ = lr;
}

std::vector<Tensor> Optimizer::add_buffers(const std::string& kind) {
  const Tensor flat = Tensor::zeros({flat_size_});
  std::vector<Tensor> buffers;
  buffers.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    buffers.push_back(make_view(flat, p.shape(), contiguous_strides(p.shape()), offsets_[i]));
  }
  buffers_.emplace_back(kind, buffers);
  return buffers;
}

void Optimizer::update_all(const std::vector<Update>& updates) {
  for (const Update& u : updates) {
    update(u.index, u.p, u.g, u.n, u.step);
    if (u.p16 != nullptr) convert_to_bf16(u.p16, u.p, 1, u.n, u.n);
  }
}

const std::vector<std::pair<Tensor, Tensor>>& Optimizer::bf16_copies() {
  if (flat_bf16_.defined()) return bf16_copies_;
  flat_bf16_ = Tensor::empty({flat_size_}, DType::bf16);
  for (const auto& [pname, p] : params_) {
    // A view of flat_bf16_ where p sits in flat_params_ (a parameter listed twice shares it).
    bf16_copies_.emplace_back(p, make_view(flat_bf16_, p.shape(), contiguous_strides(p.shape()), p.offset()));
  }
  refresh_bf16_copies();
  return bf16_copies_;
}

void Optimizer::refresh_bf16_copies() {
  for (const auto& [p, copy] : bf16_copies_) convert_to_bf16(copy.data_as<bf16>(), p.data(), 1, p.numel(), p.numel());
}

void Optimizer::step() {
  std::vector<Update> updates;
  updates.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, p] = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    CHECK(g.shape() == p.shape() && g.dtype() == DType::f32 && g.is_contiguous(),
          "{}: gradient of '{}' is {} (contiguous: {}), parameter is {}", name_, pname, g.str(),
          g.is_contiguous(), p.str());
    bf16* p16 = flat_bf16_.defined() ? bf16_copies_[i].second.data_as<bf16>() : nullptr;
    updates.push_back({i, p.data(), g.data(), p.numel(), ++param_steps_[i], p16});
  }
  // The gradients stay alive through params_ while update_all runs.
  update_all(updates);
  ++steps_;
}

void Optimizer::zero_grad() {
  for (auto& [pname, p] : params_) p.zero_grad();
}

OptimizerState Optimizer::state() const {
  OptimizerState s;
  s.scalars["step"] = double(steps_);
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& pname = params_[i].first;
    s.scalars["step." + pname] = double(param_steps_[i]);
    for (const auto& [kind, buffers] : buffers_) s.tensors[kind + "." + pname] = buffers[i];
  }
  return s;
}

void Optimizer::load_state(const OptimizerState& state) {
  auto scalar = [&](const std::string& key) {
    auto it = state.scalars.find(key);
    CHECK(it != state.scalars.end(), "{}: optimizer state has no scalar '{}'", name_, key);
    CHECK(it->second >= 0 && it->second == std::floor(it->second),
          "{}: optimizer state scalar '{}' must be a whole number >= 0, got {}", name_, key, it->second);
    return int64_t(it->second);
  };
  // Check everything before changing anything, so a failed load leaves the optimizer as it was.
  std::set<std::string> expected;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, p] = params_[i];
    scalar("step." + pname);
    for (const auto& [kind, buffers] : buffers_) {
      std::string key = kind + "." + pname;
      expected.insert(key);
      auto it = state.tensors.find(key);
      CHECK(it != state.tensors.end(), "{}: optimizer state has no tensor '{}' (for parameter {} {})", name_,
            key, pname, p.str());
      const Tensor& t = it->second;
      CHECK(t.defined() && t.dtype() == DType::f32 && t.shape() == p.shape(),
            "{}: optimizer state tensor '{}' is {}, expected f32{} like parameter '{}'", name_, key,
            t.defined() ? t.str() : "undefined", shape_str(p.shape()), pname);
    }
  }
  for (const auto& [key, t] : state.tensors)
    CHECK(expected.count(key), "{}: optimizer state has a tensor '{}' that matches no buffer of this optimizer",
          name_, key);
  steps_ = scalar("step");
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& pname = params_[i].first;
    param_steps_[i] = scalar("step." + pname);
    for (auto& [kind, buffers] : buffers_) {
      const Tensor& saved = state.tensors.at(kind + "." + pname);
      if (saved.raw_data() != buffers[i].raw_data()) copy_strided(buffers[i], saved);
    }
  }
}

}  // namespace attend
