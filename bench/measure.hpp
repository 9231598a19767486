// A program run as a process of its own, so that its peak memory is its
// own: wall time and max RSS, output discarded.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace vfsteer::bench {

struct Run {
  double seconds = -1;  // -1: it failed
  double rssMiB = 0;
};

inline Run measure(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  const auto start = std::chrono::steady_clock::now();
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return {};
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s %s failed (status %d)\n", argv[0].c_str(), argv.size() > 1 ? argv[1].c_str() : "",
                 status);
    return {};
  }
  return {seconds, usage.ru_maxrss / 1024.0};
}

// The fastest of `times` runs (-1 seconds if one failed).
inline Run best(const std::vector<std::string>& argv, int times) {
  Run out;
  for (int i = 0; i < times; ++i) {
    Run r = measure(argv);
    if (r.seconds < 0) return r;
    if (out.seconds < 0 || r.seconds < out.seconds) out = r;
  }
  return out;
}

}  // namespace vfsteer::bench
