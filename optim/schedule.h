// Learning-rate schedules: pure functions lr(step), steps counted from 1 (the
// first update is step 1). Warmup is linear from warmup_init_lr (at step 0) to
// lr at step warmup_steps; then each schedule decays its own way.
//
//   Schedule s = make_schedule({.name = "inverse_sqrt", .lr = 5e-4f, .warmup_steps = 4000});
//   opt.set_lr(s(opt.step_count() + 1));
//
// make_schedule checks the options and names the valid schedules on a bad name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attend {

// lr (after warmup, if any).
float constant_lr(int64_t step, float lr, int64_t warmup_steps = 0, float warmup_init_lr = 0.0f);
// fairseq's inverse_sqrt: warmup, then lr * sqrt(warmup_steps / step). warmup_steps >= 1.
float inverse_sqrt_lr(int64_t step, float lr, int64_t warmup_steps, float warmup_init_lr = 0.0f);
// Warmup, then linear decay from lr to 0 at total_steps (0 afterwards).
float linear_lr(int64_t step, float lr, int64_t warmup_steps, int64_t total_steps, float warmup_init_lr = 0.0f);
// Warmup, then half a cosine from lr down to min_lr at total_steps (min_lr afterwards).
float cosine_lr(int64_t step, float lr, int64_t warmup_steps, int64_t total_steps, float min_lr = 0.0f,
                float warmup_init_lr = 0.0f);

struct ScheduleOptions {
  std::string name = "constant";  // one of schedule_names()
  float lr = 1e-3f;               // peak learning rate
  int64_t warmup_steps = 0;
  float warmup_init_lr = 0.0f;
  int64_t total_steps = 0;  // linear, cosine: where the decay ends
  float min_lr = 0.0f;      // cosine: the floor
};

using Schedule = std::function<float(int64_t step)>;

const std::vector<std::string>& schedule_names();
Schedule make_schedule(const ScheduleOptions& options);

}  // namespace attend
