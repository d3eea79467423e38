// attend train CONFIG [--set key=value ...] [--resume]: the command line of train().
#include "tools/cli.h"
#include "tools/train.h"

namespace attend {

namespace {
// `word` as a POSIX shell reads it back: as is when safe, else in single quotes.
std::string shell_quote(const std::string& word) {
  const bool safe = !word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789_-+=/.,:@%") == std::string::npos;
  if (safe) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}
}  // namespace

Command add_train_command(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    bool resume = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("train", "train a model from a YAML config");
  cmd->add_option("config", args->config, "the YAML config file")->required();
  cmd->add_option("--set", args->overrides, "override a config key, e.g. --set train.optimizer.lr=3e-4")
      ->allow_extra_args(false);
  cmd->add_flag("--resume", args->resume, "continue from the newest checkpoint (which must exist)");
  return {cmd, [args] {
            Config config = load_config(args->config, args->overrides);
            std::string again = "attend train " + shell_quote(args->config);
            for (const std::string& o : args->overrides) again += " --set " + shell_quote(o);
            train(config, {.resume = args->resume, .command_hint = again + " --resume"});
            return 0;
          }};
}

}  // namespace attend
