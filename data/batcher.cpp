#include "data/batcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "data/tokenizer.h"

namespace attend::data {

namespace {

// Philox streams of the batcher, apart from the model's: example order and batch order.
constexpr uint64_t kStreamTag = uint64_t(0xBA7C4) << 40;
uint64_t example_stream(int64_t epoch) { return kStreamTag | (uint64_t(epoch) << 1); }
uint64_t batch_stream(int64_t epoch) { return kStreamTag | (uint64_t(epoch) << 1) | 1; }

// Fisher-Yates with draw i = philox(seed, stream, i): the same on every machine.
template <typename T>
void shuffle(std::vector<T>& v, uint64_t seed, uint64_t stream) {
  for (size_t i = v.size(); i > 1; --i) {
    uint32_t r[4];
    philox4x32(seed, stream, i, r);
    const uint64_t draw = (uint64_t(r[1]) << 32) | r[0];
    std::swap(v[i - 1], v[size_t(draw % i)]);
  }
}

}  // namespace

std::string BatchPosition::to_json() const {
  return nlohmann::json{{"seed", seed}, {"epoch", epoch}, {"batch", batch}, {"examples", examples}}.dump();
}

BatchPosition BatchPosition::from_json(const std::string& json) {
  try {
    auto j = nlohmann::json::parse(json);
    BatchPosition p;
    p.seed = j.at("seed").get<uint64_t>();
    p.epoch = j.at("epoch").get<int64_t>();
    p.batch = j.at("batch").get<int64_t>();
    p.examples = j.at("examples").get<int64_t>();
    return p;
  } catch (const nlohmann::json::exception& e) {
    ATTEND_ERROR("batch position '{}' is not valid: {}", json, e.what());
  }
}

Batcher::Batcher(std::shared_ptr<const Dataset> data, const BatchOptions& options)
    : data_(std::move(data)), options_(options) {
  CHECK(data_, "batcher: no dataset");
  CHECK(data_->size() > 0, "batcher: dataset '{}' is empty", data_->name);
  CHECK(options_.max_tokens > 0, "batcher: max_tokens must be positive, got {}", options_.max_tokens);
  CHECK(options_.max_sentences >= 0, "batcher: max_sentences must be >= 0, got {}",
        options_.max_sentences);
  CHECK(options_.prefetch >= 0, "batcher: prefetch must be >= 0, got {}", options_.prefetch);
  position_ = cursor_ = BatchPosition{options_.seed, 0, 0, data_->size()};
  int64_t oversized = 0;
  for (int64_t r = 0; r < data_->size(); ++r)
    oversized += std::max(src_len(r), tgt_len(r)) > options_.max_tokens;
  if (oversized)
    spdlog::warn("batches '{}': {} examples are longer than max_tokens={} and get a batch of their own",
                 data_->name, oversized, options_.max_tokens);
}

Batcher::~Batcher() { ahead_.reset(); }

int64_t Batcher::src_len(int64_t row) const {
  return int64_t(data_->examples[size_t(row)].src.size()) + options_.source_bos + options_.source_eos;
}

int64_t Batcher::tgt_len(int64_t row) const {
  return data_->has_target ? int64_t(data_->examples[size_t(row)].tgt.size()) + 1 : 0;
}

std::vector<std::vector<int64_t>> Batcher::plan(int64_t epoch) const {
  std::vector<int64_t> order(size_t(data_->size()));
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) shuffle(order, options_.seed, example_stream(epoch));
  if (options_.bucket) {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      const int64_t sa = src_len(a), sb = src_len(b), ta = tgt_len(a), tb = tgt_len(b);
      const int64_t ma = std::max(sa, ta), mb = std::max(sb, tb);
      if (ma != mb) return ma < mb;
      return sa != sb ? sa < sb : ta < tb;
    });
  }
  std::vector<std::vector<int64_t>> batches;
  std::vector<int64_t> current;
  int64_t s = 0, t = 0;
  for (int64_t row : order) {
    const int64_t s2 = std::max(s, src_len(row)), t2 = std::max(t, tgt_len(row));
    const int64_t b2 = int64_t(current.size()) + 1;
    const bool over_budget = b2 * std::max(s2, t2) > options_.max_tokens;
    const bool over_cap = options_.max_sentences > 0 && b2 > options_.max_sentences;
    if (!current.empty() && (over_budget || over_cap)) {
      batches.push_back(std::move(current));
      current.clear();
      s = src_len(row);
      t = tgt_len(row);
    } else {
      s = s2;
      t = t2;
    }
    current.push_back(row);
  }
  if (!current.empty()) batches.push_back(std::move(current));
  if (options_.shuffle) shuffle(batches, options_.seed, batch_stream(epoch));
  return batches;
}

PlanStats Batcher::stats(const std::vector<std::vector<int64_t>>& plan) const {
  PlanStats st;
  for (const auto& rows : plan) {
    int64_t s = 0, t = 0;
    for (int64_t r : rows) {
      s = std::max(s, src_len(r));
      t = std::max(t, tgt_len(r));
      st.real_tokens += src_len(r) + tgt_len(r);
    }
    const int64_t b = int64_t(rows.size());
    st.cells += b * (s + t);
    st.max_cost = std::max(st.max_cost, b * std::max(s, t));
    st.examples += b;
    ++st.batches;
  }
  return st;
}

