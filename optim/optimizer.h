// Optimizer: the base of SGD, Adam and AdamW over a list of named parameters.
//
//   Adam opt(model.named_parameters(), /*lr=*/5e-4f, {.beta2 = 0.98f, .eps = 1e-9f});
//   for (...) { loss.backward(); opt.set_lr(schedule(opt.step_count() + 1)); opt.step(); opt.zero_grad(); }
//
// Every parameter is a contiguous f32 leaf; step() updates it in place from its
// .grad() and skips parameters whose gradient is undefined. At construction the
// parameters move into one flat buffer (each parameter becomes a view into it, values
// unchanged, every handle to it sees the move) and each kind of state (moments,
// momentum) gets one flat buffer laid out alike, so an optimizer can update every
// parameter in one pass (Adam does: update_all). Segments start on 64-byte boundaries.
// Gradients stay where backward() puts them: they live only from backward to
// zero_grad(), and the caching allocator reuses their memory for activations.
// state() exposes the state by name ("exp_avg.<param>", "momentum.<param>", ...;
// scalars "step" and "step.<param>") for checkpoints; load_state() copies a saved
// state back in.
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
  // bf16 training: a bf16 copy of every parameter, as (parameter, copy) pairs for
  // Bf16CopyScope (core/bf16_weights.h), so that the products of a step read the weights
  // rounded once per update instead of rounding them for each product. Made on the first
  // call (rounded to nearest even, one flat buffer: 2 bytes per parameter) and kept current
  // by every step() after it; Adam rounds in its update pass. Once they exist, parameters
  // must change only through step() (refresh_bf16_copies() after any other write).
  const std::vector<std::pair<Tensor, Tensor>>& bf16_copies();
  void refresh_bf16_copies();  // rounds every parameter into its copy again, if copies exist

  // Copies `state` into this optimizer's buffers. Every buffer and step count must
  // be present with the parameter's shape; errors name the missing or mis-shaped entry.
  void load_state(const OptimizerState& state);

 protected:
  // Allocates one flat zero buffer laid out like the parameters and returns a view
  // of it per parameter, saved as "<kind>.<param>". Call only from a derived constructor.
  std::vector<Tensor> add_buffers(const std::string& kind);
  // One parameter's update of this step: parameter i, p, g: (n) contiguous; `step`
  // counts this parameter's updates, this one included (1 on its first update); p16: (n)
  // p's bf16 copy to round the updated values into, or null when there are no copies.
  struct Update {
    size_t index;
    float* p;
    const float* g;
    int64_t n;
    int64_t step;
    bf16* p16 = nullptr;
  };
  // Updates parameter i in place.
  virtual void update(size_t i, float* p, const float* g, int64_t n, int64_t step) = 0;
  // Updates every parameter of this step (those with a gradient, in parameter order) and
  // rounds each into its p16 when given. The default calls update() for each, then rounds;
  // an optimizer may fuse them into one pass.
  virtual void update_all(const std::vector<Update>& updates);
  // Where parameter i starts in the flat buffers (elements).
  int64_t flat_offset(size_t i) const { return offsets_[i]; }

 private:
  NamedParams params_;
  float lr_;
  std::string name_;
  int64_t steps_ = 0;
  std::vector<int64_t> param_steps_;
  std::vector<int64_t> offsets_;  // parameter i's first element in the flat buffers
  int64_t flat_size_ = 0;         // elements of each flat buffer (padding included)
  Tensor flat_params_;            // the parameters' storage (views into it)
  Tensor flat_bf16_;              // bf16_copies(), laid out as flat_params_ (when made)
  std::vector<std::pair<Tensor, Tensor>> bf16_copies_;
  std::vector<std::pair<std::string, std::vector<Tensor>>> buffers_;  // kind -> one per parameter
};

// Elements below which an update kernel runs on one thread.
inline constexpr int64_t kOptimParallelMin = 1 << 15;

}  // namespace attend
