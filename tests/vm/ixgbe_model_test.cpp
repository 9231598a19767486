// The legacy engines on the NIC model: engine u32 (profile ixgbe) and
// ethtool flow rules (profile ixgbe-ntuple) on its ixgbe
// (tests/vm/nic-model/ixgbe.c), and ethtool flow rules (profile i40e) on its
// i40e (i40e.c). u32 rules land skip_sw and in_hw; the model's flow director
// filters (location, fields, the mask, the action) say what the NIC would
// match. These NICs have no representors; the model's VF ports (netdevsim
// makes them in switchdev mode only) stand for the VFs' own netdevs, and
// the policies leave the eswitch alone.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/apply.hpp"
#include "faulty_ports.hpp"
#include "generators.hpp"
#include "netdevsim.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;
using Lines = std::vector<std::string>;

class IxgbeModelTest : public VmTest {
 protected:
  // The NIC model's driver (flower_model).
  virtual const char* model() const { return "ixgbe"; }
  void SetUp() override {
    VmTest::SetUp();
    if (IsSkipped()) return;
    nsim().flowerModel(model());
    nsim().setSwitchdev();
    nsim().setNumVfs(4);
    nsim().hwTcOffload(true);
  }
  std::string policy(const std::string& chains) {
    return writeFile("version: 1\ndevice: {pf: " + nsim().pf() + ", vfs: {count: 4}}\nchains:\n" + chains);
  }
  CliResult apply(const std::string& file) { return runVfsteer({"apply", "-f", file, "--profile", "ixgbe"}); }
  // The u32 filters on the PF, one line each: tc's view (tables, links and
  // rules). Text: iproute2 6.1's JSON for a link is not valid JSON.
  Lines u32Filters() {
    Lines out;
    std::istringstream in(sh({"tc", "filter", "show", "dev", nsim().pf(), "ingress"}));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("filter ", 0) == 0 && line.find(" u32 ") != std::string::npos) out.push_back(line);
    return out;
  }
  // The rules and links (knodes; tables are not offloaded as filters):
  // every one skip_sw and in_hw.
  size_t expectRulesInHw() {
    size_t knodes = 0;
    for (const auto& f : u32Filters()) {
      if (f.find(" key ht ") == std::string::npos) continue;
      ++knodes;
      EXPECT_NE(f.find(" skip_sw"), std::string::npos) << f;
      EXPECT_NE(f.find(" in_hw"), std::string::npos) << f;
    }
    return knodes;
  }
  std::string snapshot() { return kernelSnapshot(nsim(), nsim().ports()); }
  // A corpus of generated chains: their protocols, and the prefix length
  // most addresses have and the one some have instead (another mask).
  struct Corpus {
    std::vector<std::string> protos;
    int bits = 24, otherBits = 23;
  };
  void modelTakesExactlyWhatTheProfilePlans(const std::string& profile, const std::string& engine,
                                            const Corpus& corpus);
  // One generated chain of the cross-check below: dst_ip DST/BITS, TCP or
  // UDP, a dst_port or none, drop or a VF ("drop", "vfN").
  struct Generated {
    std::string name;
    int priority = 0;
    std::string proto, dst;
    int bits = 24, port = 0;
    std::string action;
  };
  // Three rounds of 14 generated chains applied with `profile` (most with
  // `corpus.bits`, one in ten `corpus.otherBits`: another mask): the model's
  // filters (`rules`) must be exactly `line(chain)` for the chains `plan`
  // puts in the NIC. `eachRound` checks more after each apply.
  void everyPlannedRuleIsAFilter(const std::string& profile, uint64_t seed, const Corpus& corpus,
                                 const std::function<std::string(const Generated&)>& line,
                                 const std::function<Lines()>& rules, const std::function<void()>& eachRound = {});
};

// What the flow director matches for "dst_ip DST/BITS, ip_proto PROTO
// [, dst_port PORT]" (port 0: none): its filter line, by location.
std::string fdirLine(int loc, const std::string& proto, const std::string& dst, int bits, int port,
                     const std::string& action) {
  const std::string mask = bits == 16 ? "255.255.0.0" : "255.255.255.0";
  return std::to_string(loc) + " " + proto + "4/7 0.0.0.0/0.0.0.0 " + dst + "/" + mask + " 0/0 " +
         (port ? std::to_string(port) + "/65535 " : "0/0 ") + action;
}
std::string dstPortRule(int loc, const std::string& proto, const std::string& dst, int port, const std::string& action) {
  return fdirLine(loc, proto, dst, 24, port, action);
}

// Address and port rules of two protocols become flow director filters at
// their chains' priorities, with the one mask they share; a chain of
// another mask stays on the host and says why. Re-apply changes nothing;
// teardown leaves the flow director empty.
TEST_F(IxgbeModelTest, PolicyLandsAsFlowDirectorFiltersWithOneSharedMask) {
  const auto file = policy(
      "  - {name: web, priority: 10, offload: skip-sw, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: tls, priority: 20, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: dns, priority: 30, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 2}}]}\n"
      "  - {name: ssh, priority: 40, match: {dst_ip: 10.0.3.0/24, ip_proto: tcp, dst_port: 22}, stages: [drop]}\n"
      "  - {name: admin, priority: 50, match: {dst_ip: 10.0.2.0/24, ip_proto: tcp}, stages: [{deliver: {vf: 3}}]}\n");
  auto r = apply(file);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{dstPortRule(10, "tcp", "10.0.0.0", 80, "vf0"),
                                       dstPortRule(20, "tcp", "10.0.0.0", 443, "vf1"),
                                       dstPortRule(30, "udp", "10.0.1.0", 53, "vf2"),
                                       dstPortRule(40, "tcp", "10.0.3.0", 22, "drop")}));
  EXPECT_EQ(expectRulesInHw(), 4u + 3u) << "four rules and three links";
  json rep = reportJson(nsim().pf());
  for (const char* name : {"web", "tls", "dns", "ssh"}) EXPECT_EQ(reportChain(rep, name)["split"], 1) << name;
  EXPECT_EQ(reportChain(rep, "admin")["split"], 0);
  EXPECT_NE(reportChain(rep, "admin").dump().find("dst_ip /24, ip_proto, dst_port"), std::string::npos)
      << "the reason names the mask the flow director keeps: " << reportChain(rep, "admin").dump();

  const std::string before = snapshot();
  auto again = apply(file);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  EXPECT_EQ(snapshot(), before);

  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().fdirRules().empty());
  EXPECT_TRUE(u32Filters().empty());
}

