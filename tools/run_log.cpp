#include "tools/run_log.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>

#include "core/error.h"

namespace attend {

RunLog::RunLog(const std::string& metrics_path) : tty_(::isatty(STDERR_FILENO) == 1) {
  if (!metrics_path.empty()) {
    metrics_ = std::fopen(metrics_path.c_str(), "a");
    CHECK(metrics_ != nullptr, "cannot open {} for appending", metrics_path);
  }
}

RunLog::~RunLog() {
  clear_progress();
  if (metrics_) std::fclose(metrics_);
}

void RunLog::clear_progress() {
  if (progress_shown_) {
    std::fputs("\r\033[K", stderr);
    progress_shown_ = false;
  }
}

void RunLog::progress(const std::string& line) {
  if (!tty_) return;
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  progress_shown_ = true;
}

void RunLog::info(const std::string& message) {
  clear_progress();
  spdlog::info("{}", message);
}

void RunLog::event(const nlohmann::json& record, const std::string& message) {
  if (!message.empty()) info(message);
  if (metrics_) {
    std::fputs((record.dump() + "\n").c_str(), metrics_);
    std::fflush(metrics_);
  }
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = int64_t(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace attend
