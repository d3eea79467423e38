// attend: the command line. Parses arguments and dispatches to the tools library;
// every error becomes one line on stderr and a non-zero exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/config.h"
#include "tools/train.h"

namespace {

void setup_logging() {
  auto logger = spdlog::stderr_color_mt("attend");
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_default_logger(logger);
}

std::string quote_args(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) out += (out.empty() ? "" : " ") + a;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attend: train and run encoder-decoder Transformers on the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "attend 0.1.0");

  std::string config_path;
  std::vector<std::string> overrides;
  bool resume = false;
  CLI::App* train = app.add_subcommand("train", "train a model from a YAML config");
  train->add_option("config", config_path, "the YAML config file")->required();
  train->add_option("--set", overrides, "override a config key, e.g. --set train.optimizer.lr=3e-4")
      ->take_all()
      ->allow_extra_args(false);
  train->add_flag("--resume", resume, "continue from the newest checkpoint (required to exist)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  setup_logging();
  try {
    if (*train) {
      attend::Config config = attend::load_config(config_path, overrides);
      std::vector<std::string> again{"attend", "train", config_path};
      for (const std::string& o : overrides) again.insert(again.end(), {"--set", o});
      attend::TrainSummary s = attend::train(config, {.resume = resume, .command_hint = quote_args(again)});
      (void)s;
    }
  } catch (const std::exception& e) {
    std::fflush(stderr);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