// A policy change on a device holding rules: ixgbe replaces no linked rule
// or link in place and refuses a location twice, so the relay (removals
// first, a changed link's rules again) is what the driver takes.
TEST_F(IxgbeModelTest, PolicyChangeRelaysRulesAndLinksTheWayTheDriverTakesThem) {
  auto first = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: tls, priority: 20, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: dns, priority: 30, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 2}}]}\n"));
  ASSERT_EQ(first.status, 0) << first.err << first.out;
  // web moves to another port and VF, tls to another network (its link
  // changes), dns goes, ntp comes.
  auto second = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 8080}, stages: [{deliver: {vf: 3}}]}\n"
      "  - {name: tls, priority: 20, match: {dst_ip: 10.0.5.0/24, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: ntp, priority: 35, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 123}, stages: [drop]}\n"));
  ASSERT_EQ(second.status, 0) << second.err << second.out;
  EXPECT_EQ(second.out.find("refused"), std::string::npos) << second.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{dstPortRule(10, "tcp", "10.0.0.0", 8080, "vf3"),
                                       dstPortRule(20, "tcp", "10.0.5.0", 443, "vf1"),
                                       dstPortRule(35, "udp", "10.0.1.0", 123, "drop")}));
  EXPECT_EQ(expectRulesInHw(), 3u + 3u);
}

// The model's budget runs out in the middle of a strict apply: the filters
// added before the refusal are taken back and the kernel holds what it
// held. With offload auto, what fits stays in the NIC and the rest runs on
// the host, with the refusal as its reason. (Removing the refused chain's
// table right after its link met the kernel's deferred release of the
// link's hold on it: the executor now retries that removal.)
TEST_F(IxgbeModelTest, BudgetExhaustedMidApplyIsAllOrNothing) {
  nsim().modelKnob("budget", 2);
  const std::string chains =
      "  - {name: a, priority: 10, @OFFLOAD match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: b, priority: 20, @OFFLOAD match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 81}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: c, priority: 30, @OFFLOAD match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 82}, stages: [{deliver: {vf: 2}}]}\n";
  auto with = [&](const std::string& offload) {
    std::string y = chains;
    for (size_t at; (at = y.find("@OFFLOAD ")) != std::string::npos;) y.replace(at, 9, offload);
    return policy(y);
  };
  const std::string before = snapshot();
  auto strict = apply(with("offload: skip-sw, "));
  EXPECT_EQ(strict.status, 3) << strict.out << strict.err;
  // cls_u32 keeps a skip_sw rule the driver refused (not_in_hw) and gives
  // the driver no extack: vfsteer reads in_hw and says so.
  EXPECT_NE(strict.err.find("chain c is skip-sw and the NIC refused its rule: the kernel accepted the rule on " +
                            nsim().pf() + " but reports it not_in_hw"),
            std::string::npos)
      << strict.err;
  EXPECT_EQ(snapshot(), before) << "nothing changed";
  EXPECT_TRUE(nsim().fdirRules().empty()) << "the filters that fitted were taken back";

  auto fits = apply(with(""));
  ASSERT_EQ(fits.status, 0) << fits.err << fits.out;
  json rep = reportJson(nsim().pf());
  EXPECT_EQ(reportChain(rep, "a")["split"], 1);
  EXPECT_EQ(reportChain(rep, "b")["split"], 1);
  EXPECT_EQ(reportChain(rep, "c")["split"], 0);
  EXPECT_NE(reportChain(rep, "c").dump().find("reports it not_in_hw"), std::string::npos)
      << reportChain(rep, "c").dump();
  EXPECT_EQ(nsim().fdirRules().size(), 2u);

  // enforce skip-sw: a chain the NIC runs is taken; the one the full NIC
  // refused fails the command, and nothing changes.
  auto held = runVfsteer({"enforce", "skip-sw", "--chain", "a", "--instance", nsim().pf()});
  EXPECT_EQ(held.status, 0) << held.out << held.err;
  const std::string now = snapshot();
  auto full = runVfsteer({"enforce", "skip-sw", "--chain", "c", "--instance", nsim().pf()});
  EXPECT_NE(full.status, 0) << full.out << full.err;
  EXPECT_NE(full.err.find("chain c"), std::string::npos) << full.err;
  EXPECT_EQ(snapshot(), now);
  EXPECT_EQ(nsim().fdirRules().size(), 2u);
}

// Someone else's filters on the PF: a flower filter (skip_hw: ixgbe offloads
// no flower) survives apply, re-apply and teardown; a u32 filter of theirs
// makes apply refuse before it changes anything (ixgbe keeps one set of
// tables and links for every u32 priority).
TEST_F(IxgbeModelTest, ForeignFiltersSurviveAndForeignU32IsRefused) {
  const std::string pf = nsim().pf();
  sh({"tc", "qdisc", "add", "dev", pf, "clsact"});
  sh({"tc", "filter", "add", "dev", pf, "ingress", "prio", "3", "protocol", "ip", "flower", "skip_hw", "dst_ip",
      "192.0.2.1", "action", "drop"});
  auto theirs = [&] { return sh({"tc", "filter", "show", "dev", pf, "ingress", "pref", "3"}); };
  const std::string flower = theirs();
  ASSERT_NE(flower, "");
  const auto file = policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n");
  ASSERT_EQ(apply(file).status, 0);
  ASSERT_EQ(apply(file).status, 0);
  EXPECT_EQ(theirs(), flower);
  EXPECT_EQ(nsim().fdirRules().size(), 1u);
  ASSERT_EQ(runVfsteer({"teardown", "--instance", pf}).status, 0);
  EXPECT_EQ(theirs(), flower);
  EXPECT_TRUE(nsim().fdirRules().empty());

  sh({"tc", "filter", "add", "dev", pf, "ingress", "prio", "100", "protocol", "ip", "u32", "skip_hw", "match", "ip",
      "dst", "10.99.0.1/32", "action", "drop"});
  const std::string before = snapshot();
  auto r = apply(file);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(pf + " holds u32 filters vfsteer does not own (tc ingress priority 100)"), std::string::npos)
      << r.err;
  EXPECT_EQ(snapshot(), before);
}

