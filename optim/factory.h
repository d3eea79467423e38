// make_optimizer: an optimizer from a name and one flat options struct, the shape
// a config section has ({name: adam, lr: 5e-4, betas: [0.9, 0.98], ...}).
//
//   auto opt = make_optimizer(model.named_parameters(), {.name = "adamw", .lr = 1e-3f, .weight_decay = 0.01f});
//
// An unknown name lists the valid ones. Fields an optimizer does not use are ignored.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace attend {

struct OptimizerOptions {
  std::string name = "adam";  // one of optimizer_names()
  float lr = 1e-3f;
  double beta1 = 0.9;    // adam, adamw
  double beta2 = 0.999;  // adam, adamw
  float eps = 1e-8f;     // adam, adamw
  float weight_decay = 0.0f;
  float momentum = 0.0f;   // sgd
  float dampening = 0.0f;  // sgd
  bool nesterov = false;   // sgd
};

const std::vector<std::string>& optimizer_names();
std::unique_ptr<Optimizer> make_optimizer(NamedParams params, const OptimizerOptions& options);

}  // namespace attend
