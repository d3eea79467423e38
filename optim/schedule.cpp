#include "optim/schedule.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace attend {
namespace {

void check_step(int64_t step) { CHECK(step >= 1, "learning-rate schedule: steps count from 1, got step {}", step); }

// Linear ramp from init (step 0) to lr (step warmup); valid for step <= warmup.
double warmup(int64_t step, double lr, int64_t warmup_steps, double init) {
  return init + (lr - init) * double(step) / double(warmup_steps);
}

}  // namespace

float constant_lr(int64_t step, float lr, int64_t warmup_steps, float warmup_init_lr) {
  check_step(step);
  if (step < warmup_steps) return float(warmup(step, lr, warmup_steps, warmup_init_lr));
  return lr;
}

float inverse_sqrt_lr(int64_t step, float lr, int64_t warmup_steps, float warmup_init_lr) {
  check_step(step);
  CHECK(warmup_steps >= 1, "inverse_sqrt schedule: warmup_steps must be >= 1, got {}", warmup_steps);
  if (step < warmup_steps) return float(warmup(step, lr, warmup_steps, warmup_init_lr));
  return float(double(lr) * std::sqrt(double(warmup_steps) / double(step)));
}

float linear_lr(int64_t step, float lr, int64_t warmup_steps, int64_t total_steps, float warmup_init_lr) {
  check_step(step);
  CHECK(total_steps > warmup_steps, "linear schedule: total_steps ({}) must be greater than warmup_steps ({})",
        total_steps, warmup_steps);
  if (step < warmup_steps) return float(warmup(step, lr, warmup_steps, warmup_init_lr));
  if (step >= total_steps) return 0.0f;
  return float(double(lr) * double(total_steps - step) / double(total_steps - warmup_steps));
}

float cosine_lr(int64_t step, float lr, int64_t warmup_steps, int64_t total_steps, float min_lr,
                float warmup_init_lr) {
  check_step(step);
  CHECK(total_steps > warmup_steps, "cosine schedule: total_steps ({}) must be greater than warmup_steps ({})",
        total_steps, warmup_steps);
  if (step < warmup_steps) return float(warmup(step, lr, warmup_steps, warmup_init_lr));
  if (step >= total_steps) return min_lr;
  double progress = double(step - warmup_steps) / double(total_steps - warmup_steps);
  return float(min_lr + 0.5 * (double(lr) - min_lr) * (1.0 + std::cos(std::numbers::pi * progress)));
}

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names = {"constant", "inverse_sqrt", "linear", "cosine"};
  return names;
}

Schedule make_schedule(const ScheduleOptions& o) {
  CHECK(std::isfinite(o.lr) && o.lr >= 0, "schedule '{}': lr must be finite and >= 0, got {}", o.name, o.lr);
  CHECK(std::isfinite(o.warmup_init_lr) && o.warmup_init_lr >= 0,
        "schedule '{}': warmup_init_lr must be finite and >= 0, got {}", o.name, o.warmup_init_lr);
  CHECK(o.warmup_steps >= 0, "schedule '{}': warmup_steps must be >= 0, got {}", o.name, o.warmup_steps);
  if (o.name == "constant")
    return [o](int64_t step) { return constant_lr(step, o.lr, o.warmup_steps, o.warmup_init_lr); };
  if (o.name == "inverse_sqrt") {
    CHECK(o.warmup_steps >= 1, "schedule 'inverse_sqrt': warmup_steps must be >= 1, got {}", o.warmup_steps);
    return [o](int64_t step) { return inverse_sqrt_lr(step, o.lr, o.warmup_steps, o.warmup_init_lr); };
  }
  if (o.name == "linear" || o.name == "cosine")
    CHECK(o.total_steps > o.warmup_steps,
          "schedule '{}': total_steps ({}) must be greater than warmup_steps ({}); set total_steps to the "
          "training length",
          o.name, o.total_steps, o.warmup_steps);
  if (o.name == "linear")
    return [o](int64_t step) { return linear_lr(step, o.lr, o.warmup_steps, o.total_steps, o.warmup_init_lr); };
  if (o.name == "cosine") {
    CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0 && o.min_lr <= o.lr,
          "schedule 'cosine': min_lr must be in [0, lr={}], got {}", o.lr, o.min_lr);
    return [o](int64_t step) {
      return cosine_lr(step, o.lr, o.warmup_steps, o.total_steps, o.min_lr, o.warmup_init_lr);
    };
  }
  ATTEND_ERROR("unknown learning-rate schedule '{}'; valid schedules: {}", o.name, fmt::join(schedule_names(), ", "));
}

}  // namespace attend