Batch Batcher::make_batch(std::span<const int64_t> rows) const {
  const int64_t B = int64_t(rows.size());
  CHECK(B > 0, "make_batch: no rows");
  int64_t S = 0, T = 0;
  for (int64_t r : rows) {
    CHECK(r >= 0 && r < data_->size(), "make_batch: row {} outside dataset '{}' of {} examples", r,
          data_->name, data_->size());
    S = std::max(S, src_len(r));
    T = std::max(T, tgt_len(r));
  }
  Batch batch;
  batch.src = Tensor::zeros({B, S}, DType::i32);  // kPadId == 0
  batch.src_mask = Tensor::zeros({B, S});
  batch.src_lengths = Tensor::empty({B}, DType::i32);
  int32_t* src = batch.src.data_as<int32_t>();
  float* src_mask = batch.src_mask.data();
  int32_t* src_lengths = batch.src_lengths.data_as<int32_t>();
  const bool target = data_->has_target;
  int32_t *tgt_in = nullptr, *tgt_out = nullptr, *tgt_lengths = nullptr;
  float* tgt_mask = nullptr;
  if (target) {
    batch.tgt_in = Tensor::zeros({B, T}, DType::i32);
    batch.tgt_out = Tensor::zeros({B, T}, DType::i32);
    batch.tgt_mask = Tensor::zeros({B, T});
    batch.tgt_lengths = Tensor::empty({B}, DType::i32);
    tgt_in = batch.tgt_in.data_as<int32_t>();
    tgt_out = batch.tgt_out.data_as<int32_t>();
    tgt_mask = batch.tgt_mask.data();
    tgt_lengths = batch.tgt_lengths.data_as<int32_t>();
  }
  int32_t* labels = nullptr;
  if (data_->has_labels) {
    batch.labels = Tensor::empty({B}, DType::i32);
    labels = batch.labels.data_as<int32_t>();
  }
  batch.indices.resize(size_t(B));
  for (int64_t b = 0; b < B; ++b) {
    const Example& ex = data_->examples[size_t(rows[size_t(b)])];
    batch.indices[size_t(b)] = ex.index;
    int32_t* row = src + b * S;
    int64_t k = 0;
    if (options_.source_bos) row[k++] = kBosId;
    for (int32_t id : ex.src) row[k++] = id;
    if (options_.source_eos) row[k++] = kEosId;
    std::fill(src_mask + b * S, src_mask + b * S + k, 1.0f);
    src_lengths[b] = int32_t(k);
    batch.src_tokens += k;
    if (target) {
      const int64_t n = int64_t(ex.tgt.size());
      int32_t* in = tgt_in + b * T;
      int32_t* out = tgt_out + b * T;
      in[0] = kBosId;
      std::copy(ex.tgt.begin(), ex.tgt.end(), in + 1);
      std::copy(ex.tgt.begin(), ex.tgt.end(), out);
      out[n] = kEosId;
      std::fill(tgt_mask + b * T, tgt_mask + b * T + n + 1, 1.0f);
      tgt_lengths[b] = int32_t(n + 1);
      batch.tgt_tokens += n + 1;
    }
    if (labels) labels[b] = ex.label;
  }
  return batch;
}

std::optional<Batch> Batcher::produce() {
  if (plan_epoch_ != cursor_.epoch) {
    plan_ = plan(cursor_.epoch);
    plan_epoch_ = cursor_.epoch;
    const PlanStats st = stats(plan_);
    spdlog::info("batches '{}' epoch {}: {} batches of {} examples, padding {:.1f}%", data_->name,
                 cursor_.epoch, st.batches, st.examples, 100.0 * st.padding_ratio());
  }
  if (cursor_.batch >= int64_t(plan_.size())) {
    cursor_.epoch += 1;
    cursor_.batch = 0;
    return std::nullopt;
  }
  Batch batch = make_batch(plan_[size_t(cursor_.batch)]);
  batch.position = cursor_;
  cursor_.batch += 1;
  return batch;
}

std::optional<Batch> Batcher::next() {
  std::optional<Batch> batch;
  if (options_.prefetch > 0) {
    if (!ahead_)
      ahead_ = std::make_unique<Prefetcher<std::optional<Batch>>>([this] { return produce(); },
                                                                   size_t(options_.prefetch));
    batch = ahead_->next();
  } else {
    batch = produce();
  }
  if (batch) {
    position_.epoch = batch->position.epoch;
    position_.batch = batch->position.batch + 1;
  } else {
    position_.epoch += 1;
    position_.batch = 0;
  }
  return batch;
}

void Batcher::restore(const BatchPosition& position) {
  CHECK(position.examples == data_->size(),
        "batch position {} was saved for {} examples, but dataset '{}' has {}", position.to_json(),
        position.examples, data_->name, data_->size());
  CHECK(position.epoch >= 0 && position.batch >= 0, "batch position {}: negative epoch or batch",
        position.to_json());
  ahead_.reset();  // stops the producer before its cursor moves
  if (position.seed != options_.seed)
    spdlog::warn("batches '{}': resuming with the saved seed {} instead of {}", data_->name,
                 position.seed, options_.seed);
  options_.seed = position.seed;
  plan_ = plan(position.epoch);
  plan_epoch_ = position.epoch;
  const int64_t batches = int64_t(plan_.size());
  CHECK(position.batch <= batches, "batch position {}: epoch {} has only {} batches",
        position.to_json(), position.epoch, batches);
  position_ = cursor_ = position;
}

}  // namespace attend::data
