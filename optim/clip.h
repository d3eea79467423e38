// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
//
//   float norm = clip_grad_norm(params, /*max_norm=*/1.0f);  // before opt.step()
//
// The L2 norm over every defined gradient is computed in double, in blocks of a
// fixed size summed in a fixed order, so it does not depend on the thread count.
// When it exceeds max_norm, every gradient is scaled by max_norm / (norm + 1e-6).
// max_norm <= 0 only computes the norm. A non-finite norm is returned and nothing
// is scaled: the caller decides (e.g. skips the step).
#pragma once

#include "optim/optimizer.h"

namespace attend {

// Returns the global gradient norm before clipping.
float clip_grad_norm(const NamedParams& params, float max_norm);

}  // namespace attend
