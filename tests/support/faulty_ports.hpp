// Ports that fail on demand: every kernel write vfsteer makes (a netlink
// request batch that changes something, a datapath map write or program
// load, a sysfs write, a demux program load) is a numbered fault point; the
// chosen one fails as the kernel would, with EIO, before anything is sent.
// Reads never fail.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ports.hpp"

namespace vfsteer::testing {

class FaultPlan {
 public:
  // failAt: the 1-based point to fail; 0 never fails (counting only).
  explicit FaultPlan(int failAt = 0) : failAt_(failAt) {}
  Status point(const std::string& what);
  int count() const { return count_; }
  const std::vector<std::string>& points() const { return points_; }
  bool fired() const { return fired_; }

 private:
  int failAt_;
  int count_ = 0;
  bool fired_ = false;
  std::vector<std::string> points_;
};

// Wraps the real ports; `plan` must outlive it.
std::unique_ptr<orchestrator::PortFactory> makeFaultyPorts(FaultPlan& plan);

}  // namespace vfsteer::testing
