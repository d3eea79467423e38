#include "optim/factory.h"

#include "optim/adam.h"
#include "optim/sgd.h"

namespace attend {

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"sgd", "adam", "adamw"};
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(NamedParams params, const OptimizerOptions& o) {
  AdamOptions adam{.beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay};
  if (o.name == "adam") return std::make_unique<Adam>(std::move(params), o.lr, adam);
  if (o.name == "adamw") return std::make_unique<AdamW>(std::move(params), o.lr, adam);
  if (o.name == "sgd")
    return std::make_unique<Sgd>(std::move(params), o.lr,
                                 SgdOptions{.momentum = o.momentum, .dampening = o.dampening,
                                            .weight_decay = o.weight_decay, .nesterov = o.nesterov});
  ATTEND_ERROR("unknown optimizer '{}'; valid optimizers: {}", o.name, fmt::join(optimizer_names(), ", "));
}

}  // namespace attend