// An operator's ethtool flow rule shares the flow director with vfsteer's
// u32 rules (ixgbe writes both into one list of locations): a chain whose
// location (its priority) the operator's rule holds is a conflict with
// nothing changed; elsewhere vfsteer's rules go beside it, and teardown
// leaves it.
TEST_F(IxgbeModelTest, AnOperatorsEthtoolFlowRuleKeepsItsLocation) {
  const std::string pf = nsim().pf();
  // dst-ip's "m" names the bits to ignore: the mask is vfsteer's /24 and
  // port, the one mask the flow director takes.
  sh({"ethtool", "-N", pf, "flow-type", "tcp4", "dst-ip", "10.9.9.0", "m", "0.0.0.255", "dst-port", "9", "action",
      "-1", "loc", "10"});
  const Lines theirs{fdirLine(10, "tcp", "10.9.9.0", 24, 9, "drop")};
  ASSERT_EQ(nsim().fdirRules(), theirs);
  const std::string before = snapshot();
  auto clash = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"));
  EXPECT_NE(clash.status, 0);
  EXPECT_NE(clash.err.find("flow director location 10 on " + pf + " holds a flow rule vfsteer does not own"),
            std::string::npos)
      << clash.err;
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(nsim().fdirRules(), theirs);

  const auto beside = policy(
      "  - {name: web, priority: 20, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n");
  auto ok = apply(beside);
  ASSERT_EQ(ok.status, 0) << ok.err << ok.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{theirs[0], dstPortRule(20, "tcp", "10.0.0.0", 80, "vf0")}));
  auto again = apply(beside);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << "its own location is not someone else's: "
                                                                     << again.out;
  ASSERT_EQ(runVfsteer({"teardown", "--instance", pf}).status, 0);
  EXPECT_EQ(nsim().fdirRules(), theirs);
  sh({"ethtool", "-N", pf, "delete", "10"});
  EXPECT_TRUE(nsim().fdirRules().empty());
}

// The golden rule for the ixgbe profile: over generated chains (addresses,
// protocols, ports, masks that differ), every rule `plan` puts in the NIC is
// one the model takes, and the model's flow director filter matches exactly
// the chain's fields and acts as its stage says.
void IxgbeModelTest::everyPlannedRuleIsAFilter(const std::string& profile, uint64_t seed, const Corpus& corpus,
                                               const std::function<std::string(const Generated&)>& line,
                                               const std::function<Lines()>& rules,
                                               const std::function<void()>& eachRound) {
  ::vfsteer::testing::Generator gen(seed);
  int checked = 0;
  for (int round = 0; round < 3; ++round) {
    std::string yaml;
    std::vector<Generated> chains;
    for (int i = 0; i < 14; ++i) {
      Generated g;
      g.name = "g" + std::to_string(i);
      g.priority = i + 1;
      g.proto = gen.chance(0.5) ? "tcp" : "udp";
      g.bits = gen.chance(0.1) ? corpus.otherBits : corpus.bits;
      const int host = g.bits == 32 ? 1 + i : 0;
      g.dst = "10." + std::to_string(round) + "." + std::to_string(g.bits < 24 ? 0 : gen.pick(4)) + "." +
              std::to_string(host);
      g.port = gen.chance(0.1) ? 0 : 1000 + 20 * round + i;
      g.action = gen.chance(0.2) ? "drop" : "vf" + std::to_string(gen.pick(4));
      std::string match = "dst_ip: " + g.dst + "/" + std::to_string(g.bits) + ", ip_proto: " + g.proto;
      if (g.port) match += ", dst_port: " + std::to_string(g.port);
      const std::string stage = g.action == "drop" ? "drop" : "{deliver: {vf: " + g.action.substr(2) + "}}";
      yaml += "  - {name: " + g.name + ", priority: " + std::to_string(g.priority) + ", match: {" + match +
              "}, stages: [" + stage + "]}\n";
      chains.push_back(g);
    }
    auto r = runVfsteer({"apply", "-f", policy(yaml), "--profile", profile});
    ASSERT_EQ(r.status, 0) << yaml << r.err << r.out;
    EXPECT_EQ(r.out.find("refused"), std::string::npos) << yaml << r.out;
    json rep = reportJson(nsim().pf());
    Lines expected;
    for (const auto& g : chains)
      if (reportChain(rep, g.name)["split"] == 1) expected.push_back(line(g));
    EXPECT_EQ(rules(), expected) << yaml;
    checked += static_cast<int>(expected.size());
    if (eachRound) eachRound();
  }
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(rules().empty());
  EXPECT_GT(checked, 15) << "the corpus must put rules in the NIC to check anything";
}

TEST_F(IxgbeModelTest, EveryRuleThePlanMakesIsAFilterOfTheChainsFields) {
  everyPlannedRuleIsAFilter(
      "ixgbe", 20261202, {{}, 24, 16},
      [](const Generated& g) { return fdirLine(g.priority, g.proto, g.dst, g.bits, g.port, g.action); },
      [this] { return nsim().fdirRules(); }, [this] { expectRulesInHw(); });
}

