// A module's weights as a safetensors file, by full parameter name (fp32).
//
//   save_weights(model, "run/model.safetensors", {{"format", "attend"}});
//   auto metadata = load_weights(model, "run/model.safetensors");
//
// Saving is atomic. Loading requires exactly the model's tensor names and shapes and
// throws naming the file and the first missing, unexpected or mis-shaped tensor.
#pragma once

#include <map>
#include <string>

#include "layers/module.h"

namespace attend {

void save_weights(const Module& module, const std::string& path,
                  const std::map<std::string, std::string>& metadata = {});
// Returns the file's __metadata__.
std::map<std::string, std::string> load_weights(Module& module, const std::string& path);

}  // namespace attend
