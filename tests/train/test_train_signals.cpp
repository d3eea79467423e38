// Stopping a run from outside: SIGINT/SIGTERM finish the current step, write a
// checkpoint and exit 0 saying how to resume; SIGKILL in the middle of a checkpoint
// write leaves the previous checkpoint to resume from and a temp folder that the next
// run removes. These tests run the attend binary (ATTEND_BINARY) as a child process.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <thread>

#include <nlohmann/json.hpp>

#include "tools/checkpoint.h"
#include "train/train_fixtures.h"

extern char** environ;

using namespace attend;
using namespace attend::train_test;

namespace {

using Clock = std::chrono::steady_clock;

// The program argv_s[0] with arguments argv_s[1...] as a child, stdout to /dev/null,
// stderr into `stderr_path`, and `extra_env` ("NAME=value") added to the environment.
pid_t spawn(std::vector<std::string> argv_s, const std::string& stderr_path,
            const std::vector<std::string>& extra_env = {}) {
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = extra_env;
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  CHECK(rc == 0, "cannot start {}: {}", argv_s[0], std::strerror(rc));
  return pid;
}

// `attend ARGS...` (the binary of this build).
pid_t spawn_attend(const std::vector<std::string>& args, const std::string& stderr_path,
                   const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> argv = {ATTEND_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn(argv, stderr_path, extra_env);
}

// The child's wait status; kills it (and fails) when it runs longer than `limit`.
int wait_for(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "attend did not finish within " << limit.count() << " s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

// Waits until `path` contains `text` (or the child has exited, or 60 s passed).
bool wait_for_text(pid_t pid, const std::string& path, const std::string& text) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (read_bytes(path).find(text) != std::string::npos) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ADD_FAILURE() << "attend exited (status " << status << ") before writing '" << text << "' to " << path;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "no '" << text << "' in " << path << " after 60 s";
  return false;
}

// The "event" and "step" of the last line of a metrics.jsonl.
nlohmann::json last_event(const std::string& path) {
  std::stringstream lines(read_bytes(path));
  std::string line, last;
  while (std::getline(lines, line))
    if (!line.empty()) last = line;
  const nlohmann::json j = nlohmann::json::parse(last);
  return {{"event", j.value("event", "")}, {"step", j.value("step", int64_t(-1))}};
}

class SignalTest : public TrainTest {
 protected:
  void SetUp() override {
    TrainTest::SetUp();
    write_parallel(dir_, "train", reverse_digits(1000, 3, 6, /*seed=*/1));
  }
  // The command line of a tiny run on the synthetic corpus in dir/run (no validation data).
  std::vector<std::string> train_args(const std::vector<std::string>& overrides) const {
    std::vector<std::string> args = {"train", tiny_yaml()};
    std::vector<std::string> sets = {"data.train.source=" + path("train.src"), "data.train.target=" + path("train.tgt"),
                                     "data.valid.source=''", "data.valid.target=''", "output.dir=" + path("run")};
    sets.insert(sets.end(), overrides.begin(), overrides.end());
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    return args;
  }
  // The same run in-process (tiny_config reads the same files).
  Config config(const std::vector<std::string>& overrides) const { return tiny_config(dir_, overrides); }

  void stops_cleanly_on(int signal_number) {
    const std::string err = path("stderr.txt");
    const std::vector<std::string> args = train_args({"train.log_every=1", "train.max_steps=100000"});
    const pid_t pid = spawn_attend(args, err);
    if (!wait_for_text(pid, path("run/metrics.jsonl"), "\"event\":\"train\"")) return;
    ASSERT_EQ(::kill(pid, signal_number), 0);
    const int status = wait_for(pid);
    const std::string log = read_bytes(err);
    ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\n" << log;
    EXPECT_EQ(WEXITSTATUS(status), 0) << log;

    // A checkpoint at the last step, and a message that says how to continue.
    const std::vector<int64_t> steps = list_checkpoints(path("run"));
    ASSERT_FALSE(steps.empty()) << log;
    const std::string last = std::to_string(steps.back());
    const std::string said = "interrupted: checkpoint written at step " + last + "; resume with: ";
    const size_t at = log.find(said);
    ASSERT_NE(at, std::string::npos) << log;
    const std::string hint = log.substr(at + said.size(), log.find('\n', at) - at - said.size());
    EXPECT_TRUE(hint.starts_with("attend train " + tiny_yaml() + " --set ")) << hint;
    EXPECT_TRUE(hint.ends_with(" --resume")) << hint;
    EXPECT_EQ(last_event(path("run/metrics.jsonl")), (nlohmann::json{{"event", "end"}, {"step", steps.back()}}));

    // The hint, run by a shell as printed (plus a nearer end), continues from that step.
    const std::string command = std::string(ATTEND_BINARY) + hint.substr(std::string("attend").size()) +
                                " --set train.max_steps=" + std::to_string(steps.back() + 2);
    const pid_t resumed = spawn({"/bin/sh", "-c", "exec " + command}, err);
    const int resumed_status = wait_for(resumed);
    const std::string resumed_log = read_bytes(err);
    EXPECT_TRUE(WIFEXITED(resumed_status) && WEXITSTATUS(resumed_status) == 0) << command << "\n" << resumed_log;
    EXPECT_NE(resumed_log.find("resuming from " + checkpoint_dir(path("run"), steps.back()) + " (step " + last),
              std::string::npos)
        << resumed_log;
    EXPECT_EQ(list_checkpoints(path("run")).back(), steps.back() + 2);
  }
};

TEST_F(SignalTest, SigintFinishesTheStepWritesACheckpointAndExitsZero) { stops_cleanly_on(SIGINT); }

TEST_F(SignalTest, SigtermFinishesTheStepWritesACheckpointAndExitsZero) { stops_cleanly_on(SIGTERM); }

TEST_F(SignalTest, RequestTrainingStopEndsAnInProcessRunAfterTheCurrentStep) {
  const Config c = config({"train.log_every=1", "train.max_steps=100000"});
  std::thread stopper([&] {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (read_bytes(path("run/metrics.jsonl")).find("\"event\":\"train\"") == std::string::npos &&
           Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    request_training_stop();
  });
  const TrainSummary s = train(c);
  stopper.join();
  EXPECT_TRUE(s.interrupted);
  EXPECT_GE(s.steps, 1);
  EXPECT_LT(s.steps, 100000);
  EXPECT_EQ(int64_t(s.losses.size()), s.steps);
  EXPECT_EQ(list_checkpoints(path("run")).back(), s.steps);
}

extern "C" void ignore_signal(int) {}

TEST_F(SignalTest, TheCallersSignalHandlersAreBackAfterARun) {
  auto before_int = std::signal(SIGINT, ignore_signal);
  auto before_term = std::signal(SIGTERM, ignore_signal);
  train(config({"train.max_steps=2"}));
  EXPECT_EQ(std::signal(SIGINT, before_int), &ignore_signal);
  EXPECT_EQ(std::signal(SIGTERM, before_term), &ignore_signal);
}

TEST_F(SignalTest, AStopRequestedBeforeARunDoesNotStopIt) {
  request_training_stop();
  const TrainSummary s = train(config({"train.max_steps=3"}));
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.steps, 3);
}

TEST_F(SignalTest, KillDuringACheckpointWriteResumesFromThePreviousOne) {
  // Checkpoints at steps 4 and 8; the second is killed half-written (tools/checkpoint.cpp hook).
  const std::vector<std::string> sets = {"train.valid_every=4", "train.max_steps=10"};
  const pid_t pid = spawn_attend(train_args(sets), path("stderr.txt"), {"ATTEND_TEST_CRASH_IN_CHECKPOINT=8"});
  const int status = wait_for(pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status << "\n"
                                                                  << read_bytes(path("stderr.txt"));
  EXPECT_EQ(list_checkpoints(path("run")), std::vector<int64_t>{4});
  int temp_folders = 0;
  for (const auto& e : fs::directory_iterator(path("run/checkpoints")))
    temp_folders += e.path().filename().string().starts_with(".incomplete-step-8-");
  EXPECT_EQ(temp_folders, 1) << "the killed write leaves its temp folder";

  // The next run ignores and removes the half-written one, resumes from step 4, and
  // trains exactly what an uninterrupted run trains in steps 5..10.
  const TrainSummary resumed = train(config(sets));
  EXPECT_EQ(resumed.losses.size(), 6u);
  EXPECT_EQ(list_checkpoints(path("run")), (std::vector<int64_t>{4, 8, 10}));
  for (const auto& e : fs::directory_iterator(path("run/checkpoints")))
    EXPECT_FALSE(e.path().filename().string().starts_with(".incomplete")) << e.path();

  const TrainSummary whole = train(config({"train.valid_every=4", "train.max_steps=10", "output.dir=" + path("whole")}));
  ASSERT_EQ(whole.losses.size(), 10u);
  EXPECT_EQ(resumed.losses, std::vector<double>(whole.losses.begin() + 4, whole.losses.end()));
}

}  // namespace
