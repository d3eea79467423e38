// attend score: how likely the model finds given translations. For each (source, target)
// pair, the natural-log probability of the target's pieces followed by </s>, given the
// source (teacher forcing, the same computation as the training loss without label
// smoothing); --normalize divides by the number of target tokens (pieces + 1).
//
//   LoadedModel m = load_model_dir("runs/demo");
//   std::vector<double> lp = score_pairs(m, {"Ein Hund."}, {"A dog."}, {.batch_tokens = 4096});
//
// Pairs are batched by length under the token budget; results come back in input order.
// Sides longer than the model's max_positions (specials included) are truncated with a warning.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/model_dir.h"

namespace attend {

struct ScoreOptions {
  int64_t batch_tokens = 4096;  // padded tokens per batch, as train.max_tokens
  bool normalize = false;       // per target token instead of the sum
};

std::vector<double> score_pairs(const LoadedModel& model, const std::vector<std::string>& source,
                                const std::vector<std::string>& target, const ScoreOptions& options,
                                const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace attend
