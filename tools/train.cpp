#include "tools/train.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <optional>

#include "core/bf16_weights.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"
#include "core/threads.h"
#include "data/batcher.h"
#include "data/corpus.h"
#include "data/files.h"
#include "layers/weights.h"
#include "models/classifier.h"
#include "models/search.h"
#include "optim/clip.h"
#include "tools/checkpoint.h"
#include "tools/metrics.h"
#include "tools/run_log.h"

namespace fs = std::filesystem;

namespace attend {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

// While alive, SIGINT and SIGTERM ask the training loop to stop; the previous handlers
// come back however the run ends (an exception included).
class StopSignals {
 public:
  StopSignals() {
    g_stop = false;  // before the handlers: a signal from now on counts
    previous_int_ = std::signal(SIGINT, on_stop_signal);
    previous_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  void (*previous_int_)(int) = SIG_DFL;
  void (*previous_term_)(int) = SIG_DFL;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// Keys a resumed run may change: how long and how often, not what is trained.
bool resumable_change(const std::string& key) {
  static const std::vector<std::string> keys = {
      "train.max_steps", "train.max_epochs", "train.max_minutes", "train.valid_every", "train.log_every", "train.patience",
      "train.keep_last", "train.threads", "train.gemm", "train.valid_bleu_max_sentences", "output.dir"};
  if (key.rfind("decode.", 0) == 0) return true;
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// The differences between two saved configs that keep a run from resuming, as
// "key: old -> new"; with `prefix`, only the keys that start with it.
std::vector<std::string> incompatible_differences(const std::string& old_yaml, const std::string& new_yaml,
                                                  const std::string& prefix = "") {
  std::vector<std::string> out;
  for (const ConfigDifference& d : config_differences(old_yaml, new_yaml))
    if (!resumable_change(d.key) && d.key.rfind(prefix, 0) == 0) out.push_back(d.str());
  return out;
}

struct Validation {
  double loss = 0;  // nll per target token (or per example for classifiers)
  double score = 0;  // bleu or accuracy
  int64_t examples = 0;
};

class Trainer {
 public:
  Trainer(Config config, TrainFlags flags) : config_(std::move(config)), flags_(std::move(flags)) {}
  TrainSummary run();

 private:
  bool classifier() const { return config_.model.type == "classifier"; }
  void forget_stale_vocabulary();
  void load_data();
  void prepare_output();
  double update(std::vector<data::Batch>& group);
  Validation validate();
  void validate_and_checkpoint();
  void checkpoint();
  // Wall time of training so far: the runs before a resume plus this one.
  double training_seconds() const { return resumed_seconds_ + seconds_since(start_); }

  Config config_;
  TrainFlags flags_;
  std::string dir_;
  data::Vocabularies vocabs_;
  data::LabelMap labels_;
  std::shared_ptr<data::Dataset> train_, valid_;
  std::vector<std::string> valid_refs_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> optimizer_;
  Schedule schedule_;
  std::unique_ptr<data::Batcher> batcher_;
  std::unique_ptr<RunLog> log_;
  TrainerState state_;
  TrainSummary summary_;
  int64_t resume_step_ = -1;
  int64_t last_checkpoint_ = -1;
  float last_norm_ = 0;
  Clock::time_point start_ = Clock::now();
  double resumed_seconds_ = 0;
};

// A run that stopped before its first checkpoint leaves its vocabulary (and labels)
// in the model directory. A new run there reuses them only if they came from the same
// data settings; otherwise they are removed here, to be made again from the new ones.
// Files the config names (data.vocab.file ...) are the user's and are never removed.
void Trainer::forget_stale_vocabulary() {
  const std::string config_path = dir_ + "/config.yaml";
  if (!list_checkpoints(dir_).empty() || !data::file_exists(config_path)) return;
  const std::vector<std::string> changed =
      incompatible_differences(data::read_file(config_path), config_to_yaml(config_), "data.");
  if (changed.empty()) return;
  const data::VocabOptions& v = config_.data.vocab;
  auto configured = [&](const std::filesystem::path& file) {
    std::error_code ec;
    for (const std::string& named : {v.file, v.source_file, v.target_file})
      if (!named.empty() && std::filesystem::equivalent(file, named, ec)) return true;
    return false;
  };
  for (const char* name : {"vocab.spm", "source.spm", "target.spm", "labels.txt"}) {
    const std::filesystem::path file = std::filesystem::path(dir_) / name;
    if (!std::filesystem::exists(file) || configured(file)) continue;
    std::filesystem::remove(file);
    spdlog::info("{}: left by a run with other data settings ({}); making a new one", file.string(),
                 fmt::join(changed, "; "));
  }
}

void Trainer::load_data() {
  forget_stale_vocabulary();
  const data::DataOptions& d = config_.data;
  data::DatasetOptions train_opts{.max_length = d.max_length};
  data::DatasetOptions valid_opts{.max_length = 0, .skip_empty = false};
  data::FilterStats stats;
  if (classifier()) {
    CHECK_HINT(!d.train.table.empty(), "set data.train.table: a TSV/CSV file with a header",
               "data.train.table is required for a classifier");
    data::LabelledCorpus train = data::read_labelled(d.train.table, d.table);
    CHECK(!train.labels.empty(), "{}: no label column '{}'", d.train.table, d.table.label_column);
    const std::string labels_path = dir_ + "/labels.txt";
    labels_ = data::file_exists(labels_path) ? data::LabelMap::load(labels_path)
                                             : data::LabelMap::from_labels(train.labels);
    labels_.save(labels_path);
    vocabs_ = data::load_or_train_vocabularies(dir_, d.vocab, train.text);
    train_ = std::make_shared<data::Dataset>(
        data::make_classification_dataset(train, vocabs_.source, &labels_, train_opts, "train", &stats));
    if (!d.valid.table.empty()) {
      data::LabelledCorpus valid = data::read_labelled(d.valid.table, d.table);
      valid_ = std::make_shared<data::Dataset>(
          data::make_classification_dataset(valid, vocabs_.source, &labels_, valid_opts, "valid"));
    }
    config_.model.src_vocab = vocabs_.source.vocab_size();
    config_.model.num_classes = labels_.size();
  } else {
    CHECK_HINT(!d.train.source.empty() && !d.train.target.empty(),
               "set data.train.source and data.train.target", "data.train.source/target are required for seq2seq");
    data::ParallelCorpus train = data::read_parallel(d.train.source, d.train.target);
    vocabs_ = data::load_or_train_vocabularies(dir_, d.vocab, train.source, train.target);
    train_ = std::make_shared<data::Dataset>(
        data::make_translation_dataset(train, vocabs_.source, vocabs_.target, train_opts, "train", &stats));
    if (!d.valid.source.empty()) {
      data::ParallelCorpus valid = data::read_parallel(d.valid.source, d.valid.target);
      valid_ = std::make_shared<data::Dataset>(
          data::make_translation_dataset(valid, vocabs_.source, vocabs_.target, valid_opts, "valid"));
      valid_refs_ = std::move(valid.target);
    }
    config_.model.src_vocab = vocabs_.source.vocab_size();
    config_.model.tgt_vocab = vocabs_.target.vocab_size();
    CHECK_HINT(config_.model.tie_embeddings != TieEmbeddings::all || vocabs_.shared,
               "use data.vocab.shared: true, or model.tie_embeddings: decoder",
               "model.tie_embeddings: all needs one shared vocabulary");
  }
  config_.model.pad_id = data::kPadId;
  CHECK(train_->size() > 0, "no training examples left after filtering (max_length {})", d.max_length);
}

void Trainer::prepare_output() {
  const int removed = clean_incomplete_checkpoints(dir_);
  if (removed > 0) spdlog::warn("removed {} incomplete checkpoint(s) left by an interrupted run", removed);
  const std::vector<int64_t> steps = list_checkpoints(dir_);
  const std::string config_path = dir_ + "/config.yaml";
  if (!steps.empty() && data::file_exists(config_path)) {
    const std::vector<std::string> diffs =
        incompatible_differences(data::read_file(config_path), config_to_yaml(config_));
    if (!diffs.empty())
      ATTEND_ERROR("{} holds a run with a different config ({}); use another output.dir or remove it",
                   dir_, fmt::join(diffs, "; "));
    resume_step_ = steps.back();
  }
  CHECK_HINT(resume_step_ >= 0 || !flags_.resume, "train without --resume to start a new run",
             "--resume: no checkpoint in {}/checkpoints", dir_);
  save_config(config_, config_path);
}

// One optimizer update over the batches of `group`; returns the loss per target token
// (per example for classifiers).
double Trainer::update(std::vector<data::Batch>& group) {
  const int64_t step = state_.step + 1;
  const UpdateResult r = training_update(*model_, *optimizer_, group, config_.train.label_smoothing,
                                         config_.train.clip_norm, schedule_(step));
  if (!r.applied) spdlog::warn("step {}: gradient norm is {}; update skipped", step, r.grad_norm);
  state_.step = step;
  last_norm_ = r.grad_norm;
  return r.loss;
}

Validation Trainer::validate() {
  Validation v;
  if (!valid_ || valid_->size() == 0) return v;
  NoGradGuard no_grad;
  model_->eval();
  data::Batcher batches(valid_, {.max_tokens = config_.train.max_tokens, .shuffle = false, .prefetch = 0});
  double loss = 0;
  int64_t units = 0, correct = 0;
  std::vector<std::string> hyps, refs;
  const int64_t bleu_limit = config_.train.valid_bleu_max_sentences;
  const SearchOptions search{.max_length_a = config_.decode.max_length_a, .max_length_b = config_.decode.max_length_b,
                             .bos_id = data::kBosId, .eos_id = data::kEosId};
  while (auto b = batches.next()) {
    loss += batch_loss_sum(*model_, *b, 0.0f).item();
    if (classifier()) {
      units += b->size();
      Tensor pred = argmax(static_cast<const Classifier&>(*model_).forward(b->src), -1);
      const std::vector<int64_t> p = pred.to_ids(), gold = b->labels.to_ids();
      for (size_t i = 0; i < p.size(); ++i) correct += p[i] == gold[i];
      continue;
    }
    units += b->tgt_tokens;
    if (bleu_limit > 0 && int64_t(hyps.size()) >= bleu_limit) continue;
    std::vector<Hypothesis> out = greedy_search(static_cast<const Seq2Seq&>(*model_), b->src, search);
    for (size_t i = 0; i < out.size(); ++i) {
      hyps.push_back(vocabs_.target.decode(out[i].tokens));
      refs.push_back(valid_refs_[size_t(b->indices[i])]);
    }
  }
  model_->train();
  v.examples = valid_->size();
  v.loss = units > 0 ? loss / double(units) : 0;
  v.score = classifier() ? 100.0 * double(correct) / double(std::max<int64_t>(units, 1))
                         : metrics::corpus_bleu(hyps, {refs}).score;
  return v;
}

void Trainer::checkpoint() {
  state_.batcher = batcher_->position().to_json();
  state_.rng_seed = model_->generator().seed();
  state_.rng_counter = model_->generator().counter();
  state_.elapsed_seconds = training_seconds();
  save_checkpoint(dir_, *model_, *optimizer_, state_, config_.train.keep_last);
  last_checkpoint_ = state_.step;
}

void Trainer::validate_and_checkpoint() {
  const auto t0 = Clock::now();
  Validation v = validate();
  if (valid_ && valid_->size() > 0) {
    const bool better = state_.best_step < 0 || v.score > state_.best_score;
    if (better) {
      state_.best_score = v.score;
      state_.best_step = state_.step;
      state_.bad_validations = 0;
      save_weights(*model_, dir_ + "/model.safetensors", {{"step", std::to_string(state_.step)}});
    } else {
      state_.bad_validations += 1;
    }
    const std::string metric = state_.best_metric;
    log_->event({{"event", "valid"}, {"step", state_.step}, {"epoch", batcher_->position().epoch},
                 {"loss", v.loss}, {"ppl", std::exp(v.loss)}, {metric, v.score}, {"best", state_.best_score},
                 {"best_step", state_.best_step}, {"seconds", seconds_since(t0)}},
                fmt::format("valid | step {} | loss {:.3f} | ppl {:.2f} | {} {:.2f}{} | best {:.2f} (step {}) | {}",
                            state_.step, v.loss, std::exp(v.loss), metric, v.score, better ? " *" : "",
                            state_.best_score, state_.best_step, format_duration(seconds_since(t0))));
  } else {
    // Without validation data the newest weights are the ones to use.
    save_weights(*model_, dir_ + "/model.safetensors", {{"step", std::to_string(state_.step)}});
  }
  checkpoint();
}

TrainSummary Trainer::run() {
  start_ = Clock::now();
  const auto start = start_;
  const TrainConfig& tc = config_.train;
  set_num_threads(tc.threads);
  if (tc.gemm != "auto") set_gemm_backend(parse_gemm_backend(tc.gemm));
  GemmPrecisionScope precision(parse_gemm_precision(tc.precision));  // bf16: every product, fp32 master weights
  dir_ = config_.output.dir;
  data::make_directories(dir_);

  load_data();
  prepare_output();
  log_ = std::make_unique<RunLog>(dir_ + "/metrics.jsonl");
  model_ = make_model(config_.model, uint64_t(tc.seed));
  model_->train();
  OptimizerOptions opt = tc.optimizer;
  optimizer_ = make_optimizer(model_->named_parameters(), opt);
  ScheduleOptions sched = tc.schedule;
  sched.lr = opt.lr;
  schedule_ = make_schedule(sched);
  batcher_ = std::make_unique<data::Batcher>(
      train_, data::BatchOptions{.max_tokens = tc.max_tokens, .max_sentences = tc.max_sentences,
                                 .seed = uint64_t(tc.seed)});
  state_.best_metric = classifier() ? "accuracy" : "bleu";

  if (resume_step_ >= 0) {
    state_ = load_checkpoint(dir_, resume_step_, *model_, *optimizer_);
    batcher_->restore(data::BatchPosition::from_json(state_.batcher));
    model_->generator().set_state(state_.rng_seed, state_.rng_counter);
    last_checkpoint_ = state_.step;
    resumed_seconds_ = state_.elapsed_seconds;
    log_->event({{"event", "resume"}, {"step", state_.step}},
                fmt::format("resuming from {} (step {}, epoch {})", checkpoint_dir(dir_, state_.step), state_.step,
                            batcher_->position().epoch + 1));
  }

  const int64_t batches_per_epoch = int64_t(batcher_->plan(0).size());
  const int64_t steps_per_epoch = (batches_per_epoch + tc.accumulate - 1) / tc.accumulate;
  const int64_t total_steps = tc.max_steps > 0 ? tc.max_steps : steps_per_epoch * tc.max_epochs;
  log_->event({{"event", "start"}, {"parameters", model_->num_parameters()}, {"train_examples", train_->size()},
               {"valid_examples", valid_ ? valid_->size() : 0}, {"batches_per_epoch", batches_per_epoch},
               {"total_steps", total_steps}, {"threads", num_threads()}},
              fmt::format("model {} with {} parameters | {} training examples in {} batches/epoch | "
                          "{} steps | {} threads | output {}",
                          config_.model.type, model_->num_parameters(), train_->size(), batches_per_epoch,
                          total_steps, num_threads(), dir_));

  std::optional<StopSignals> stop_signals(std::in_place);

  const int64_t first_step = state_.step;
  auto window_start = Clock::now();
  int64_t window_tokens = 0, run_tokens = 0;
  double window_loss = 0;
  int64_t window_steps = 0;
  std::vector<data::Batch> group;
  while (!(tc.max_steps > 0 && state_.step >= tc.max_steps)) {
    if (tc.max_steps == 0 && batcher_->position().epoch >= tc.max_epochs) break;
    if (tc.max_minutes > 0 && training_seconds() >= tc.max_minutes * 60) {
      summary_.time_limited = true;
      log_->info(fmt::format("time limit: {} of training (train.max_minutes {})",
                             format_duration(training_seconds()), tc.max_minutes));
      break;
    }
    group.clear();
    bool epoch_end = false;
    while (int64_t(group.size()) < tc.accumulate) {
      std::optional<data::Batch> b = batcher_->next();
      if (!b) {
        epoch_end = true;
        break;
      }
      group.push_back(std::move(*b));
    }
    if (!group.empty()) {
      const double loss = update(group);
      summary_.losses.push_back(loss);
      for (const data::Batch& b : group) {
        const int64_t tokens = classifier() ? b.src_tokens : b.tgt_tokens;
        window_tokens += tokens;
        run_tokens += tokens;
      }
      window_loss += loss;
      window_steps += 1;
      const double elapsed = seconds_since(start);
      double eta = elapsed / double(state_.step - first_step) * double(total_steps - state_.step);
      if (tc.max_minutes > 0) eta = std::max(0.0, std::min(eta, tc.max_minutes * 60 - training_seconds()));
      log_->progress(fmt::format("step {}/{} | epoch {} | loss {:.3f} | lr {:.2e} | {:.0f} tok/s | {} | ETA {}",
                                 state_.step, total_steps, batcher_->position().epoch + 1, loss, optimizer_->lr(),
                                 double(window_tokens) / seconds_since(window_start), format_duration(elapsed),
                                 format_duration(eta)));
      if (state_.step % tc.log_every == 0) {
        const double secs = seconds_since(window_start);
        const double mean_loss = window_loss / double(window_steps);
        log_->event({{"event", "train"}, {"step", state_.step}, {"epoch", batcher_->position().epoch + 1},
                     {"loss", mean_loss}, {"ppl", std::exp(mean_loss)}, {"lr", optimizer_->lr()},
                     {"grad_norm", last_norm_}, {"tokens_per_s", double(window_tokens) / secs},
                     {"elapsed", elapsed}, {"eta", eta}},
                    fmt::format("step {}/{} | epoch {} | loss {:.3f} | ppl {:.2f} | lr {:.2e} | gnorm {:.3f} | "
                                "{:.0f} tok/s | {} | ETA {}",
                                state_.step, total_steps, batcher_->position().epoch + 1, mean_loss,
                                std::exp(mean_loss), optimizer_->lr(), last_norm_, double(window_tokens) / secs,
                                format_duration(elapsed), format_duration(eta)));
        window_start = Clock::now();
        window_tokens = 0;
        window_loss = 0;
        window_steps = 0;
      }
    }
    const bool at_valid = !group.empty() && tc.valid_every > 0 && state_.step % tc.valid_every == 0;
    if (epoch_end) {
      summary_.epochs += 1;
      log_->event({{"event", "epoch"}, {"epoch", batcher_->position().epoch}, {"step", state_.step}},
                  fmt::format("epoch {} done at step {}", batcher_->position().epoch, state_.step));
    }
    if ((at_valid || epoch_end) && last_checkpoint_ != state_.step) validate_and_checkpoint();
    if (tc.patience > 0 && state_.bad_validations >= tc.patience) {
      summary_.early_stopped = true;
      log_->info(fmt::format("early stop: no improvement in {} validations", state_.bad_validations));
      break;
    }
    if (g_stop) {
      summary_.interrupted = true;
      break;
    }
  }
  if (last_checkpoint_ != state_.step) {
    if (summary_.interrupted) {
      checkpoint();  // no validation: stop quickly
    } else {
      validate_and_checkpoint();
    }
  }
  stop_signals.reset();

  summary_.steps = state_.step;
  summary_.best_metric = state_.best_metric;
  summary_.best_score = state_.best_score;
  summary_.best_step = state_.best_step;
  summary_.seconds = seconds_since(start);
  summary_.target_tokens_per_second = double(run_tokens) / summary_.seconds;
  summary_.peak_rss_mib = peak_rss_mib();
  if (summary_.interrupted)
    log_->info(fmt::format("interrupted: checkpoint written at step {}; resume with: {}", state_.step,
                           flags_.command_hint.empty() ? "attend train CONFIG --resume" : flags_.command_hint));
  log_->event({{"event", "end"}, {"step", state_.step}, {"seconds", summary_.seconds},
               {"tokens_per_s", summary_.target_tokens_per_second}, {"peak_rss_mib", summary_.peak_rss_mib},
               {"best_metric", state_.best_metric}, {"best", state_.best_score}, {"best_step", state_.best_step}},
              fmt::format("done: {} steps in {} | {:.0f} tok/s | peak memory {} MiB | {}", state_.step,
                          format_duration(summary_.seconds), summary_.target_tokens_per_second,
                          summary_.peak_rss_mib,
                          state_.best_step < 0 ? std::string("not validated yet")
                                               : fmt::format("best {} {:.2f} at step {}", state_.best_metric,
                                                             state_.best_score, state_.best_step)));
  return summary_;
}

}  // namespace

Tensor batch_loss_sum(const Model& model, const data::Batch& b, float label_smoothing) {
  CrossEntropyOptions ce{.label_smoothing = label_smoothing, .ignore_index = data::kPadId,
                         .reduction = Reduction::sum};
  if (model.config().type == "classifier") {
    ce.ignore_index = -100;
    return cross_entropy(model.as<Classifier>().forward(b.src), b.labels, ce);
  }
  return model.as<Seq2Seq>().loss(b.src, b.tgt_in, b.tgt_out, ce);
}

UpdateResult training_update(const Model& model, Optimizer& optimizer, const std::vector<data::Batch>& group,
                             float label_smoothing, float clip_norm, float lr) {
  const bool classifier = model.config().type == "classifier";
  int64_t units = 0;
  for (const data::Batch& b : group) units += classifier ? b.size() : b.tgt_tokens;
  UpdateResult r;
  // bf16 training: the products read the optimizer's bf16 copies of the weights, which
  // its step() keeps current, instead of rounding each weight for every product.
  std::optional<Bf16CopyScope> copies;
  if (gemm_precision() == GemmPrecision::bf16) copies.emplace(optimizer.bf16_copies());
  double total = 0;
  for (const data::Batch& b : group) {
    Tensor loss = batch_loss_sum(model, b, label_smoothing);
    total += loss.item();
    (loss * (1.0f / float(units))).backward();
  }
  r.loss = total / double(units);
  r.grad_norm = clip_grad_norm(optimizer.params(), clip_norm);
  optimizer.set_lr(lr);
  r.applied = std::isfinite(r.grad_norm);
  if (r.applied) optimizer.step();
  optimizer.zero_grad();
  return r;
}

TrainSummary train(const Config& config, const TrainFlags& flags) { return Trainer(config, flags).run(); }

void request_training_stop() { g_stop = true; }

}  // namespace attend