// The converse of the one above: a profile that claims every protocol and
// any mask (the engine's own limits only) puts each chain of a corpus in
// the NIC, and the model takes or refuses each rule. The model must take
// exactly the chains the real profile plans in the NIC: one it takes that
// the profile keeps on the host is a claim the profile misses; one it
// refuses that the profile plans is a claim the driver does not back.
// (Chains moved only to keep priority order, or shadowed by an earlier
// chain of the same match, are not compared.)
void IxgbeModelTest::modelTakesExactlyWhatTheProfilePlans(const std::string& profile, const std::string& engine,
                                                          const Corpus& corpus) {
  const auto& protos = corpus.protos;
  const std::string anything =
      "name: anything\nhardware:\n  engine: " + engine + "\n  match: [src_ip4, dst_ip4, ip_proto, src_port, dst_port]\n"
      "  stages: [drop, deliver]\n  targets: [vf]\n  ip_versions: [4]\n" +
      (engine == "u32" ? "  u32_link_tables: 9\n" : "  flow_rule_locations: 2046\n") +
      "  miss_to_software: false\n  trap_to_host: false\n  vf_side_rules: false\n"
      "provisioning:\n  switchdev: false\n";
  const std::string dir = std::filesystem::path(writeFile(anything)).parent_path() / ("anything-" + engine);
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/anything.yaml") << anything; }
  ::vfsteer::testing::Generator gen(20261204);
  int taken = 0, refused = 0;
  for (int round = 0; round < 3; ++round) {
    std::string yaml;
    for (int i = 0; i < 12; ++i) {
      const std::string proto = protos[gen.pick(static_cast<int>(protos.size()))];
      // One in seven of the other prefix length: another mask than the
      // first chain's (mostly).
      const int bits = gen.chance(0.15) ? corpus.otherBits : corpus.bits;
      const int host = bits == 32 ? 1 + i : 0;
      std::string match = "dst_ip: 10." + std::to_string(round) + "." + std::to_string(bits < 24 ? 0 : gen.pick(3)) +
                          "." + std::to_string(host) + "/" + std::to_string(bits) + ", ip_proto: " + proto;
      if (proto != "icmp" && gen.chance(0.85)) match += ", dst_port: " + std::to_string(2000 + 20 * round + i);
      const std::string stage = gen.chance(0.2) ? "drop" : "{deliver: {vf: " + std::to_string(gen.pick(4)) + "}}";
      yaml += "  - {name: g" + std::to_string(i) + ", priority: " + std::to_string(i + 1) + ", match: {" + match +
              "}, stages: [" + stage + "]}\n";
    }
    const auto file = policy(yaml);
    const json planned = planJson(file, {"--profile", profile});
    const json whole = planJson(file, {"--profile", "anything", "--profiles-dir", dir});
    auto r = runVfsteer({"apply", "-f", file, "--profile", "anything", "--profiles-dir", dir});
    ASSERT_EQ(r.status, 0) << yaml << r.err << r.out;
    const json rep = reportJson(nsim().pf());
    for (const auto& w : whole["chains"]) {
      if (!w["demux_in_nic"].get<bool>()) continue;
      const std::string name = w["name"];
      const json& p = reportChain(planned, name);
      const json& held = reportChain(rep, name);
      // Kept on the host for order, not for what the driver takes: chains
      // that must follow a host chain, and chains an earlier one shadows.
      const std::string order = "to keep priority order", shadowed = "matches the same packets first";
      if (p.value("reason", "").find(order) != std::string::npos || held.dump().find(order) != std::string::npos ||
          p.value("reason", "").find(shadowed) != std::string::npos)
        continue;
      const bool modelTakes = held["split"] == w["split"];
      EXPECT_EQ(modelTakes, p["split"] == w["split"])
          << "chain " << name << ": the model " << (modelTakes ? "takes" : "refuses") << " it; profile " << profile
          << " plans split " << p["split"] << " (" << p["reason"] << ")\nthe model: " << held.dump() << "\n" << yaml;
      (modelTakes ? taken : refused) += 1;
    }
    ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  }
  EXPECT_GT(taken, 5) << "the corpus must hold chains the model takes";
  EXPECT_GT(refused, 2) << "the corpus must hold chains the model refuses";
  std::printf("profile %s: the model took %d chains and refused %d, as the profile plans\n", profile.c_str(), taken,
              refused);
}

TEST_F(IxgbeModelTest, TheModelTakesExactlyWhatTheProfilePlans) {
  modelTakesExactlyWhatTheProfilePlans("ixgbe", "u32", {{"tcp", "udp", "sctp", "icmp"}});
}

// ---- engine ntuple (profile ixgbe-ntuple): the same flow director through
// ethtool's flow rules, at locations vfsteer records ----------------------

class IxgbeNtupleTest : public IxgbeModelTest {
 protected:
  CliResult apply(const std::string& file) { return runVfsteer({"apply", "-f", file, "--profile", "ixgbe-ntuple"}); }
  // The kernel as tc and devlink see it, plus the flow director's filters:
  // ethtool rules are in neither.
  std::string snapshot() {
    std::string s = IxgbeModelTest::snapshot();
    for (const auto& line : nsim().fdirRules()) s += line + "\n";
    return s;
  }
  // The locations `ethtool -n` lists ("Filter: N" lines).
  std::vector<int> ethtoolLocations() {
    std::vector<int> out;
    std::istringstream in(sh({"ethtool", "-n", nsim().pf()}));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("Filter: ", 0) == 0) out.push_back(std::stoi(line.substr(8)));
    return out;
  }
};

