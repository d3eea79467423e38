// Greedy and beam search on tiny random models: beam 1 is greedy, an exhaustive beam finds
// what brute-force enumeration of every output finds (same length penalty and length
// limit), n-best lists are sorted, batching and batch planning change nothing but speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "common/tiny_model.h"
#include "core/ops.h"
#include "models/search.h"

using namespace attend;

namespace {

constexpr int32_t kPad = 0, kUnk = 1, kBos = 2, kEos = 3;

// Vocabulary of 7: the four specials and three words (4, 5, 6).
std::unique_ptr<Model> tiny_model(uint64_t seed, int64_t vocab = 7) {
  const ModelConfig c = test::tiny_seq2seq_config(vocab, /*max_positions=*/64);
  auto m = make_model(c, seed);
  m->eval();
  return m;
}

// Rows right-padded with <pad>; each row ends with </s>.
Tensor batch_of(const std::vector<std::vector<int32_t>>& rows) {
  size_t S = 0;
  for (const auto& r : rows) S = std::max(S, r.size());
  std::vector<int32_t> ids(rows.size() * S, kPad);
  for (size_t i = 0; i < rows.size(); ++i) std::copy(rows[i].begin(), rows[i].end(), ids.begin() + int64_t(i * S));
  return Tensor::from_ids(ids, {int64_t(rows.size()), int64_t(S)});
}

// log p(tokens [+ </s>] | src) by a full teacher-forced forward.
float sequence_logprob(const Seq2Seq& m, const std::vector<int32_t>& src, const std::vector<int32_t>& tokens,
                       bool with_eos) {
  NoGradGuard no_grad;
  std::vector<int32_t> in = {kBos};
  in.insert(in.end(), tokens.begin(), tokens.end());
  std::vector<int32_t> out = tokens;
  if (with_eos) {
    out.push_back(kEos);
  } else {
    in.pop_back();  // the last token is predicted, not fed
  }
  Tensor logp = log_softmax(m.forward(batch_of({src}), batch_of({in})));  // (1,T,V)
  const int64_t V = logp.size(2);
  const std::vector<float> p = logp.to_vector();
  float sum = 0;
  for (size_t t = 0; t < out.size(); ++t) sum += p[t * size_t(V) + size_t(out[t])];
  return sum;
}

// Every output the search can produce: up to L-1 allowed tokens then </s>, or L tokens cut.
std::vector<Hypothesis> enumerate_all(const Seq2Seq& m, const std::vector<int32_t>& src, const SearchOptions& o,
                                      const std::vector<int32_t>& allowed) {
  const int64_t L = max_target_length(int64_t(src.size()), o, m.config().max_positions);
  std::vector<Hypothesis> all;
  std::function<void(std::vector<int32_t>&)> grow = [&](std::vector<int32_t>& prefix) {
    const bool cut = int64_t(prefix.size()) == L;
    Hypothesis h{.tokens = prefix, .finished = !cut};
    h.score = sequence_logprob(m, src, prefix, !cut);
    h.normalized = h.score / length_penalty(h.length(), o.length_penalty);
    all.push_back(h);
    if (cut) return;
    for (int32_t t : allowed) {
      prefix.push_back(t);
      grow(prefix);
      prefix.pop_back();
    }
  };
  std::vector<int32_t> empty;
  grow(empty);
  std::stable_sort(all.begin(), all.end(),
                   [](const Hypothesis& a, const Hypothesis& b) { return a.normalized > b.normalized; });
  return all;
}

const std::vector<std::vector<int32_t>> kSources = {{4, 5, 6, 5, kEos}, {6, kEos}, {5, 5, kEos}, {4, 6, 6, 4, 5, 5, kEos}};

}  // namespace

