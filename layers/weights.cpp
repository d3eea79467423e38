#include "layers/weights.h"

#include "core/safetensors.h"

namespace attend {

void save_weights(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.named_parameters(), metadata);
}

std::map<std::string, std::string> load_weights(Module& module, const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  std::map<std::string, Tensor> tensors(file.tensors.begin(), file.tensors.end());
  module.load_state(tensors, path);
  return file.metadata;
}

}  // namespace attend