// Chains become ethtool flow rules at their priorities, which `ethtool -n`
// lists and the flow director matches with one shared mask; no tc filter
// does it. Re-apply changes nothing; a port and VF change is one write in
// place; a new mask takes every rule out first (the driver refuses a
// second mask); teardown empties the flow director.
TEST_F(IxgbeNtupleTest, PolicyLandsAsEthtoolFlowRulesAndFollowsChanges) {
  const std::string first =
      "  - {name: web, priority: 10, offload: skip-sw, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: dns, priority: 30, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 2}}]}\n"
      "  - {name: ssh, priority: 40, match: {dst_ip: 10.0.3.0/24, ip_proto: tcp, dst_port: 22}, stages: [drop]}\n"
      "  - {name: admin, priority: 50, match: {dst_ip: 10.0.2.0/24, ip_proto: tcp}, stages: [{deliver: {vf: 3}}]}\n";
  const auto file = policy(first);
  auto r = apply(file);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{dstPortRule(10, "tcp", "10.0.0.0", 80, "vf0"),
                                       dstPortRule(30, "udp", "10.0.1.0", 53, "vf2"),
                                       dstPortRule(40, "tcp", "10.0.3.0", 22, "drop")}));
  EXPECT_EQ(ethtoolLocations(), (std::vector<int>{10, 30, 40}));
  EXPECT_TRUE(u32Filters().empty()) << "no tc filter carries the rules";
  json rep = reportJson(nsim().pf());
  EXPECT_EQ(reportChain(rep, "admin")["split"], 0) << "another mask: on the host";
  const json& web = reportChain(rep, "web");
  EXPECT_EQ(web["nic_rules"][0]["location"], 10) << web.dump();
  EXPECT_EQ(web["nic_rules"][0]["via"], "ethtool flow rule");
  EXPECT_EQ(web["nic_rules"][0]["ethtool"], "flow-type tcp4 dst-ip 10.0.0.0 m 0.0.0.255 dst-port 80 vf 0 queue 0 loc 10");
  auto table = runVfsteer({"report", "--instance", nsim().pf()});
  EXPECT_NE(table.out.find("chain ssh: flow rule on " + nsim().pf() + " (location 40): in the NIC: flow-type tcp4"),
            std::string::npos)
      << table.out;

  const std::string before = snapshot();
  auto again = apply(file);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  EXPECT_EQ(snapshot(), before);
  // Nothing runs an ethtool rule in software: refused, nothing changed.
  auto emulated = runVfsteer({"apply", "-f", file, "--profile", "ixgbe-ntuple", "--emulate-nic"});
  EXPECT_NE(emulated.status, 0);
  EXPECT_NE(emulated.err.find("--emulate-nic has nothing to emulate them with"), std::string::npos) << emulated.err;
  EXPECT_EQ(snapshot(), before);

  // ssh's port and action change in place; dns goes.
  auto changed = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: ssh, priority: 40, match: {dst_ip: 10.0.3.0/24, ip_proto: tcp, dst_port: 2222}, stages: [{deliver: {vf: 1}}]}\n"));
  ASSERT_EQ(changed.status, 0) << changed.err << changed.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{dstPortRule(10, "tcp", "10.0.0.0", 80, "vf0"),
                                       dstPortRule(40, "tcp", "10.0.3.0", 2222, "vf1")}));
  // A /16 everywhere: the flow director's one mask changes.
  auto wider = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/16, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: ssh, priority: 40, match: {dst_ip: 10.1.0.0/16, ip_proto: tcp, dst_port: 2222}, stages: [{deliver: {vf: 1}}]}\n"));
  ASSERT_EQ(wider.status, 0) << wider.err << wider.out;
  EXPECT_EQ(wider.out.find("refused"), std::string::npos) << wider.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{fdirLine(10, "tcp", "10.0.0.0", 16, 80, "vf0"),
                                       fdirLine(40, "tcp", "10.1.0.0", 16, 2222, "vf1")}));

  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().fdirRules().empty());
  EXPECT_TRUE(ethtoolLocations().empty());
}