TEST(LengthPenalty, IsGnmtFormula) {
  EXPECT_FLOAT_EQ(length_penalty(1, 1.0f), 1.0f);
  EXPECT_FLOAT_EQ(length_penalty(7, 1.0f), 2.0f);
  EXPECT_FLOAT_EQ(length_penalty(7, 0.5f), std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(length_penalty(30, 0.0f), 1.0f);
}

TEST(MaxTargetLength, IsAffineInTheSourceLengthAndCappedByPositions) {
  SearchOptions o{.max_length_a = 1.5f, .max_length_b = 2};
  EXPECT_EQ(max_target_length(4, o), 8);
  EXPECT_EQ(max_target_length(5, o), 9);  // floor(9.5)
  EXPECT_EQ(max_target_length(100, o, 64), 64);
  EXPECT_EQ(max_target_length(0, SearchOptions{.max_length_a = 0, .max_length_b = 0}), 1);
}

TEST(BeamSearch, BeamOneEqualsGreedy) {
  for (uint64_t seed : {1, 2, 3}) {
    auto model = tiny_model(seed, 11);
    const Seq2Seq& m = model->as<Seq2Seq>();
    const SearchOptions o{.beam = 1, .length_penalty = 0.6f, .max_length_a = 1.0f, .max_length_b = 3};
    const Tensor src = batch_of(kSources);
    std::vector<Hypothesis> greedy = greedy_search(m, src, o);
    std::vector<std::vector<Hypothesis>> beam = beam_search(m, src, o);
    ASSERT_EQ(beam.size(), greedy.size());
    for (size_t i = 0; i < greedy.size(); ++i) {
      ASSERT_EQ(beam[i].size(), 1u);
      EXPECT_EQ(beam[i][0].tokens, greedy[i].tokens) << "seed " << seed << " row " << i;
      EXPECT_EQ(beam[i][0].finished, greedy[i].finished);
      EXPECT_FLOAT_EQ(beam[i][0].score, greedy[i].score);
      EXPECT_FLOAT_EQ(beam[i][0].normalized, greedy[i].normalized);
    }
  }
}

TEST(GreedySearch, LongOutputsPastTheCacheGrowthEqualRecomputingTheWholePrefix) {
  // 40 steps grow the self-attention caches twice (16 -> 32 -> 64 positions); each step's
  // choice must be the argmax of a full forward over the prefix (no cache at all).
  auto model = tiny_model(7, 11);
  const Seq2Seq& m = model->as<Seq2Seq>();
  const SearchOptions o{.max_length_a = 0.0f, .max_length_b = 40, .eos_id = -1};  // never ends early
  const std::vector<std::vector<int32_t>> sources = {kSources[0], kSources[3]};
  std::vector<Hypothesis> found = greedy_search(m, batch_of(sources), o);
  for (size_t i = 0; i < sources.size(); ++i) {
    ASSERT_EQ(found[i].tokens.size(), 40u);
    std::vector<int32_t> prefix = {kBos};
    float score = 0;
    NoGradGuard no_grad;
    for (int64_t t = 0; t < 40; ++t) {
      const Tensor logp = log_softmax(m.forward(batch_of({sources[i]}), batch_of({prefix})));  // (1,t+1,V)
      const int64_t V = logp.size(2);
      std::vector<float> row = logp.slice(1, t, t + 1).to_vector();
      row[size_t(kPad)] = row[size_t(kBos)] = -INFINITY;
      const int32_t best = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
      ASSERT_LT(best, V);
      score += row[size_t(best)];
      EXPECT_EQ(found[i].tokens[size_t(t)], best) << "row " << i << " step " << t;
      prefix.push_back(best);
    }
    EXPECT_NEAR(found[i].score, score, 1e-3);
  }
}

TEST(BeamSearch, ExhaustiveBeamFindsTheBruteForceBest) {
  const std::vector<int32_t> allowed = {kUnk, 4, 5, 6};  // <pad>, <s> are never produced
  int finished_best = 0, cut_best = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    auto model = tiny_model(seed);
    const Seq2Seq& m = model->as<Seq2Seq>();
    for (const auto& src : kSources) {
      // L = 3 steps: 1 + 4 + 16 finished outputs and 64 cut ones; 16 live beams at most.
      SearchOptions o{.beam = 100, .max_length_a = 0.0f, .max_length_b = 3, .nbest = 100};
      const std::vector<Hypothesis> outputs = enumerate_all(m, src, o, allowed);
      ASSERT_EQ(outputs.size(), 85u);
      for (float alpha : {0.0f, 0.6f, 2.0f}) {
        o.length_penalty = alpha;
        std::vector<Hypothesis> truth = outputs;
        for (Hypothesis& h : truth) h.normalized = h.score / length_penalty(h.length(), alpha);
        std::stable_sort(truth.begin(), truth.end(),
                         [](const Hypothesis& a, const Hypothesis& b) { return a.normalized > b.normalized; });
        std::vector<Hypothesis> found = beam_search(m, batch_of({src}), o)[0];
        ASSERT_EQ(found.size(), truth.size());
        EXPECT_EQ(found[0].tokens, truth[0].tokens) << "alpha " << alpha << " seed " << seed;
        EXPECT_EQ(found[0].finished, truth[0].finished);
        EXPECT_NEAR(found[0].score, truth[0].score, 1e-4);
        for (size_t i = 0; i < truth.size(); ++i) EXPECT_NEAR(found[i].normalized, truth[i].normalized, 1e-4);
        (truth[0].finished ? finished_best : cut_best) += 1;
      }
    }
  }
  EXPECT_GT(finished_best, 0);  // the cases exercise both kinds of ending
  EXPECT_GT(cut_best, 0);
}

