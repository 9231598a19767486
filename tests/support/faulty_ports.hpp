// Ports that count what vfsteer asks of the kernel and fail on demand: every kernel write vfsteer makes (each netlink
// request of a batch that changes something, a datapath map write or program
// load, a sysfs write, a demux program load, an ethtool flow rule write) is a numbered fault point; the
// chosen one fails as the kernel would, with EIO, before anything is sent.
// Reads never fail.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/ports.hpp"

namespace vfsteer::testing {

class FaultPlan {
 public:
  // What happens at the chosen point: the write fails as the kernel would
  // fail it, or the process dies there (SIGKILL, as a crash would).
  enum class Action { kFail, kKill };
  // failAt: the 1-based point to fail; 0 never fails (counting only).
  explicit FaultPlan(int failAt = 0, Action action = Action::kFail) : failAt_(failAt), action_(action) {}
  Status point(const std::string& what);
  int count() const { return count_; }
  const std::vector<std::string>& points() const { return points_; }
  bool fired() const { return fired_; }

  // Every dump request, by netlink protocol, message type (generic
  // netlink: the command) and the device it names (0: all).
  struct Dump {
    int protocol = 0;
    int type = 0;
    int ifindex = 0;
    auto operator<=>(const Dump&) const = default;
  };
  void dumped(const Dump& d) { dumps_.push_back(d); }
  const std::vector<Dump>& dumps() const { return dumps_; }

 private:
  int failAt_;
  Action action_;
  int count_ = 0;
  bool fired_ = false;
  std::vector<std::string> points_;
  std::vector<Dump> dumps_;
};

// Wraps the real ports; `plan` must outlive it.
std::unique_ptr<engine::PortFactory> makeFaultyPorts(FaultPlan& plan);

}  // namespace vfsteer::testing
