#include "models/search.h"

#include <algorithm>
#include <cmath>

#include "core/ops.h"

namespace attend {

int64_t max_target_length(int64_t src_len, const SearchOptions& options) {
  const double limit = double(options.max_length_a) * double(src_len) + double(options.max_length_b);
  return std::max<int64_t>(1, int64_t(std::floor(limit)));
}

std::vector<Hypothesis> greedy_search(const Seq2Seq& model, const Tensor& src, const SearchOptions& options) {
  CHECK(src.dim() == 2, "greedy_search: src must be (B,S), got {}", src.str());
  NoGradGuard no_grad;
  const int64_t B = src.size(0), S = src.size(1);
  const int64_t pad = model.config().pad_id;

  // Per-row length limit from the real (non-pad) source length.
  std::vector<int64_t> limit(static_cast<size_t>(B));
  const std::vector<int64_t> ids = src.to_ids();
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = 0;
    for (int64_t s = 0; s < S; ++s) len += ids[size_t(b * S + s)] != pad;
    limit[size_t(b)] = max_target_length(len, options);
    longest = std::max(longest, limit[size_t(b)]);
  }

  std::vector<Hypothesis> out(static_cast<size_t>(B));
  DecoderState state = model.encode(src);
  std::vector<int64_t> alive(static_cast<size_t>(B));  // batch row -> original row
  for (int64_t b = 0; b < B; ++b) alive[size_t(b)] = b;
  std::vector<int32_t> last(size_t(B), options.bos_id);

  for (int64_t t = 0; t < longest && !alive.empty(); ++t) {
    const int64_t n = int64_t(alive.size());
    Tensor logp = model.decode_step(state, Tensor::from_ids(last, {n}));  // (n,V)
    const int64_t V = logp.size(1);
    const float* lp = logp.data();
    std::vector<int64_t> keep;
    std::vector<int32_t> next_last;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = lp + i * V;
      const int32_t best = int32_t(std::max_element(row, row + V) - row);
      Hypothesis& h = out[size_t(alive[size_t(i)])];
      h.score += row[best];
      if (best == options.eos_id) {
        h.finished = true;
        continue;
      }
      h.tokens.push_back(best);
      if (int64_t(h.tokens.size()) >= limit[size_t(alive[size_t(i)])]) continue;
      keep.push_back(i);
      next_last.push_back(best);
    }
    if (int64_t(keep.size()) < n && !keep.empty()) {
      std::vector<int32_t> index(keep.begin(), keep.end());
      state.reorder(Tensor::from_ids(index, {int64_t(index.size())}));
      std::vector<int64_t> still;
      for (int64_t i : keep) still.push_back(alive[size_t(i)]);
      alive = std::move(still);
    } else if (keep.empty()) {
      alive.clear();
    }
    last = std::move(next_last);
  }
  return out;
}

}  // namespace attend