// The budget runs out mid-apply: under skip-sw the rules written before the
// refusal are deleted again and nothing changed; with offload auto the
// refused chain runs on the host and the report says the NIC refused it.
// `enforce skip-sw` then takes a chain the NIC holds and refuses the other.
TEST_F(IxgbeNtupleTest, BudgetExhaustedMidApplyIsAllOrNothing) {
  nsim().modelKnob("budget", 2);
  const std::string chains =
      "  - {name: a, priority: 10, @OFFLOAD match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: b, priority: 20, @OFFLOAD match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 81}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: c, priority: 30, @OFFLOAD match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 82}, stages: [{deliver: {vf: 2}}]}\n";
  auto with = [&](const std::string& offload) {
    std::string y = chains;
    for (size_t at; (at = y.find("@OFFLOAD ")) != std::string::npos;) y.replace(at, 9, offload);
    return policy(y);
  };
  const std::string before = snapshot();
  auto strict = apply(with("offload: skip-sw, "));
  EXPECT_EQ(strict.status, 3) << strict.out << strict.err;
  EXPECT_NE(strict.err.find("chain c is skip-sw and the NIC refused its flow rule"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("Invalid argument"), std::string::npos) << "the driver's errno: " << strict.err;
  EXPECT_EQ(snapshot(), before) << "nothing changed";
  EXPECT_TRUE(nsim().fdirRules().empty());

  auto fits = apply(with(""));
  ASSERT_EQ(fits.status, 0) << fits.err << fits.out;
  json rep = reportJson(nsim().pf());
  EXPECT_EQ(reportChain(rep, "a")["split"], 1);
  EXPECT_EQ(reportChain(rep, "b")["split"], 1);
  EXPECT_EQ(reportChain(rep, "c")["split"], 0);
  EXPECT_NE(reportChain(rep, "c").dump().find("the NIC refused its flow rule"), std::string::npos)
      << reportChain(rep, "c").dump();
  EXPECT_EQ(ethtoolLocations(), (std::vector<int>{10, 20}));

  auto held = runVfsteer({"enforce", "skip-sw", "--chain", "a", "--instance", nsim().pf()});
  EXPECT_EQ(held.status, 0) << held.out << held.err;
  const std::string now = snapshot();
  auto full = runVfsteer({"enforce", "skip-sw", "--chain", "c", "--instance", nsim().pf()});
  EXPECT_NE(full.status, 0) << full.out << full.err;
  EXPECT_NE(full.err.find("chain c"), std::string::npos) << full.err;
  EXPECT_EQ(snapshot(), now);
}

// An operator's ethtool rule is never vfsteer's: a chain whose location it
// holds is a conflict with nothing changed; beside it vfsteer's rules go in,
// re-apply changes nothing, and teardown leaves it. A u32 filter of someone
// else's on the PF is no conflict for engine ntuple (no tc filters).
TEST_F(IxgbeNtupleTest, AnOperatorsRuleKeepsItsLocationThroughApplyAndTeardown) {
  const std::string pf = nsim().pf();
  sh({"ethtool", "-N", pf, "flow-type", "tcp4", "dst-ip", "10.9.9.0", "m", "0.0.0.255", "dst-port", "9", "action",
      "-1", "loc", "10"});
  const Lines theirs{fdirLine(10, "tcp", "10.9.9.0", 24, 9, "drop")};
  ASSERT_EQ(nsim().fdirRules(), theirs);
  const std::string before = snapshot();
  auto clash = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"));
  EXPECT_NE(clash.status, 0);
  EXPECT_NE(clash.err.find("flow director location 10 on " + pf + " holds a flow rule vfsteer does not own"),
            std::string::npos)
      << clash.err;
  EXPECT_NE(clash.err.find("chain web's flow rule would replace it"), std::string::npos) << clash.err;
  EXPECT_EQ(snapshot(), before);

  const auto beside = policy(
      "  - {name: web, priority: 20, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n");
  auto ok = apply(beside);
  ASSERT_EQ(ok.status, 0) << ok.err << ok.out;
  EXPECT_EQ(nsim().fdirRules(), (Lines{theirs[0], dstPortRule(20, "tcp", "10.0.0.0", 80, "vf0")}));
  auto again = apply(beside);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  ASSERT_EQ(runVfsteer({"teardown", "--instance", pf}).status, 0);
  EXPECT_EQ(nsim().fdirRules(), theirs);
  sh({"ethtool", "-N", pf, "delete", "10"});
}

// The converse, for ethtool rules (protocols vfsteer can write as one:
// TCP, UDP, and ICMP as an ip4 rule with l4proto 1, which ixgbe refuses).
TEST_F(IxgbeNtupleTest, TheModelTakesExactlyWhatTheProfilePlans) {
  modelTakesExactlyWhatTheProfilePlans("ixgbe-ntuple", "ntuple", {{"tcp", "udp", "icmp"}});
}

// The golden rule for the ixgbe-ntuple profile, as for ixgbe above: every
// rule `plan` puts in the NIC is taken, and the flow director's filters are
// exactly the NIC chains' fields and actions.
TEST_F(IxgbeNtupleTest, EveryRuleThePlanMakesIsAFilterOfTheChainsFields) {
  everyPlannedRuleIsAFilter(
      "ixgbe-ntuple", 20261203, {{}, 24, 16},
      [](const Generated& g) { return fdirLine(g.priority, g.proto, g.dst, g.bits, g.port, g.action); },
      [this] { return nsim().fdirRules(); });
}

// All or nothing at every write: a policy change on a device holding
// rules (a new mask: every rule deleted, then inserted again; one chain
// added, one retired) is run once per kernel write it makes, that write
// failing each time. Every failed apply leaves the flow director and the
// kernel exactly as they were.
TEST_F(IxgbeNtupleTest, AChangeIsUndoneCompletelyAtEveryWrite) {
  const auto first = policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: dns, priority: 20, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53}, stages: [drop]}\n");
  const auto second = policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/16, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: ntp, priority: 30, match: {dst_ip: 10.1.0.0/16, ip_proto: udp, dst_port: 123}, stages: [drop]}\n");
  auto applyWith = [&](FaultPlan& plan) {
    engine::ApplyOptions opts;
    opts.policyFile = second;
    opts.profile = "ixgbe-ntuple";
    opts.skipSw = {"all"};  // a refused insert fails the apply instead of moving its chain
    auto ports = makeFaultyPorts(plan);
    return engine::apply(opts, *ports);
  };
  auto reset = [&] {
    runVfsteer({"teardown", "--instance", nsim().pf()});
    ASSERT_EQ(apply(first).status, 0);
  };
  reset();
  FaultPlan counting;
  auto ok = applyWith(counting);
  ASSERT_TRUE(ok.ok()) << ok.failure->error.describe();
  EXPECT_EQ(nsim().fdirRules(), (Lines{fdirLine(10, "tcp", "10.0.0.0", 16, 80, "vf1"),
                                       fdirLine(30, "udp", "10.1.0.0", 16, 123, "drop")}));
  const int points = counting.count();
  int ethtoolWrites = 0;
  for (const auto& p : counting.points()) ethtoolWrites += p.rfind("ethtool ", 0) == 0;
  EXPECT_EQ(ethtoolWrites, 4) << "two deletes (the old mask), two inserts";
  for (int k = 1; k <= points; ++k) {
    reset();
    const std::string before = snapshot();
    FaultPlan plan(k);
    auto r = applyWith(plan);
    const std::string where = "fault point " + std::to_string(k) + " (" + plan.points()[k - 1] + ")";
    ASSERT_FALSE(r.ok()) << where << ": the apply succeeded";
    EXPECT_NE(r.failure->error.describe().find("injected fault"), std::string::npos) << where;
    EXPECT_TRUE(r.failure->leftovers.empty()) << where << ": " << r.failure->leftovers.front();
    EXPECT_EQ(snapshot(), before) << where;
  }
  std::printf("ixgbe-ntuple: %d fault points, each undone completely\n", points);
}

// An apply killed just before each of its ethtool writes: the journal has
// recorded the location before the write, so the next apply finds the
// rules as vfsteer's and converges, and teardown leaves nothing behind.
TEST_F(IxgbeNtupleTest, AnApplyKilledAtAnEthtoolWriteConvergesAndTearsDown) {
  const auto file = policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: dns, priority: 20, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53}, stages: [drop]}\n");
  auto killedAt = [&](int k) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      FaultPlan plan(k, FaultPlan::Action::kKill);
      engine::ApplyOptions opts;
      opts.policyFile = file;
      opts.profile = "ixgbe-ntuple";
      auto ports = makeFaultyPorts(plan);
      ::_exit(engine::apply(opts, *ports).ok() ? 0 : 3);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  };
  FaultPlan counting;
  {
    engine::ApplyOptions opts;
    opts.policyFile = file;
    opts.profile = "ixgbe-ntuple";
    auto ports = makeFaultyPorts(counting);
    ASSERT_TRUE(engine::apply(opts, *ports).ok());
  }
  const Lines full = nsim().fdirRules();
  ASSERT_EQ(full.size(), 2u);
  int tried = 0;
  for (int k = 1; k <= counting.count(); ++k) {
    if (counting.points()[k - 1].rfind("ethtool ", 0) != 0) continue;
    ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
    ASSERT_TRUE(killedAt(k)) << "point " << k;
    ++tried;
    auto again = apply(file);
    ASSERT_EQ(again.status, 0) << counting.points()[k - 1] << ": " << again.err;
    EXPECT_EQ(nsim().fdirRules(), full) << counting.points()[k - 1];
    ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
    EXPECT_TRUE(nsim().fdirRules().empty()) << counting.points()[k - 1] << ": teardown left a rule behind";
  }
  EXPECT_EQ(tried, 2);
}

