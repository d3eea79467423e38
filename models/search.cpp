#include "models/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/allocator.h"
#include "core/kernels_reduce.h"
#include "core/ops.h"

namespace attend {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Per-row length limits from the real (non-pad) source lengths.
std::vector<int64_t> row_limits(const Seq2Seq& model, const Tensor& src, const SearchOptions& options) {
  const int64_t B = src.size(0), S = src.size(1);
  const int64_t pad = model.config().pad_id;
  const std::vector<int64_t> ids = src.to_ids();
  std::vector<int64_t> limit(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = 0;
    for (int64_t s = 0; s < S; ++s) len += ids[size_t(b * S + s)] != pad;
    limit[size_t(b)] = max_target_length(len, options, model.config().max_positions);
  }
  return limit;
}

// Tokens search never produces: <pad>, <s>, and <unk> unless allowed. logp: (R,V) in place.
void block_tokens(Tensor& logp, int64_t pad_id, const SearchOptions& options) {
  const int64_t R = logp.size(0), V = logp.size(1);
  float* p = logp.data();
  for (int64_t r = 0; r < R; ++r) {
    float* row = p + r * V;
    if (pad_id >= 0 && pad_id < V) row[pad_id] = kNegInf;
    if (options.bos_id >= 0 && options.bos_id < V) row[options.bos_id] = kNegInf;
    if (!options.allow_unk && options.unk_id >= 0 && options.unk_id < V) row[options.unk_id] = kNegInf;
  }
}

void check_options(const Tensor& src, const SearchOptions& options) {
  CHECK(src.dim() == 2, "search: src must be (B,S), got {}", src.str());
  CHECK(options.beam >= 1, "search: beam must be at least 1, got {}", options.beam);
  CHECK(options.nbest >= 1 && options.nbest <= options.beam,
        "search: nbest {} must be between 1 and the beam size {}", options.nbest, options.beam);
}

// The index of row[0..V)'s largest value, the first on ties (std::max_element's answer
// for rows without NaN), found by a vectorised max and a search for it.
int32_t first_max(const float* row, int64_t V) {
  const float m = kernels::row_max(row, V);
  const int64_t i = std::find(row, row + V, m) - row;
  return int32_t(i < V ? i : 0);
}

// The k best (value, index) of row[0..V), best first; ties keep the lower index first.
// Once k are held, blocks of 16 values none of which beats the k-th are skipped by one
// vector compare (most of a row of a trained model's log-probs).
void top_k(const float* row, int64_t V, int k, std::vector<std::pair<float, int32_t>>& out) {
  out.clear();
  auto consider = [&](int64_t v) {
    const float x = row[v];
    if (int(out.size()) == k && !(x > out.back().first)) return;
    auto pos = std::upper_bound(out.begin(), out.end(), x,
                                [](float value, const std::pair<float, int32_t>& e) { return value > e.first; });
    out.insert(pos, {x, int32_t(v)});
    if (int(out.size()) > k) out.pop_back();
  };
  int64_t v = 0;
  for (; v < V && int(out.size()) < k; ++v) consider(v);
  for (; v + 16 <= V; v += 16) {
    const float bar = out.back().first;
    int above = 0;
#pragma omp simd reduction(| : above)
    for (int l = 0; l < 16; ++l) above |= row[v + l] > bar;
    if (above)
      for (int l = 0; l < 16; ++l) consider(v + l);
  }
  for (; v < V; ++v) consider(v);
}

struct Beam {
  std::vector<int32_t> tokens;
  float score = 0.0f;
};

struct Candidate {
  float score;
  int32_t beam;  // index into the sentence's live beams
  int32_t token;
};

// One sentence of a beam search batch.
struct Sentence {
  std::vector<Beam> beams;          // live hypotheses, one state row each
  std::vector<Hypothesis> finished;  // best first, at most nbest
  int64_t finished_count = 0;
  int64_t limit = 0;
  bool done = false;

  void finish(Hypothesis h, int nbest) {
    ++finished_count;
    auto pos = std::upper_bound(finished.begin(), finished.end(), h.normalized,
                                [](float value, const Hypothesis& e) { return value > e.normalized; });
    if (pos - finished.begin() >= nbest) return;
    finished.insert(pos, std::move(h));
    if (int(finished.size()) > nbest) finished.pop_back();
  }
};

}  // namespace

int64_t max_target_length(int64_t src_len, const SearchOptions& options, int64_t max_positions) {
  const double limit = double(options.max_length_a) * double(src_len) + double(options.max_length_b);
  return std::clamp<int64_t>(int64_t(std::floor(limit)), 1, std::max<int64_t>(1, max_positions));
}

