// The engine with NIC rules (mlx5 emulated with flower skip_hw in the
// lab), counted through its ports: a change of 1% of the chains writes only
// those chains' rules, and a re-apply that changes nothing writes nothing
// and reads each kind once per device. A filter of a kind vfsteer does not
// decode is someone else's, as any other.
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>

#include <fstream>
#include <map>

#include "engine/apply.hpp"
#include "faulty_ports.hpp"
#include "netdevsim.hpp"

namespace vfsteer::testing {
namespace {

constexpr int kChains = 200;

std::string policyWith(const std::map<int, int>& portOverrides) {
  std::string text = "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n";
  for (int k = 0; k < kChains; ++k) {
    const auto port = portOverrides.contains(k) ? portOverrides.at(k) : 1000 + k;
    text += "  - {name: c" + std::to_string(k) + ", priority: " + std::to_string(k + 1) + ", match: {dst_ip: 10.0." +
            std::to_string(k) + ".0/24, ip_proto: tcp, dst_port: " + std::to_string(port) +
            "}, stages: [{deliver: {vf: " + std::to_string(k % 4) + "}}]}\n";
  }
  return writeFile(text);
}

engine::ApplyResult countedApply(const std::string& policy, FaultPlan& counter) {
  engine::ApplyOptions opts;
  opts.policyFile = policy;
  opts.profile = "mlx5";
  opts.emulateNic = true;
  auto ports = makeFaultyPorts(counter);
  return engine::apply(opts, *ports);
}

class EngineVm : public VmLabTest {};

TEST_F(EngineVm, OnePercentOfTheChainsChangedWritesOnlyTheirRules) {
  FaultPlan first;
  auto applied = countedApply(policyWith({}), first);
  ASSERT_TRUE(applied.ok()) << applied.failure->error.describe();
  size_t rules = 0;
  for (const auto& c : applied.changes) rules += c.key().kind == engine::Kind::kNicRule;
  EXPECT_EQ(rules, static_cast<size_t>(kChains));

  // Nothing changes: no write, and each kind of object read once per device.
  FaultPlan again;
  auto noop = countedApply(policyWith({}), again);
  ASSERT_TRUE(noop.ok()) << noop.failure->error.describe();
  EXPECT_TRUE(noop.changes.empty()) << noop.changes.front().describe();
  EXPECT_EQ(again.count(), 0) << (again.points().empty() ? "" : again.points().front());
  std::map<FaultPlan::Dump, int> dumps;
  for (const auto& d : again.dumps()) EXPECT_EQ(++dumps[d], 1) << "type " << d.type << " ifindex " << d.ifindex;

  // Two chains of 200 change their port: two rules replaced in place,
  // nothing else written (not the host tables: these chains never reach
  // the host).
  FaultPlan changed;
  auto r = countedApply(policyWith({{7, 7007}, {150, 7150}}), changed);
  ASSERT_TRUE(r.ok()) << r.failure->error.describe();
  std::vector<std::string> what;
  for (const auto& c : r.changes) what.push_back(c.describe());
  EXPECT_EQ(what, (std::vector<std::string>{
                      "replace the NIC rule of chain c7 on uplink0 (tc priority 10016, skip_hw: emulating the NIC)",
                      "replace the NIC rule of chain c150 on uplink0 (tc priority 10302, skip_hw: emulating the NIC)"}));
  EXPECT_EQ(changed.count(), 2) << "writes: " << changed.points().size();
}

// matchall is a filter kind vfsteer does not decode; such a filter is
// someone else's all the same: at the host datapath's priority the apply is
// refused, and teardown leaves one, with the clsact vfsteer added under it.
TEST_F(EngineVm, AFilterOfAKindVfsteerDoesNotDecodeIsSomeoneElses) {
  auto tc = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"tc", "-n", "vfs-host"});
    return sh(args);
  };
  auto matchallAt = [&](const std::string& prio) {
    tc({"filter", "add", "dev", "uplink0", "ingress", "prio", prio, "protocol", "all", "matchall", "action", "mirred",
        "egress", "mirror", "dev", "pf0vf3"});
  };
  auto hasMatchall = [] {
    for (const auto& f : shJson({"tc", "-n", "vfs-host", "-j", "filter", "show", "dev", "uplink0", "ingress"}))
      if (f.value("kind", "") == "matchall" && f.contains("options")) return true;
    return false;
  };
  const std::string policy = writeFile(
      "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n"
      "  - {name: web, priority: 1, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n");

  tc({"qdisc", "add", "dev", "uplink0", "clsact"});
  matchallAt("40000");
  auto r = runVfsteer({"apply", "-f", policy, "--profile", "veth"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("tc ingress priority 40000 on uplink0 holds a filter vfsteer does not own"), std::string::npos)
      << r.err;
  tc({"qdisc", "del", "dev", "uplink0", "clsact"});

  r = runVfsteer({"apply", "-f", policy, "--profile", "veth"});
  ASSERT_EQ(r.status, 0) << r.err;
  matchallAt("999");
  r = runVfsteer({"apply", "-f", policy, "--profile", "veth"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("nothing to change"), std::string::npos) << r.out;
  r = runVfsteer({"teardown"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(hasMatchall()) << "teardown removed someone else's filter";
}

}  // namespace
}  // namespace vfsteer::testing
