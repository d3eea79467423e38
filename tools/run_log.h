// What a long run shows the user: a live progress line when stderr is a terminal,
// plain spdlog lines otherwise, and every event appended to DIR/metrics.jsonl.
//
//   RunLog log(dir + "/metrics.jsonl");
//   log.progress("step 120/3000 | loss 4.21 | 3400 tok/s | ETA 12m");   // overwritten in place
//   log.event({{"event", "valid"}, {"step", 1000}, {"bleu", 31.2}}, "valid | bleu 31.2");
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace attend {

class RunLog {
 public:
  explicit RunLog(const std::string& metrics_path = "");  // empty: no metrics file
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // A transient status: redrawn in place on a terminal, dropped otherwise.
  void progress(const std::string& line);
  // A lasting message (logged at info) plus, when given, a JSON object for metrics.jsonl.
  void event(const nlohmann::json& record, const std::string& message);
  void info(const std::string& message);  // clears the progress line first
  bool interactive() const { return tty_; }

 private:
  void clear_progress();
  std::FILE* metrics_ = nullptr;
  bool tty_ = false;
  bool progress_shown_ = false;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace attend
