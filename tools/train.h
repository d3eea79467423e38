// attend train: the Trainer. Reads the data, trains or loads the vocabularies, builds
// the model from the config and trains it: batch -> forward -> loss -> backward ->
// clip -> step -> schedule, validating every train.valid_every steps and at each epoch
// end, checkpointing at each validation, keeping the best weights as
// DIR/model.safetensors and stopping early after train.patience validations without
// improvement. SIGINT/SIGTERM finish the current step, write a checkpoint and return.
//
//   Config config = load_config("configs/demo.yaml");
//   TrainSummary s = train(config, {.resume = false});
//
// A run whose output directory already holds checkpoints resumes from the newest one
// when the configs agree; otherwise it is refused, listing the keys that differ.
#pragma once

#include <cstdint>
#include <string>

#include "data/batcher.h"
#include "models/model.h"
#include "optim/optimizer.h"
#include "tools/config.h"

namespace attend {

struct TrainFlags {
  bool resume = false;        // require a checkpoint to resume from
  std::string command_hint;   // how to run this again (for the resume message)
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t epochs = 0;            // epochs completed
  std::string best_metric;       // bleu | accuracy
  double best_score = 0;
  int64_t best_step = -1;
  bool interrupted = false;      // stopped by a signal
  bool early_stopped = false;
  bool time_limited = false;     // stopped by train.max_minutes
  double seconds = 0;            // this run's wall time
  double target_tokens_per_second = 0;
  int64_t peak_rss_mib = 0;
  std::vector<double> losses;    // training loss of every step of this run
};

TrainSummary train(const Config& config, const TrainFlags& flags = {});

// The label-smoothed cross-entropy of one batch, summed over its target tokens (over
// its examples for a classifier); padding targets count nothing.
Tensor batch_loss_sum(const Model& model, const data::Batch& batch, float label_smoothing);

struct UpdateResult {
  double loss = 0;       // per target token (per example for classifiers)
  float grad_norm = 0;   // before clipping
  bool applied = false;  // false: the norm was not finite and the update was skipped
};

// One optimizer update, the training step train() runs (and `attend bench` times):
// each batch's loss sum / all batches' units -> backward; clip to clip_norm (0 = no
// clipping); step at learning rate lr unless the gradient norm is not finite; zero_grad.
UpdateResult training_update(const Model& model, Optimizer& optimizer, const std::vector<data::Batch>& group,
                             float label_smoothing, float clip_norm, float lr);

// Asks a running train() to stop after the current step (what SIGINT does).
void request_training_stop();

}  // namespace attend
