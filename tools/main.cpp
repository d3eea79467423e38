// attend: the command line. Parses arguments and dispatches to the tools library;
// every error becomes one line on stderr and a non-zero exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <vector>

#include "tools/cli.h"

int main(int argc, char** argv) {
  CLI::App app{"attend: train and run encoder-decoder Transformers on the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "attend 0.1.0");
  std::vector<attend::Command> commands = {
      attend::add_train_command(app),
      attend::add_translate_command(app),
      attend::add_score_command(app),
      attend::add_evaluate_command(app),
      attend::add_classify_command(app),
      attend::add_average_command(app),
      attend::add_inspect_command(app),
      attend::add_bench_command(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto logger = spdlog::stderr_color_mt("attend");
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_default_logger(logger);
  try {
    for (attend::Command& c : commands)
      if (c.chosen()) return c.run();
  } catch (const std::exception& e) {
    std::fflush(stderr);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
