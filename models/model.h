// Model: the base of the trainable architectures (Seq2Seq, Classifier). A model owns
// its config and the Generator its layers draw initial weights and dropout masks from,
// and is built from a config by the one factory:
//
//   ModelConfig config = ...;
//   std::unique_ptr<Model> model = make_model(config, /*seed=*/1);   // validates config
//   Seq2Seq& s2s = model->as<Seq2Seq>();
//
// register_model adds an architecture under a name (ModelConfig::type); an unknown
// type is an error that lists the registered names.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model_config.h"

namespace attend {

class Model : public Module {
 public:
  Model(const ModelConfig& config, uint64_t seed) : config_(config), gen_(seed) {}
  const ModelConfig& config() const { return config_; }
  // Initialisation and dropout draw from it; its state goes into checkpoints.
  Generator& generator() { return gen_; }

  template <typename M> M& as() { return const_cast<M&>(std::as_const(*this).template as<M>()); }
  template <typename M> const M& as() const {
    const M* m = dynamic_cast<const M*>(this);
    CHECK(m, "model of type '{}' is not the architecture asked for", config_.type);
    return *m;
  }

 protected:
  ModelConfig config_;
  Generator gen_;
};

using ModelBuilder = std::function<std::unique_ptr<Model>(const ModelConfig& config, uint64_t seed)>;

void register_model(const std::string& name, ModelBuilder builder);
std::vector<std::string> registered_models();  // sorted
// Validates config, then builds the architecture named config.type, weights drawn from seed.
std::unique_ptr<Model> make_model(const ModelConfig& config, uint64_t seed = 1);

}  // namespace attend