float length_penalty(int64_t len, float alpha) {
  if (alpha == 0.0f) return 1.0f;
  return float(std::pow((5.0 + double(len)) / 6.0, double(alpha)));
}

std::vector<Hypothesis> greedy_search(const Seq2Seq& model, const Tensor& src, const SearchOptions& options) {
  check_options(src, options);
  NoGradGuard no_grad;
  const int64_t B = src.size(0);
  const std::vector<int64_t> limit = row_limits(model, src, options);
  const int64_t longest = *std::max_element(limit.begin(), limit.end());

  std::vector<Hypothesis> out(static_cast<size_t>(B));
  DecoderState state = model.encode(src);
  std::vector<int64_t> alive(static_cast<size_t>(B));  // batch row -> original row
  std::iota(alive.begin(), alive.end(), int64_t(0));
  std::vector<int32_t> last(size_t(B), options.bos_id);

  for (int64_t t = 0; t < longest && !alive.empty(); ++t) {
    const int64_t n = int64_t(alive.size());
    Tensor logp = model.decode_step(state, Tensor::from_ids(last, {n}));  // (n,V)
    block_tokens(logp, model.config().pad_id, options);
    const int64_t V = logp.size(1);
    const float* lp = logp.data();
    std::vector<int32_t> keep;
    std::vector<int32_t> next_last;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = lp + i * V;
      const int32_t best = first_max(row, V);
      Hypothesis& h = out[size_t(alive[size_t(i)])];
      h.score += row[best];
      if (best == options.eos_id) {
        h.finished = true;
        continue;
      }
      h.tokens.push_back(best);
      if (int64_t(h.tokens.size()) >= limit[size_t(alive[size_t(i)])]) continue;
      keep.push_back(int32_t(i));
      next_last.push_back(best);
    }
    if (int64_t(keep.size()) < n && !keep.empty()) {
      state.reorder(std::vector<int64_t>(keep.begin(), keep.end()));
      std::vector<int64_t> still;
      for (int32_t i : keep) still.push_back(alive[size_t(i)]);
      alive = std::move(still);
    } else if (keep.empty()) {
      alive.clear();
    }
    if (int64_t(next_last.size()) != n) allocator().empty_cache();  // rows left: see decode_all
    last = std::move(next_last);
  }
  for (Hypothesis& h : out) h.normalized = h.score / length_penalty(h.length(), options.length_penalty);
  return out;
}

std::vector<std::vector<Hypothesis>> beam_search(const Seq2Seq& model, const Tensor& src,
                                                 const SearchOptions& options) {
  check_options(src, options);
  NoGradGuard no_grad;
  const int64_t B = src.size(0);
  const int K = options.beam;
  const float alpha = options.length_penalty;
  const std::vector<int64_t> limits = row_limits(model, src, options);

  std::vector<Sentence> sentences(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    sentences[size_t(b)].beams.push_back(Beam{});
    sentences[size_t(b)].limit = limits[size_t(b)];
  }
  DecoderState state = model.encode(src);  // row r = the single beam of sentence r
  std::vector<int32_t> last(size_t(B), options.bos_id);
  std::vector<std::pair<float, int32_t>> row_best;
  std::vector<Candidate> candidates;

  for (int64_t t = 0; !last.empty(); ++t) {
    const int64_t R = int64_t(last.size());
    Tensor logp = model.decode_step(state, Tensor::from_ids(last, {R}));  // (R,V)
    block_tokens(logp, model.config().pad_id, options);
    const int64_t V = logp.size(1);
    const float* lp = logp.data();
    std::vector<int32_t> parents;  // state rows of the next step
    std::vector<int32_t> next_last;
    int64_t row = 0;  // first state row of the current sentence
    for (Sentence& s : sentences) {
      if (s.done) continue;
      // The 2K best extensions of the live beams (at most K of them end in </s>).
      candidates.clear();
      for (size_t j = 0; j < s.beams.size(); ++j) {
        top_k(lp + (row + int64_t(j)) * V, V, 2 * K, row_best);
        for (const auto& [value, token] : row_best)
          candidates.push_back({s.beams[j].score + value, int32_t(j), token});
      }
      const size_t n = std::min(candidates.size(), size_t(2 * K));
      std::partial_sort(candidates.begin(), candidates.begin() + int64_t(n), candidates.end(),
                        [](const Candidate& a, const Candidate& b) {
                          if (a.score != b.score) return a.score > b.score;
                          return a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
                        });
      std::vector<Beam> next;
      const int64_t steps = t + 1;  // decoder steps of every candidate
      for (size_t i = 0; i < n && candidates[i].score > kNegInf; ++i) {
        const Candidate& c = candidates[i];
        const Beam& parent = s.beams[size_t(c.beam)];
        const bool eos = c.token == options.eos_id;
        if (eos || steps >= s.limit) {  // ends here: kept only from the first K
          if (int(i) >= K) continue;
          Hypothesis h{.tokens = parent.tokens, .score = c.score, .finished = eos};
          if (!eos) h.tokens.push_back(c.token);
          h.normalized = c.score / length_penalty(steps, alpha);
          s.finish(std::move(h), options.nbest);
        } else if (int(next.size()) < K) {
          Beam beam{parent.tokens, c.score};
          beam.tokens.push_back(c.token);
          next.push_back(std::move(beam));
          parents.push_back(int32_t(row + c.beam));
          next_last.push_back(c.token);
        }
      }
      row += int64_t(s.beams.size());
      // Can a live beam still beat the nbest-th finished one? Its score only falls, and it
      // ends after between steps+1 and limit steps, where lp is largest at an end.
      bool settled = int(s.finished.size()) >= options.nbest;
      for (const Beam& beam : next) {
        if (!settled) break;
        const float bound = std::max(beam.score / length_penalty(steps + 1, alpha),
                                     beam.score / length_penalty(s.limit, alpha));
        settled = s.finished.back().normalized >= bound;
      }
      s.done = next.empty() || settled || s.finished_count >= K;
      if (s.done) {
        parents.resize(parents.size() - next.size());
        next_last.resize(next_last.size() - next.size());
        next.clear();
      }
      s.beams = std::move(next);
    }
    if (!parents.empty()) state.reorder(std::vector<int64_t>(parents.begin(), parents.end()));
    if (int64_t(next_last.size()) != R) allocator().empty_cache();  // rows left: see decode_all
    last = std::move(next_last);
  }
  std::vector<std::vector<Hypothesis>> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) out[size_t(b)] = std::move(sentences[size_t(b)].finished);
  return out;
}