// A rule someone writes over one of vfsteer's (ethtool -N ... loc L) is
// theirs from then on: vfsteer's records hold the rule it wrote there, not
// just the location. Re-apply then finds the location taken and changes
// nothing; teardown removes vfsteer's other rule and leaves theirs.
TEST_F(IxgbeNtupleTest, ARuleWrittenOverOursIsTheirs) {
  const std::string pf = nsim().pf();
  const auto file = policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: dns, priority: 20, match: {dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53}, stages: [drop]}\n");
  ASSERT_EQ(apply(file).status, 0);
  sh({"ethtool", "-N", pf, "flow-type", "tcp4", "dst-ip", "10.9.9.0", "m", "0.0.0.255", "dst-port", "9", "action",
      "-1", "loc", "20"});
  const std::string theirs = fdirLine(20, "tcp", "10.9.9.0", 24, 9, "drop");
  ASSERT_EQ(nsim().fdirRules(), (Lines{dstPortRule(10, "tcp", "10.0.0.0", 80, "vf0"), theirs}));
  const std::string before = snapshot();
  auto again = apply(file);
  EXPECT_NE(again.status, 0) << again.out;
  EXPECT_NE(again.err.find("flow director location 20 on " + pf + " holds a flow rule vfsteer does not own"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(snapshot(), before);
  ASSERT_EQ(runVfsteer({"teardown", "--instance", pf}).status, 0);
  EXPECT_EQ(nsim().fdirRules(), Lines{theirs});
  sh({"ethtool", "-N", pf, "delete", "20"});
}

// Chains that match addresses alone become ip4 rules that ignore the
// protocol (flow type IPv4, the L4 type masked out of the shared mask);
// ixgbe reads them back as it holds them, so a re-apply changes nothing.
TEST_F(IxgbeNtupleTest, AddressOnlyChainsAreIp4RulesThatReadBackAsWritten) {
  const auto file = policy(
      "  - {name: a, priority: 10, match: {src_ip: 192.168.1.7/32}, stages: [drop]}\n"
      "  - {name: b, priority: 20, match: {src_ip: 192.168.1.8/32}, stages: [{deliver: {vf: 2}}]}\n");
  auto r = apply(file);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(nsim().fdirRules(),
            (Lines{"10 ip4/4 192.168.1.7/255.255.255.255 0.0.0.0/0.0.0.0 0/0 0/0 drop",
                   "20 ip4/4 192.168.1.8/255.255.255.255 0.0.0.0/0.0.0.0 0/0 0/0 vf2"}));
  const std::string before = snapshot();
  auto again = apply(file);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  EXPECT_EQ(snapshot(), before);
}

// ---- profile i40e: engine ntuple on the NIC model's i40e
// (tests/vm/nic-model/i40e.c): whole fields, one input set per flow type,
// no two filters with the same match -------------------------------------

class I40eModelTest : public IxgbeModelTest {
 protected:
  const char* model() const override { return "i40e"; }
  CliResult apply(const std::string& file) { return runVfsteer({"apply", "-f", file, "--profile", "i40e"}); }
  std::string snapshot() {
    std::string s = IxgbeModelTest::snapshot();
    for (const auto& line : nsim().i40eRules()) s += line + "\n";
    return s;
  }
};

// What the i40e model matches for a filter (its flow type's input set).
std::string i40eLine(int loc, const std::string& proto, const std::string& src, const std::string& dst, int sport,
                     int dport, const std::string& action) {
  auto field = [](const std::string& ip) { return ip.empty() ? "0.0.0.0/0.0.0.0" : ip + "/255.255.255.255"; };
  auto port = [](int p) { return p ? std::to_string(p) + "/65535" : "0/0"; };
  return std::to_string(loc) + " " + proto + "4 " + field(src) + " " + field(dst) + " " + port(sport) + " " +
         port(dport) + " " + action;
}

// Chains of two protocols with their own masks land as filters, each
// protocol's masks the flow type's input set; a prefix, a second tcp mask
// and a chain without a protocol stay on the host with the reason.
// Re-apply changes nothing; teardown empties the flow director.
TEST_F(I40eModelTest, PolicyLandsWithOneInputSetPerFlowType) {
  const auto file = policy(
      "  - {name: web, priority: 10, offload: skip-sw, match: {dst_ip: 10.0.0.1/32, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: dns, priority: 20, match: {src_ip: 10.0.1.1, ip_proto: udp}, stages: [drop]}\n"
      "  - {name: tls, priority: 30, match: {dst_ip: 10.0.0.2/32, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 3}}]}\n"
      "  - {name: ssh, priority: 40, match: {ethertype: ipv4, ip_proto: tcp, dst_port: 22}, stages: [drop]}\n"
      "  - {name: net, priority: 50, match: {dst_ip: 10.0.2.0/24, ip_proto: tcp, dst_port: 80}, stages: [drop]}\n");
  auto r = apply(file);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(nsim().i40eRules(), (Lines{i40eLine(10, "tcp", "", "10.0.0.1", 0, 80, "vf0"),
                                       i40eLine(20, "udp", "10.0.1.1", "", 0, 0, "drop"),
                                       i40eLine(30, "tcp", "", "10.0.0.2", 0, 443, "vf3")}));
  json rep = reportJson(nsim().pf());
  EXPECT_EQ(reportChain(rep, "ssh")["split"], 0);
  EXPECT_EQ(reportChain(rep, "net")["split"], 0);
  EXPECT_NE(reportChain(rep, "net").dump().find("matches each field whole"), std::string::npos);
  EXPECT_EQ(reportChain(rep, "web")["nic_rules"][0]["ethtool"],
            "flow-type tcp4 dst-ip 10.0.0.1 dst-port 80 vf 0 queue 0 loc 10");

  const std::string before = snapshot();
  auto again = apply(file);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  EXPECT_EQ(snapshot(), before);
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().i40eRules().empty());
}

