// Progress of a command working through N lines (translate, score, classify, evaluate):
// a live line on a terminal (RunLog::progress), a log line every 10 seconds otherwise.
//
//   Progress progress("translate", "sentences");
//   tr.translate(lines, [&](int64_t done, int64_t total) { progress.update(done, total); });
//   progress.done(fmt::format("{} target tokens", n));   // "translate: 1000 sentences in 12s (83.3/s) | ..."
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "tools/run_log.h"

namespace attend {

class Progress {
 public:
  Progress(std::string what, std::string unit);
  void update(int64_t done, int64_t total);
  // Logs the summary line: count, time, rate, then `extra` when not empty.
  void done(int64_t count, const std::string& extra = "");
  double seconds() const;

 private:
  std::string what_, unit_;
  RunLog log_;
  std::chrono::steady_clock::time_point start_, last_log_;
};

}  // namespace attend