TEST(BeamSearch, WideBeamWithStoppingRuleStillFindsTheBest) {
  // With nbest 1 the search stops as soon as no live hypothesis can beat the best finished
  // one (before the length limit): stopping must not lose the best.
  const std::vector<int32_t> allowed = {kUnk, 4, 5, 6};
  for (uint64_t seed : {5, 6}) {
    auto model = tiny_model(seed);
    const Seq2Seq& m = model->as<Seq2Seq>();
    const SearchOptions o{.beam = 64, .length_penalty = 3.0f, .max_length_a = 0.0f, .max_length_b = 3};
    for (const auto& src : kSources) {
      std::vector<Hypothesis> truth = enumerate_all(m, src, o, allowed);
      Hypothesis best = beam_search(m, batch_of({src}), o)[0][0];
      EXPECT_EQ(best.tokens, truth[0].tokens);
      EXPECT_NEAR(best.normalized, truth[0].normalized, 1e-4);
    }
  }
}

TEST(BeamSearch, WithoutUnkNeverProducesIt) {
  auto model = tiny_model(2);
  const Seq2Seq& m = model->as<Seq2Seq>();
  const SearchOptions o{.beam = 100, .max_length_a = 0.0f, .max_length_b = 3, .nbest = 40, .allow_unk = false};
  std::vector<Hypothesis> found = beam_search(m, batch_of({kSources[0]}), o)[0];
  EXPECT_EQ(found.size(), 40u);  // 1 + 3 + 9 finished and 27 cut outputs remain
  for (const Hypothesis& h : found)
    for (int32_t t : h.tokens) EXPECT_TRUE(t >= 4) << "token " << t;
}

TEST(BeamSearch, NbestListsAreSortedByNormalizedScore) {
  auto model = tiny_model(3, 11);
  const Seq2Seq& m = model->as<Seq2Seq>();
  const SearchOptions o{.beam = 6, .length_penalty = 0.6f, .max_length_a = 1.0f, .max_length_b = 4, .nbest = 6};
  for (const auto& hyps : beam_search(m, batch_of(kSources), o)) {
    ASSERT_EQ(hyps.size(), 6u);
    std::set<std::vector<int32_t>> distinct;
    for (size_t i = 0; i < hyps.size(); ++i) {
      if (i > 0) {
        EXPECT_GE(hyps[i - 1].normalized, hyps[i].normalized);
      }
      EXPECT_FLOAT_EQ(hyps[i].normalized, hyps[i].score / length_penalty(hyps[i].length(), 0.6f));
      distinct.insert(hyps[i].tokens);
    }
    EXPECT_EQ(distinct.size(), hyps.size());
  }
}

TEST(BeamSearch, ScoresAreTheModelsLogProbabilities) {
  auto model = tiny_model(4, 11);
  const Seq2Seq& m = model->as<Seq2Seq>();
  const SearchOptions o{.beam = 4, .max_length_a = 1.0f, .max_length_b = 4, .nbest = 4};
  const std::vector<std::vector<Hypothesis>> found = beam_search(m, batch_of({kSources[3]}), o);
  ASSERT_EQ(found[0].size(), 4u);
  for (const Hypothesis& h : found[0])
    EXPECT_NEAR(h.score, sequence_logprob(m, kSources[3], h.tokens, h.finished), 1e-4);
}

