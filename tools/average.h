// attend average: checkpoint averaging. The weights of several checkpoints (folders
// DIR/checkpoints/step-N holding model.safetensors, model directories, or .safetensors
// files) are averaged tensor by tensor into OUT/model.safetensors, and the first
// checkpoint's model directory (config.yaml, vocabularies, labels.txt) is copied beside
// it, so OUT is a model directory every command can use.
//
//   average_checkpoints({"runs/demo/checkpoints/step-9000", "runs/demo/checkpoints/step-10000"},
//                       "runs/demo-avg", {});
//
// Every file must hold the same tensor names and shapes (an error names the first that
// differs). The mean is accumulated in double and rounded once to f32.
#pragma once

#include <string>
#include <vector>

namespace attend {

struct AverageOptions {
  bool overwrite = false;  // replace an existing OUT/model.safetensors
};

void average_checkpoints(const std::vector<std::string>& checkpoints, const std::string& out_dir,
                         const AverageOptions& options);

// The model directory a checkpoint belongs to: DIR for DIR/checkpoints/step-N (or a
// file in it), the folder itself when it holds config.yaml.
std::string model_dir_of(const std::string& checkpoint);

}  // namespace attend
