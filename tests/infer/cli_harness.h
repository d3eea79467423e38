// Runs `attend <args>` in-process as main.cpp does (same subcommands, errors caught into
// last_error()), so tests exercise the real command line without spawning a binary.
#pragma once

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <string>
#include <vector>

#include "tools/cli.h"

namespace attend::test_util {

inline std::string& last_error() {
  static std::string e;
  return e;
}

inline int run_attend(std::vector<std::string> args) {
  CLI::App app{"attend"};
  app.require_subcommand(1);
  std::vector<Command> commands = {add_train_command(app),    add_translate_command(app), add_score_command(app),
                                   add_evaluate_command(app), add_classify_command(app),  add_average_command(app),
                                   add_inspect_command(app)};
  last_error().clear();
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    last_error() = e.what();
    return e.get_exit_code() == 0 ? 1 : e.get_exit_code();
  }
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);
  int rc = 0;
  try {
    for (Command& c : commands)
      if (c.chosen()) rc = c.run();
  } catch (const std::exception& e) {
    last_error() = e.what();
    rc = 1;
  }
  spdlog::set_level(level);
  return rc;
}

}  // namespace attend::test_util