TEST(BeamSearch, BatchedEqualsOneSentenceAtATime) {
  auto model = tiny_model(5, 11);
  const Seq2Seq& m = model->as<Seq2Seq>();
  const SearchOptions o{.beam = 4, .length_penalty = 0.6f, .max_length_a = 1.0f, .max_length_b = 4, .nbest = 3};
  std::vector<std::vector<Hypothesis>> batched = beam_search(m, batch_of(kSources), o);
  for (size_t i = 0; i < kSources.size(); ++i) {
    std::vector<Hypothesis> alone = beam_search(m, batch_of({kSources[i]}), o)[0];
    ASSERT_EQ(alone.size(), batched[i].size());
    for (size_t k = 0; k < alone.size(); ++k) {
      EXPECT_EQ(batched[i][k].tokens, alone[k].tokens) << "row " << i << " hyp " << k;
      EXPECT_NEAR(batched[i][k].score, alone[k].score, 1e-4);
    }
  }
}

TEST(GreedySearch, DroppingFinishedRowsGivesEachSentenceItsOwnResult) {
  // Rows end at different steps (their limits differ, </s> comes when it comes); the
  // batch drops them as they end, and each row must come out as if decoded alone.
  for (uint64_t seed : {2, 6}) {
    auto model = tiny_model(seed, 11);
    const Seq2Seq& m = model->as<Seq2Seq>();
    const SearchOptions o{.max_length_a = 1.5f, .max_length_b = 2};
    std::vector<Hypothesis> batched = greedy_search(m, batch_of(kSources), o);
    for (size_t i = 0; i < kSources.size(); ++i) {
      const Hypothesis alone = greedy_search(m, batch_of({kSources[i]}), o)[0];
      EXPECT_EQ(batched[i].tokens, alone.tokens) << "seed " << seed << " row " << i;
      EXPECT_EQ(batched[i].finished, alone.finished);
      EXPECT_NEAR(batched[i].score, alone.score, 1e-5);
    }
  }
}

TEST(BeamSearch, RejectsNbestLargerThanBeam) {
  auto model = tiny_model(1);
  try {
    beam_search(model->as<Seq2Seq>(), batch_of(kSources), SearchOptions{.beam = 2, .nbest = 3});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nbest 3 must be between 1 and the beam size 2"), std::string::npos)
        << e.what();
  }
}

TEST(DecodeBatches, PlanCoversEverySentenceOnceUnderTheBudgetLongestFirst) {
  const std::vector<int64_t> lengths = {3, 9, 1, 4, 4, 12, 2, 7};
  const auto plan = plan_decode_batches(lengths, 16);
  std::vector<int64_t> seen;
  int64_t previous = INT64_MAX;
  for (const auto& batch : plan) {
    int64_t longest = 0;
    for (int64_t i : batch) {
      seen.push_back(i);
      EXPECT_LE(lengths[size_t(i)], previous);
      previous = lengths[size_t(i)];
      longest = std::max(longest, lengths[size_t(i)]);
    }
    EXPECT_TRUE(batch.size() == 1 || int64_t(batch.size()) * longest <= 16);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(plan[0], (std::vector<int64_t>{5}));  // 12 tokens: alone
}

TEST(DecodeBatches, DecodeAllReturnsInputOrderAndMatchesSingleSentences) {
  auto model = tiny_model(6, 11);
  const Seq2Seq& m = model->as<Seq2Seq>();
  for (int beam : {1, 3}) {
    const SearchOptions o{.beam = beam, .max_length_a = 1.0f, .max_length_b = 3};
    int64_t calls = 0, last_done = 0;
    auto all = decode_all(m, kSources, o, /*batch_tokens=*/10, [&](int64_t done, int64_t total) {
      ++calls;
      EXPECT_GT(done, last_done);
      EXPECT_EQ(total, int64_t(kSources.size()));
      last_done = done;
    });
    EXPECT_GE(calls, 2);
    EXPECT_EQ(last_done, int64_t(kSources.size()));
    ASSERT_EQ(all.size(), kSources.size());
    for (size_t i = 0; i < kSources.size(); ++i) {
      ASSERT_EQ(all[i].size(), 1u);
      Hypothesis alone = beam == 1 ? greedy_search(m, batch_of({kSources[i]}), o)[0]
                                   : beam_search(m, batch_of({kSources[i]}), o)[0][0];
      EXPECT_EQ(all[i][0].tokens, alone.tokens) << "beam " << beam << " sentence " << i;
      EXPECT_NEAR(all[i][0].score, alone.score, 1e-4);
    }
  }
}
