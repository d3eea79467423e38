// Training checkpoints: DIR/checkpoints/step-N/ holds everything a run needs to resume
// bit-exactly: weights (model.safetensors), optimizer moments (optimizer.safetensors,
// scalars in its metadata) and the trainer's state (trainer.json: step, batcher
// position, RNG state, best score, patience).
//
// A checkpoint is written into a hidden temp folder, every file fsynced, then the folder
// is renamed into place: a crash leaves either the old set or the new one, never a half
// checkpoint. Leftover temp folders are removed by clean_incomplete_checkpoints().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "layers/module.h"
#include "optim/optimizer.h"

namespace attend {

struct TrainerState {
  int64_t step = 0;             // optimizer updates done
  std::string batcher;          // data::BatchPosition::to_json() of the next batch
  uint64_t rng_seed = 0;        // the model's Generator
  uint64_t rng_counter = 0;
  double best_score = 0;        // best validation score so far (see best_metric)
  int64_t best_step = -1;       // -1: no validation yet
  std::string best_metric;      // "bleu", "accuracy" (higher is better) or "loss" (lower)
  int64_t bad_validations = 0;  // validations since the best one (early stopping)
  double elapsed_seconds = 0;   // training time before this run resumed
};

std::string checkpoint_dir(const std::string& model_dir, int64_t step);

// Writes checkpoints/step-<state.step>/ and then removes all but the newest keep_last.
void save_checkpoint(const std::string& model_dir, const Module& model, const Optimizer& optimizer,
                     const TrainerState& state, int64_t keep_last);

// Steps of the complete checkpoints in model_dir, ascending.
std::vector<int64_t> list_checkpoints(const std::string& model_dir);

// Removes half-written checkpoint folders; returns how many.
int clean_incomplete_checkpoints(const std::string& model_dir);

// Loads checkpoint `step` into model and optimizer; returns the trainer state. Errors
// name the file and the tensor.
TrainerState load_checkpoint(const std::string& model_dir, int64_t step, Module& model, Optimizer& optimizer);

}  // namespace attend