std::vector<std::vector<int64_t>> plan_decode_batches(const std::vector<int64_t>& lengths, int64_t batch_tokens) {
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[size_t(a)] > lengths[size_t(b)]; });
  std::vector<std::vector<int64_t>> batches;
  int64_t longest = 0;
  for (int64_t i : order) {
    const int64_t len = std::max<int64_t>(1, lengths[size_t(i)]);
    if (batches.empty() || int64_t(batches.back().size() + 1) * std::max(longest, len) > batch_tokens) {
      batches.emplace_back();
      longest = 0;
    }
    batches.back().push_back(i);
    longest = std::max(longest, len);
  }
  return batches;
}

std::vector<std::vector<Hypothesis>> decode_all(const Seq2Seq& model,
                                                const std::vector<std::vector<int32_t>>& sources,
                                                const SearchOptions& options, int64_t batch_tokens,
                                                const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<int64_t> lengths;
  for (const auto& s : sources) {
    CHECK(!s.empty(), "decode_all: source {} has no tokens (it needs at least </s>)", lengths.size());
    lengths.push_back(int64_t(s.size()));
  }
  const int64_t pad = model.config().pad_id;
  std::vector<std::vector<Hypothesis>> out(sources.size());
  int64_t done = 0;
  const int64_t budget = std::max<int64_t>(1, batch_tokens / options.beam);  // each sentence runs `beam` rows
  for (const std::vector<int64_t>& batch : plan_decode_batches(lengths, budget)) {
    int64_t S = 1;
    for (int64_t i : batch) S = std::max(S, lengths[size_t(i)]);
    const int64_t B = int64_t(batch.size());
    std::vector<int32_t> ids(size_t(B * S), int32_t(pad));
    for (int64_t r = 0; r < B; ++r) {
      const auto& s = sources[size_t(batch[size_t(r)])];
      std::copy(s.begin(), s.end(), ids.begin() + r * S);
    }
    const Tensor src = Tensor::from_ids(ids, {B, S});
    if (options.beam == 1) {
      std::vector<Hypothesis> hyps = greedy_search(model, src, options);
      for (int64_t r = 0; r < B; ++r) out[size_t(batch[size_t(r)])] = {std::move(hyps[size_t(r)])};
    } else {
      std::vector<std::vector<Hypothesis>> hyps = beam_search(model, src, options);
      for (int64_t r = 0; r < B; ++r) out[size_t(batch[size_t(r)])] = std::move(hyps[size_t(r)]);
    }
    done += B;
    if (progress) progress(done, int64_t(sources.size()));
  }
  return out;
}

}  // namespace attend
