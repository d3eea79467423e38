// Optimizer: the base of SGD, Adam and AdamW over a list of named parameters.
//
//   Adam opt(model.named_parameters(), /*lr=*/5e-4f, {.beta2 = 0.98f, .eps = 1e-9f});
//   for (...) { loss.backward(); opt.set_lr(schedule(opt.step_count() + 1)); opt.step(); opt.zero_grad(); }
//
// Every parameter is a contiguous f32 leaf; step() updates it in place from its
// .grad() and skips parameters whose gradient is undefined. All state (moment
// buffers, step counts) is allocated once at construction. state() exposes it by
// name ("exp_avg.<param>", "momentum.<param>", ...; scalars "step" and
// "step.<param>") for checkpoints; load_state() copies a saved state back in.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace attend {

using NamedParams = std::vector<std::pair<std::string, Tensor>>;

struct OptimizerState {
  std::map<std::string, Tensor> tensors;  // "<buffer>.<param>" -> tensor of the parameter's shape
  std::map<std::string, double> scalars;  // "step" (step() calls), "step.<param>" (updates of that parameter)
};

class Optimizer {
 public:
  Optimizer(NamedParams params, float lr, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, at the current learning rate.
  void step();
  // Drops every parameter's gradient (the next backward() starts from zero).
  void zero_grad();

  float lr() const { return lr_; }
  void set_lr(float lr);
  int64_t step_count() const { return steps_; }  // step() calls so far
  const NamedParams& params() const { return params_; }
  const std::string& name() const { return name_; }

  // The state by name. The tensors share storage with the optimizer: write them
  // out before the next step().
  OptimizerState state() const;
  // Copies `state` into this optimizer's buffers. Every buffer and step count must
  // be present with the parameter's shape; errors name the missing or mis-shaped entry.
  void load_state(const OptimizerState& state);

 protected:
  // Allocates one zero buffer per parameter, saved as "<kind>.<param>". Call only
  // from a derived constructor.
  std::vector<Tensor> add_buffers(const std::string& kind);
  // Updates parameter i in place. p, g: (n) contiguous; `step` counts this
  // parameter's updates, this one included (1 on its first update).
  virtual void update(size_t i, float* p, const float* g, int64_t n, int64_t step) = 0;

 private:
  NamedParams params_;
  float lr_;
  std::string name_;
  int64_t steps_ = 0;
  std::vector<int64_t> param_steps_;
  std::vector<std::pair<std::string, std::vector<Tensor>>> buffers_;  // kind -> one per parameter
};

// Elements below which an update kernel runs on one thread.
inline constexpr int64_t kOptimParallelMin = 1 << 15;

}  // namespace attend
