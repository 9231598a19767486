// `vfsteer run ARGS` in the background for a test: started from the
// repository root (policies name examples/ relative to it), its log (stderr)
// in a file, killed when the object goes if it still runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace vfsteer::testing {

class RunningDaemon {
 public:
  explicit RunningDaemon(std::vector<std::string> args);
  ~RunningDaemon();
  RunningDaemon(const RunningDaemon&) = delete;
  RunningDaemon& operator=(const RunningDaemon&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const;
  // How often `text` occurs in the log.
  size_t count(const std::string& text) const;
  // Waits until the log holds `text` `times` times; false on timeout, or when
  // the daemon exited without writing it.
  bool waitForLog(const std::string& text, std::chrono::milliseconds timeout, size_t times = 1);
  void signal(int sig);
  // The exit status once it exits within `timeout` (-1: killed by a signal);
  // nullopt while it still runs.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);

 private:
  bool exited();
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string logPath_;
};

}  // namespace vfsteer::testing
