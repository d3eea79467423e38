#include "core/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace attend::profile {
namespace {

using Clock = std::chrono::steady_clock;

struct OpTimes {
  double forward = 0, backward = 0;
  int64_t forward_calls = 0, backward_calls = 0;
};

struct State {
  std::mutex mutex;
  std::map<std::string, OpTimes> ops;
  Clock::time_point last = Clock::now();
  double forward = 0, backward = 0, gemm = 0, gemm_flops = 0;
  int64_t gemm_calls = 0;
};

State& state() {
  static State s;
  return s;
}

bool from_env() {
  const char* v = std::getenv("ATTEND_PROFILE");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

std::atomic<bool> g_enabled{from_env()};
thread_local int t_backward_depth = 0;

}  // namespace

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on) { g_enabled.store(on); }

void reset() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.ops.clear();
  s.forward = s.backward = s.gemm = s.gemm_flops = 0;
  s.gemm_calls = 0;
  s.last = Clock::now();
}

void mark() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.last = Clock::now();
}

BackwardScope::BackwardScope() { ++t_backward_depth; }
BackwardScope::~BackwardScope() {
  if (--t_backward_depth == 0 && enabled()) mark();
}

void forward_op(const char* name) {
  if (t_backward_depth > 0) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const Clock::time_point now = Clock::now();
  const double dt = std::chrono::duration<double>(now - s.last).count();
  OpTimes& t = s.ops[name];
  t.forward += dt;
  t.forward_calls += 1;
  s.forward += dt;
  s.last = now;
}

void backward_op(const char* name, double seconds) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  OpTimes& t = s.ops[name];
  t.backward += seconds;
  t.backward_calls += 1;
  s.backward += seconds;
}

void gemm_call(double seconds, double flops) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.gemm += seconds;
  s.gemm_flops += flops;
  s.gemm_calls += 1;
}

double forward_seconds() { return state().forward; }
double backward_seconds() { return state().backward; }
double gemm_seconds() { return state().gemm; }

std::string report(int64_t steps) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const double n = double(std::max<int64_t>(steps, 1));
  std::vector<std::pair<std::string, OpTimes>> rows(s.ops.begin(), s.ops.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.forward + a.second.backward > b.second.forward + b.second.backward;
  });
  const double total = s.forward + s.backward;
  size_t width = 14;  // the op names' column
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string out = fmt::format("{:<{}} {:>11} {:>11} {:>11} {:>9} {:>9} {:>6}\n", "op", width, "fwd ms", "bwd ms",
                                "total ms", "fwd calls", "bwd calls", "share");
  for (const auto& [name, t] : rows)
    out += fmt::format("{:<{}} {:>11.1f} {:>11.1f} {:>11.1f} {:>9.0f} {:>9.0f} {:>5.1f}%\n", name, width,
                       1e3 * t.forward / n, 1e3 * t.backward / n, 1e3 * (t.forward + t.backward) / n,
                       double(t.forward_calls) / n, double(t.backward_calls) / n,
                       total > 0 ? 100.0 * (t.forward + t.backward) / total : 0.0);
  out += fmt::format("{:<{}} {:>11.1f} {:>11.1f} {:>11.1f}   (per step, over {} steps)\n", "all ops", width,
                     1e3 * s.forward / n, 1e3 * s.backward / n, 1e3 * total / n, steps);
  out += fmt::format("gemm(): {:.1f} ms per step in {:.0f} calls ({:.1f}% of the ops' time), {:.1f} GFLOP/s\n",
                     1e3 * s.gemm / n, double(s.gemm_calls) / n, total > 0 ? 100.0 * s.gemm / total : 0.0,
                     s.gemm > 0 ? s.gemm_flops / s.gemm / 1e9 : 0.0);
  return out;
}

}  // namespace attend::profile
