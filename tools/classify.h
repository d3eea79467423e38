// attend classify: one label per input line from a classifier model directory, with the
// probability of every label (in labels.txt order) on request.
//
//   LoadedModel m = load_model_dir("runs/sst2");
//   std::vector<Classification> out = classify_lines(m, {"a gripping film", ""}, 4096);
//   m.labels.name(out[0].label);   // "1"
//
// Lines are batched by length under the token budget; results come back in input order.
// Empty lines are classified like any other (the model sees only </s>); lines longer than
// the model's max_positions are truncated with a warning.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/model_dir.h"

namespace attend {

struct Classification {
  int32_t label = 0;        // id in the model's LabelMap
  std::vector<float> probs;  // per label id, summing to 1
};

std::vector<Classification> classify_lines(const LoadedModel& model, const std::vector<std::string>& lines,
                                           int64_t batch_tokens,
                                           const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace attend
