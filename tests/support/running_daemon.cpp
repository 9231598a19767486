#include "running_daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace vfsteer::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

RunningDaemon::RunningDaemon(std::vector<std::string> args) {
  static int n = 0;
  logPath_ = "/tmp/vfsteer-run-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".log";
  std::vector<std::string> argv{VFSTEER_BINARY, "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(VFSTEER_SOURCE_DIR);
  if (posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ) != 0) pid_ = -1;
  std::filesystem::current_path(cwd);
  posix_spawn_file_actions_destroy(&actions);
}

RunningDaemon::~RunningDaemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::filesystem::remove(logPath_);
}

std::string RunningDaemon::log() const {
  std::ifstream in(logPath_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t RunningDaemon::count(const std::string& text) const {
  const std::string l = log();
  size_t n = 0;
  for (size_t at = l.find(text); at != std::string::npos; at = l.find(text, at + 1)) ++n;
  return n;
}

bool RunningDaemon::waitForLog(const std::string& text, std::chrono::milliseconds timeout, size_t times) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (count(text) >= times) return true;
    if (exited()) return count(text) >= times;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void RunningDaemon::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> RunningDaemon::waitExit(std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (!exited() && Clock::now() < end) std::this_thread::sleep_for(10ms);
  return status_;
}

bool RunningDaemon::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return true;
}

}  // namespace vfsteer::testing
