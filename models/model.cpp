#include "models/model.h"

#include <map>

#include "models/classifier.h"
#include "models/seq2seq.h"

namespace attend {
namespace {

std::map<std::string, ModelBuilder>& registry() {
  static std::map<std::string, ModelBuilder> builders = {
      {"seq2seq", [](const ModelConfig& c, uint64_t seed) { return std::make_unique<Seq2Seq>(c, seed); }},
      {"classifier", [](const ModelConfig& c, uint64_t seed) { return std::make_unique<Classifier>(c, seed); }},
  };
  return builders;
}

}  // namespace

void register_model(const std::string& name, ModelBuilder builder) {
  CHECK(!name.empty() && builder, "register_model: empty name or builder");
  CHECK(!registry().count(name), "register_model: '{}' is already registered", name);
  registry().emplace(name, std::move(builder));
}

std::vector<std::string> registered_models() {
  std::vector<std::string> names;
  for (const auto& [name, builder] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<Model> make_model(const ModelConfig& config, uint64_t seed) {
  auto it = registry().find(config.type);
  CHECK(it != registry().end(), "model.type: '{}' is not a registered model (valid: {})", config.type,
        fmt::join(registered_models(), ", "));
  config.validate();
  return it->second(config, seed);
}

}  // namespace attend
