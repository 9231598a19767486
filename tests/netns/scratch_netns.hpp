// A throwaway network namespace with a veth pair, for tests on the real
// kernel. Needs root; tests call requireRoot() first and skip otherwise.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace vfsteer::testing {

inline bool isRoot() { return geteuid() == 0; }

#define VFSTEER_REQUIRE_ROOT()                                                              \
  do {                                                                                      \
    if (!::vfsteer::testing::isRoot())                                                      \
      GTEST_SKIP() << "needs root (network namespaces); run the suite as root to include it"; \
  } while (0)

class ScratchNetns {
 public:
  // Creates namespace "vfst-<pid>-<n>" holding veth va <-> vb, both up.
  ScratchNetns() {
    static int counter = 0;
    name_ = "vfst-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    ip({"netns", "add", name_});
    ip({"-n", name_, "link", "add", "va", "type", "veth", "peer", "name", "vb"});
    ip({"-n", name_, "link", "set", "va", "up"});
    ip({"-n", name_, "link", "set", "vb", "up"});
  }
  ~ScratchNetns() { runProgram({"/usr/sbin/ip", "netns", "del", name_}); }
  ScratchNetns(const ScratchNetns&) = delete;
  ScratchNetns& operator=(const ScratchNetns&) = delete;

  const std::string& name() const { return name_; }

  int ifindex(const std::string& dev) const {
    auto r = runProgram({"/usr/sbin/ip", "-n", name_, "-o", "link", "show", "dev", dev});
    return r.status == 0 ? std::stoi(r.out) : -1;
  }

  // Runs "ip ARGS..." and fails the test if it fails.
  static void ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/sbin/ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runProgram(argv);
    ASSERT_EQ(r.status, 0) << "ip failed: " << r.err;
  }
  // Runs "tc -n NS ARGS..." and returns its result.
  CliResult tc(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"/usr/sbin/tc", "-n", name_};
    argv.insert(argv.end(), args.begin(), args.end());
    return runProgram(argv);
  }

 private:
  std::string name_;
};

}  // namespace vfsteer::testing