// tcp's input set changes (i40e takes that only while no tcp filter is
// left: the relay takes them all out first), and a chain whose match
// equals an earlier one's runs on the host, where the earlier chain
// shadows it anyway: i40e would refuse its filter
// (i40e_disallow_matching_filters()), so the plan keeps it off the NIC.
TEST_F(I40eModelTest, AnInputSetChangeGoesThroughAnEmptyFlowTypeAndAShadowedChainStaysOnTheHost) {
  auto first = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.1/32, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: tls, priority: 20, match: {dst_ip: 10.0.0.2/32, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}\n"));
  ASSERT_EQ(first.status, 0) << first.err << first.out;
  auto second = apply(policy(
      "  - {name: web, priority: 10, match: {ethertype: ipv4, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: tls, priority: 20, match: {ethertype: ipv4, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: again, priority: 30, match: {ethertype: ipv4, ip_proto: tcp, dst_port: 443}, stages: [drop]}\n"));
  ASSERT_EQ(second.status, 0) << second.err << second.out;
  EXPECT_EQ(nsim().i40eRules(), (Lines{i40eLine(10, "tcp", "", "", 0, 80, "vf0"),
                                       i40eLine(20, "tcp", "", "", 0, 443, "vf1")}));
  json rep = reportJson(nsim().pf());
  EXPECT_EQ(reportChain(rep, "again")["split"], 0);
  EXPECT_NE(reportChain(rep, "again").dump().find("chain tls matches the same packets first"), std::string::npos)
      << reportChain(rep, "again").dump();
  EXPECT_EQ(second.out.find("refused"), std::string::npos) << second.out;
}

// The budget runs out mid-apply: all or nothing under skip-sw, the rest to
// the host otherwise.
TEST_F(I40eModelTest, BudgetExhaustedMidApplyIsAllOrNothing) {
  nsim().modelKnob("budget", 2);
  const std::string chains =
      "  - {name: a, priority: 10, @OFFLOAD match: {dst_ip: 10.0.0.1/32, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: b, priority: 20, @OFFLOAD match: {dst_ip: 10.0.0.2/32, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: c, priority: 30, @OFFLOAD match: {dst_ip: 10.0.0.3/32, ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 2}}]}\n";
  auto with = [&](const std::string& offload) {
    std::string y = chains;
    for (size_t at; (at = y.find("@OFFLOAD ")) != std::string::npos;) y.replace(at, 9, offload);
    return policy(y);
  };
  const std::string before = snapshot();
  auto strict = apply(with("offload: skip-sw, "));
  EXPECT_EQ(strict.status, 3) << strict.out << strict.err;
  EXPECT_NE(strict.err.find("chain c is skip-sw and the NIC refused its flow rule"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("No space left on device"), std::string::npos) << strict.err;
  EXPECT_EQ(snapshot(), before);
  auto fits = apply(with(""));
  ASSERT_EQ(fits.status, 0) << fits.err << fits.out;
  json rep = reportJson(nsim().pf());
  EXPECT_EQ(reportChain(rep, "c")["split"], 0);
  EXPECT_EQ(nsim().i40eRules().size(), 2u);
}

// An operator's tcp4 filter sets tcp's input set (destination port only):
// vfsteer's tcp chain of another mask is refused by the driver and runs on
// the host, its udp chain goes in, and the operator's filter survives
// apply and teardown.
TEST_F(I40eModelTest, AnOperatorsFilterKeepsItsInputSetAndItsLocation) {
  const std::string pf = nsim().pf();
  sh({"ethtool", "-N", pf, "flow-type", "tcp4", "dst-port", "9", "action", "-1", "loc", "100"});
  const Lines theirs{i40eLine(100, "tcp", "", "", 0, 9, "drop")};
  ASSERT_EQ(nsim().i40eRules(), theirs);
  auto r = apply(policy(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.1/32, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: dns, priority: 20, match: {dst_ip: 10.0.0.1/32, ip_proto: udp, dst_port: 53}, stages: [drop]}\n"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  json rep = reportJson(pf);
  EXPECT_EQ(reportChain(rep, "web")["split"], 0);
  EXPECT_NE(reportChain(rep, "web").dump().find("Operation not supported"), std::string::npos)
      << reportChain(rep, "web").dump();
  EXPECT_EQ(nsim().i40eRules(), (Lines{i40eLine(20, "udp", "", "10.0.0.1", 0, 53, "drop"), theirs[0]}));
  ASSERT_EQ(runVfsteer({"teardown", "--instance", pf}).status, 0);
  EXPECT_EQ(nsim().i40eRules(), theirs);
  sh({"ethtool", "-N", pf, "delete", "100"});
}

// The profile cross-check both ways: every filter `plan` puts in the NIC is
// taken and equal to its chain; and with a profile claiming any mask and
// protocol, the model takes exactly the chains the i40e profile plans.
TEST_F(I40eModelTest, EveryRuleThePlanMakesIsAFilterOfTheChainsFields) {
  everyPlannedRuleIsAFilter(
      "i40e", 20261205, {{}, 32, 24},
      [](const Generated& g) { return i40eLine(g.priority, g.proto, "", g.dst, 0, g.port, g.action); },
      [this] { return nsim().i40eRules(); });
}

TEST_F(I40eModelTest, TheModelTakesExactlyWhatTheProfilePlans) {
  modelTakesExactlyWhatTheProfilePlans("i40e", "ntuple", {{"tcp", "udp", "icmp"}, 32, 24});
}

}  // namespace
}  // namespace vfsteer::testing
