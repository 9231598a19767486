// crash_apply POLICY K: `vfsteer apply -f POLICY` that dies by SIGKILL just
// before its K-th kernel write (K 0: never; it then prints each write it
// made, one per line). The crash test uses it to stop an apply at chosen
// points instead of at random moments.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "engine/apply.hpp"
#include "faulty_ports.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: crash_apply POLICY K\n");
    return 2;
  }
  vfsteer::testing::FaultPlan plan(std::stoi(argv[2]), vfsteer::testing::FaultPlan::Action::kKill);
  vfsteer::engine::ApplyOptions opts;
  opts.policyFile = argv[1];
  auto ports = vfsteer::testing::makeFaultyPorts(plan);
  auto r = vfsteer::engine::apply(opts, *ports);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.failure->error.describe().c_str());
    return 3;
  }
  for (const auto& point : plan.points()) std::printf("%s\n", point.c_str());
  return 0;
}
