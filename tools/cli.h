// The subcommands of `attend`. Each tool file adds its own subcommand to the app and
// returns the function to run when it was chosen; main.cpp only parses and dispatches.
//
//   Command c = add_train_command(app);   // in main()
//   ... app.parse(argc, argv) ...
//   if (c.chosen()) return c.run();
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

namespace attend {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // exit code
  bool chosen() const { return app && app->parsed(); }
};

Command add_train_command(CLI::App& app);
Command add_translate_command(CLI::App& app);
Command add_score_command(CLI::App& app);
Command add_evaluate_command(CLI::App& app);
Command add_classify_command(CLI::App& app);
Command add_average_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_bench_command(CLI::App& app);  // tools/bench.cpp

}  // namespace attend
