#include "tools/progress.h"

#include <fmt/format.h>

namespace attend {

using Clock = std::chrono::steady_clock;

Progress::Progress(std::string what, std::string unit)
    : what_(std::move(what)), unit_(std::move(unit)), start_(Clock::now()), last_log_(start_) {}

double Progress::seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Progress::update(int64_t done, int64_t total) {
  const double secs = seconds();
  const double rate = secs > 0 ? double(done) / secs : 0;
  const double eta = rate > 0 ? double(total - done) / rate : -1;
  const std::string line = fmt::format("{}: {}/{} {} | {:.1f}/s | {} | ETA {}", what_, done, total, unit_, rate,
                                       format_duration(secs), format_duration(eta));
  if (log_.interactive()) {
    log_.progress(line);
  } else if (std::chrono::duration<double>(Clock::now() - last_log_).count() >= 10.0 && done < total) {
    log_.info(line);
    last_log_ = Clock::now();
  }
}

void Progress::done(int64_t count, const std::string& extra) {
  const double secs = seconds();
  log_.info(fmt::format("{}: {} {} in {} ({:.1f}/s){}{}", what_, count, unit_, format_duration(secs),
                        secs > 0 ? double(count) / secs : 0.0, extra.empty() ? "" : " | ", extra));
}

}  // namespace attend
