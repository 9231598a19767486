// The NIC prefix on vfsteer's NIC model (tests/vm/nic-model): netdevsim
// offloading flower as mlx5, ice and nfp do. Rules land skip_sw and the
// kernel reports them in_hw; the model's refusals come back in the
// drivers' words and move chains to the host (auto) or fail with nothing
// changed (skip-sw); counters set in the model reach `report`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <cstdio>

#include "generators.hpp"
#include "netdevsim.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;

// Every flower filter on the device's ingress: tc's view.
std::vector<json> flowerFilters(const std::string& dev) {
  std::vector<json> out;
  for (const auto& f : shJson({"tc", "-j", "filter", "show", "dev", dev, "ingress"}))
    if (f.value("kind", "") == "flower" && f.contains("options")) out.push_back(f);
  return out;
}

class NicModelTest : public VmTest {
 protected:
  void useModel(const std::string& model) {
    nsim().flowerModel(model);
    // The model's representors come with hw-tc-offload on, as the
    // drivers' do; the PF was made before the model was chosen.
    nsim().hwTcOffload(true);
  }
  std::string policy(const std::string& chains) {
    return writeFile("version: 1\ndevice: {pf: " + nsim().pf() + ", eswitch: switchdev, vfs: {count: 4}}\nchains:\n" +
                     chains);
  }
  CliResult apply(const std::string& file, const std::string& profile) {
    return runVfsteer({"apply", "-f", file, "--profile", profile});
  }
  json report() { return reportJson(nsim().pf()); }
  static const json& chain(const json& rep, const std::string& name) { return reportChain(rep, name); }
  std::vector<std::string> devices() { return nsim().ports(); }
  std::string snapshot() { return kernelSnapshot(nsim(), devices()); }
};

// vfsteer's cookie: "vfst" then a hash of the instance name.
bool hasOurCookie(const json& filter) {
  for (const auto& a : filter["options"]["actions"])
    if (a.value("cookie", "").rfind("76667374", 0) != 0) return false;
  return !filter["options"]["actions"].empty();
}

// Checks what the kernel holds for a profile's policy once applied: every
// flower rule in hardware, skip_sw except on tunnel devices, with our
// cookie; the model holds exactly these rules.
void expectAllInHw(const std::vector<std::string>& devs, size_t expected,
                   const std::vector<Netdevsim::ModelRule>& model) {
  size_t seen = 0;
  for (const auto& dev : devs)
    for (const auto& f : flowerFilters(dev)) {
      ++seen;
      const json& o = f["options"];
      EXPECT_TRUE(o.value("in_hw", false)) << dev << ": " << f.dump();
      EXPECT_EQ(o.value("skip_sw", false), dev.rfind("vfs-", 0) != 0) << dev << ": " << f.dump();
      EXPECT_TRUE(hasOurCookie(f)) << f.dump();
    }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(model.size(), expected) << "the model holds what tc reports in_hw";
}

const std::string kCount = std::string(VFSTEER_SOURCE_DIR) + "/examples/bpf/count.bpf.o";

TEST_F(NicModelTest, Mlx5TakesVlanTunnelsPoliceMirrorAndGotoWithAHostContinuation) {
  useModel("mlx5");
  const auto file = policy(
      "  - {name: web, priority: 10, match: {vlan: 100, ip_proto: udp, dst_port: 7101}, stages: [vlan_pop, {deliver: {vf: 0}}]}\n"
      "  - {name: tenant, priority: 20, match: {tunnel: {type: vxlan, vni: 42, dst_ip: 192.0.2.1}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}\n"
      "  - {name: overlay, priority: 25, match: {tunnel: {type: geneve, vni: 7, dst_ip: 192.0.2.1}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}\n"
      "  - {name: copy, priority: 30, match: {ip_proto: udp, dst_port: 7102}, stages: [{mirror: {vf: 2}}, {deliver: {vf: 3}}]}\n"
      "  - {name: limit, priority: 40, match: {ip_proto: tcp, dst_port: 443}, stages: [{police: {rate_mbps: 100, burst_kb: 64}}, {deliver: {vf: 1}}]}\n"
      "  - {name: tag, priority: 50, match: {from: {vf: 0}, ip_proto: udp}, stages: [{vlan_push: {id: 200}}, {deliver: uplink}]}\n"
      "  - {name: inspect, priority: 60, match: {ip_proto: udp, dst_port: 7103}, stages: [{bpf: {object: " + kCount +
      ", program: count}}, {deliver: {vf: 2}}]}\n");
  auto r = apply(file, "mlx5");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(r.out.find("refused"), std::string::npos) << r.out;
  const auto reps = nsim().representors();
  // web, copy, limit, inspect and tag (on vf0's representor): IPv4 and
  // IPv6; tenant and overlay: one each on their tunnel devices.
  expectAllInHw({nsim().pf(), reps.at(0), "vfs-vx4789", "vfs-gn6081"}, 12, nsim().modelRules());

  json rep = report();
  for (const char* name : {"web", "tenant", "overlay", "copy", "limit", "tag"})
    EXPECT_EQ(chain(rep, name)["split"], chain(rep, name)["stages"].size()) << name << " runs all in the NIC";
  EXPECT_EQ(chain(rep, "inspect")["split"], 0);
  EXPECT_EQ(chain(rep, "inspect")["handover"], "continue") << "NIC demux, then the host in a tc chain";
  bool gotoInHw = false;
  for (const auto& f : flowerFilters(nsim().pf()))
    for (const auto& a : f["options"]["actions"])
      gotoInHw |= a.value("kind", "") == "gact" && a.dump().find("goto") != std::string::npos &&
                  f["options"].value("in_hw", false);
  EXPECT_TRUE(gotoInHw) << "the goto chain rule is in the NIC";

  // The NIC's counters, as the model reports them through tc stats.
  nsim().setModelCounters(nsim().pf(), 10020, 7, 700);
  rep = report();
  uint64_t packets = 0;
  for (const auto& rule : chain(rep, "web")["nic_rules"]) {
    EXPECT_TRUE(rule.value("counted", false)) << rule.dump();
    packets += rule.value("packets", 0);
  }
  EXPECT_EQ(packets, 7u) << chain(rep, "web").dump();

  auto again = apply(file, "mlx5");
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().modelRules().empty()) << "teardown leaves nothing in the NIC";
}

TEST_F(NicModelTest, IceTakesDropAndDeliveryToVfs) {
  useModel("ice");
  const auto file = policy(
      "  - {name: web, priority: 10, match: {vlan: 100, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: block, priority: 20, match: {ip_proto: udp, dst_port: 9}, stages: [drop]}\n"
      "  - {name: tenant, priority: 30, match: {tunnel: {type: vxlan, vni: 42}}, stages: [{deliver: {vf: 1}}]}\n");
  auto r = apply(file, "ice");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(r.out.find("refused"), std::string::npos) << r.out;
  expectAllInHw({nsim().pf(), "vfs-vx4789"}, 5, nsim().modelRules());
  json rep = report();
  for (const char* name : {"web", "block", "tenant"}) EXPECT_EQ(chain(rep, name)["split"], 1) << name;
  // ice keeps no counters per rule: the report says so rather than show 0.
  for (const auto& rule : chain(rep, "web")["nic_rules"]) {
    EXPECT_FALSE(rule.value("counted", true)) << rule.dump();
    EXPECT_FALSE(rule.contains("packets")) << rule.dump();
  }
  EXPECT_NE(runVfsteer({"report", "--instance", nsim().pf()}).out.find("not counted"), std::string::npos);
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().modelRules().empty());
}

TEST_F(NicModelTest, NfpTakesVlanPopTunnelDecapAndMirror) {
  useModel("nfp");
  const auto file = policy(
      "  - {name: web, priority: 10, match: {vlan: 100, ip_proto: udp, dst_port: 7101}, stages: [vlan_pop, {deliver: {vf: 0}}]}\n"
      "  - {name: tenant, priority: 20, match: {tunnel: {type: vxlan, vni: 42, dst_ip: 192.0.2.1}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}\n"
      "  - {name: copy, priority: 30, match: {ip_proto: sctp, dst_port: 38412}, stages: [{mirror: {vf: 2}}, {deliver: {vf: 3}}]}\n");
  auto r = apply(file, "nfp");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(r.out.find("refused"), std::string::npos) << r.out;
  expectAllInHw({nsim().pf(), "vfs-vx4789"}, 5, nsim().modelRules());
  json rep = report();
  for (const char* name : {"web", "tenant", "copy"}) EXPECT_EQ(chain(rep, name)["split"], 2) << name;
}

// mlx5 without ignore_flow_level (older firmware) takes tc priorities up
// to 16 only (FDB_TC_MAX_PRIO): each refusal moves its chain to the host.
TEST_F(NicModelTest, RefusedRuleMovesItsChainToTheHostInTheDriversWords) {
  useModel("mlx5");
  nsim().modelKnob("max_prio", 16);
  auto r = apply(policy("  - {name: web, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"),
                 "mlx5");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const std::string words = "netdevsim: Requested priority is out of supported range";
  EXPECT_NE(r.out.find(words), std::string::npos) << r.out;
  json rep = report();
  EXPECT_EQ(chain(rep, "web")["split"], 0);
  EXPECT_NE(chain(rep, "web")["stages"][0]["reason"].get<std::string>().find(words), std::string::npos);
  EXPECT_TRUE(flowerFilters(nsim().pf()).empty());
  EXPECT_TRUE(nsim().modelRules().empty());
}

// The same NIC with a profile that says so (tc_priorities: 16; no goto to
// vfsteer's continuation chains past FDB_TC_MAX_CHAIN, so no
// miss_to_software): forty chains fit in a few priorities, chains that
// cannot meet sharing one, and every rule is in the NIC.
TEST_F(NicModelTest, Mlx5WithoutIgnoreFlowLevelTakesAPolicyPackedIntoSixteenPriorities) {
  useModel("mlx5");
  nsim().modelKnob("max_prio", 16);
  nsim().modelKnob("max_chain", 3);
  std::stringstream shipped;
  shipped << std::ifstream(std::string(VFSTEER_SOURCE_DIR) + "/profiles/mlx5.yaml").rdbuf();
  std::string text = shipped.str();
  auto swap = [&](const std::string& from, const std::string& to) {
    ASSERT_NE(text.find(from), std::string::npos) << from;
    text.replace(text.find(from), from.size(), to);
  };
  swap("name: mlx5\n", "name: mlx5-16\n");
  swap("miss_to_software: true", "miss_to_software: false\n  tc_priorities: 16");
  const std::string dir = std::filesystem::path(writeFile(text)).parent_path() / "profiles-16";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/mlx5-16.yaml") << text; }

  std::string chains;
  for (int i = 0; i < 36; ++i)
    chains += "  - {name: p" + std::to_string(i) + ", priority: " + std::to_string(10 + i) +
              ", match: {dst_ip: 10.0.0.0/8, ip_proto: tcp, dst_port: " + std::to_string(2000 + i) +
              "}, stages: [{deliver: {vf: " + std::to_string(i % 4) + "}}]}\n";
  chains +=
      "  - {name: tcp, priority: 100, match: {dst_ip: 10.0.0.0/8, ip_proto: tcp}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: net, priority: 110, match: {dst_ip: 10.1.0.0/16}, stages: [{vlan_push: {id: 30}}, {deliver: {vf: 2}}]}\n"
      "  - {name: six, priority: 120, match: {dst_ip: \"2001:db8::/32\", ip_proto: udp}, stages: [{deliver: {vf: 3}}]}\n"
      "  - {name: rest, priority: 130, match: {ip_proto: udp, dst_port: 53}, stages: [drop]}\n";
  const auto file = policy(chains);
  const std::vector<std::string> args = {"apply", "-f", file, "--profile", "mlx5-16", "--profiles-dir", dir};
  auto r = runVfsteer(args);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(r.out.find("refused"), std::string::npos) << r.out;
  // The port chains at 1, tcp after them at 2, net after all at 3; six
  // takes the first priority free for IPv6 (4); rest's IPv4 rule comes
  // after net (5, as 4 is IPv6's), its IPv6 rule after six (6).
  std::map<int, int> rulesAt;
  for (const auto& f : flowerFilters(nsim().pf())) {
    EXPECT_TRUE(f["options"].value("in_hw", false)) << f.dump();
    EXPECT_TRUE(f["options"].value("skip_sw", false)) << f.dump();
    EXPECT_TRUE(hasOurCookie(f)) << f.dump();
    ++rulesAt[f.value("pref", 0)];
  }
  EXPECT_EQ(rulesAt, (std::map<int, int>{{1, 36}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}})) << "rules per tc priority";
  EXPECT_EQ(nsim().modelRules().size(), 41u);

  // Every chain's rules, told apart by handle, with the counters the model
  // keeps for each.
  nsim().setModelCounters(nsim().pf(), 1, 5, 500);
  json rep = report();
  for (const char* name : {"p0", "p35", "tcp", "net", "six", "rest"}) {
    const json& c = chain(rep, name);
    EXPECT_EQ(c["split"], c["stages"].size()) << name << " runs all in the NIC: " << c.dump();
    for (const auto& rule : c["nic_rules"]) EXPECT_TRUE(rule.value("in_hw", false)) << name << ": " << rule.dump();
  }
  EXPECT_EQ(chain(rep, "p7")["nic_rules"][0].value("packets", 0), 5);
  EXPECT_EQ(chain(rep, "tcp")["nic_rules"][0].value("packets", 0), 0) << "tcp is at priority 2";

  auto again = runVfsteer(args);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().modelRules().empty());
}

TEST_F(NicModelTest, EnforceTakesAnAcceptedChainAndASkipSwRefusalChangesNothing) {
  useModel("mlx5");
  const auto file = policy(
      "  - {name: web, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: gtp, priority: 20, match: {ip_proto: udp, dst_port: 2152}, stages: [{deliver: {vf: 1}}]}\n");
  ASSERT_EQ(apply(file, "mlx5").status, 0);
  const auto held = nsim().modelRules().size();
  ASSERT_EQ(held, 4u);
  // Accepted: enforcing skip-sw on a chain the NIC runs succeeds.
  auto ok = runVfsteer({"enforce", "skip-sw", "--chain", "web", "--instance", nsim().pf()});
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;

  // The model now refuses whatever comes next: a strict chain fails and
  // nothing changes, in the kernel or in the NIC.
  nsim().modelKnob("fail_next", 1);
  const std::string before = snapshot();
  auto strict = apply(policy("  - {name: web, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
                             "  - {name: dns, priority: 30, offload: skip-sw, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 2}}]}\n"),
                      "mlx5");
  EXPECT_EQ(strict.status, 3) << strict.out << strict.err;
  EXPECT_NE(strict.err.find("netdevsim: model: injected failure"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("chain dns is skip-sw and the NIC refused its rule"), std::string::npos) << strict.err;
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(nsim().modelRules().size(), held);
}

// A tunnel device's rule goes without skip_sw (the kernel refuses skip_sw
// there), so the kernel keeps a rule the NIC refused, in software: apply
// reads in_hw, moves the chain to the host and removes the rule (auto), or
// fails with nothing changed (skip-sw).
TEST_F(NicModelTest, TunnelRuleTheNicDoesNotTakeIsNotLeftInSoftware) {
  useModel("mlx5");
  const std::string tenant =
      "match: {tunnel: {type: vxlan, vni: 42, dst_ip: 192.0.2.1}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}\n";
  nsim().modelKnob("fail_next", 1);
  auto r = apply(policy("  - {name: tenant, priority: 20, " + tenant), "mlx5");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("the kernel accepted the rule on vfs-vx4789 but reports it not_in_hw"), std::string::npos)
      << r.out;
  EXPECT_EQ(chain(report(), "tenant")["split"], 0);
  EXPECT_FALSE(std::filesystem::exists("/sys/class/net/vfs-vx4789"))
      << "no software copy of the refused rule is left (nor the tunnel device it needed)";

  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  nsim().modelKnob("fail_next", 1);
  const std::string before = snapshot();
  auto strict = apply(policy("  - {name: tenant, priority: 20, offload: skip-sw, " + tenant), "mlx5");
  EXPECT_EQ(strict.status, 3) << strict.out << strict.err;
  EXPECT_NE(strict.err.find("chain tenant is skip-sw and the NIC refused its rule"), std::string::npos) << strict.err;
  EXPECT_EQ(snapshot(), before);
  EXPECT_FALSE(std::filesystem::exists("/sys/class/net/vfs-vx4789")) << "the tunnel device it made is gone too";
}

// A budget that runs out in the middle of a strict apply: the rules added
// before the refusal are taken back.
TEST_F(NicModelTest, BudgetExhaustedMidApplyIsAllOrNothing) {
  useModel("nfp");
  nsim().modelKnob("budget", 3);
  const std::string before = snapshot();
  auto r = apply(policy("  - {name: a, priority: 10, offload: skip-sw, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
                        "  - {name: b, priority: 20, offload: skip-sw, match: {ip_proto: tcp, dst_port: 81}, stages: [{deliver: {vf: 1}}]}\n"),
                 "nfp");
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("netdevsim: model: no room for another rule"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(), before) << "nothing changed";
  EXPECT_TRUE(nsim().modelRules().empty()) << "the three rules that fitted were taken back";

  // auto: what fits stays in the NIC, the rest moves to the host.
  auto fits = apply(policy("  - {name: a, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
                           "  - {name: b, priority: 20, match: {ip_proto: tcp, dst_port: 81}, stages: [{deliver: {vf: 1}}]}\n"),
                    "nfp");
  ASSERT_EQ(fits.status, 0) << fits.err << fits.out;
  json rep = report();
  EXPECT_EQ(chain(rep, "a")["split"], 1);
  EXPECT_EQ(chain(rep, "b")["split"], 0);
  EXPECT_EQ(nsim().modelRules().size(), 2u);
}


// The golden rule for profiles: over generated chains, every rule `plan`
// puts in the NIC for a profile is one its model takes. A refusal here is a
// claim of the profile that the driver does not back (fix the profile, or
// the model, citing the driver's source). The chains are drawn from what
// NIC rules are made of (the property tests' generator mostly makes host
// work), each with a port of its own so that none demotes another.
// `rich`: also VLAN, tunnel, police and mirror stages (ice runs none of
// them, and a chain it keeps on the host keeps later ones there too).
std::string nicChainsYaml(::vfsteer::testing::Generator& gen, int count, int firstPort, bool rich) {
  std::string y;
  for (int i = 0; i < count; ++i) {
    const bool fromVf = gen.chance(0.3);
    const int vf = gen.pick(2);
    std::string match = fromVf ? "from: {vf: " + std::to_string(vf) + "}, " : "";
    int tags = 0;
    bool tunnel = false;
    if (!fromVf && gen.chance(0.25)) {
      tunnel = true;
      match += std::string("tunnel: {type: ") + (gen.chance(0.5) ? "vxlan" : "geneve") + ", vni: " +
               std::to_string(100 + i) + (gen.chance(0.6) ? ", dst_ip: 192.0.2.1" : "") + "}";
    } else {
      if (gen.chance(0.4)) match += "vlan: " + std::to_string(10 + i) + ", ", tags = 1;
      if (tags && gen.chance(0.3)) match += "cvlan: 5, ", tags = 2;
      if (gen.chance(0.3)) match += std::string("dst_ip: ") + (gen.chance(0.5) ? "10.1.0.0/16, " : "\"2001:db8::/32\", ");
      const char* protos[] = {"tcp", "udp", "sctp"};
      match += std::string("ip_proto: ") + protos[gen.pick(3)] + ", dst_port: " + std::to_string(firstPort + i);
    }
    std::vector<std::string> stages;
    const bool decap = rich && tunnel && gen.chance(0.7);
    if (decap) stages.push_back("tunnel_decap");
    if (rich && tags && gen.chance(0.5)) stages.push_back("vlan_pop"), --tags;
    // A push acts on the inner frame only after decap; two tags at most.
    if (rich && (!tunnel || decap))
      for (int n = gen.pick(3 - tags); n > 0; --n) stages.push_back("{vlan_push: {id: " + std::to_string(200 + n) + "}}");
    if (rich && gen.chance(0.3)) stages.push_back("{police: {rate_mbps: 100, burst_kb: 64}}");
    if (rich && gen.chance(0.3)) stages.push_back("{mirror: {vf: 2}}");
    if (gen.chance(0.15)) stages.push_back("drop");
    else if (fromVf && gen.chance(0.5)) stages.push_back("{deliver: uplink}");
    else stages.push_back("{deliver: {vf: " + std::to_string(fromVf ? 1 - vf : gen.pick(3)) + "}}");
    std::string list;
    for (const auto& st : stages) list += (list.empty() ? "" : ", ") + st;
    y += "  - {name: g" + std::to_string(i) + ", priority: " + std::to_string(i + 1) + ", match: {" + match +
         "}, stages: [" + list + "]}\n";
  }
  return y;
}

class ProfileCrossCheck : public NicModelTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ProfileCrossCheck, EveryNicRuleThePlanMakesIsOneTheModelTakes) {
  const std::string profile = GetParam();
  useModel(profile);
  ::vfsteer::testing::Generator gen(20261202);
  constexpr int kPolicies = 3, kChains = 16;
  int nicRules = 0;
  for (int i = 0; i < kPolicies; ++i) {
    const std::string yaml = nicChainsYaml(gen, kChains, 1000 + 100 * i, profile != "ice");
    const auto file = policy(yaml);
    auto r = apply(file, profile);
    ASSERT_EQ(r.status, 0) << yaml << r.err << r.out;
    EXPECT_EQ(r.out.find("refused"), std::string::npos) << "profile " << profile << ":\n" << yaml << r.out;
    std::vector<std::string> devs = devices();
    for (const char* tunnel : {"vfs-vx4789", "vfs-gn6081"})
      if (std::filesystem::exists(std::string("/sys/class/net/") + tunnel)) devs.push_back(tunnel);
    for (const auto& dev : devs)
      for (const auto& f : flowerFilters(dev)) {
        ++nicRules;
        EXPECT_TRUE(f["options"].value("in_hw", false)) << dev << ": " << f.dump() << "\n" << yaml;
      }
  }
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_TRUE(nsim().modelRules().empty());
  EXPECT_GT(nicRules, 15) << "the corpus must put rules in the NIC to check anything";
}

// The converse: a profile claiming every key and stage puts each chain of
// the corpus whole in the NIC, and the model takes or refuses each rule.
// The model must take exactly the chains whose NIC part the real profile
// plans the same: a rule the model takes that the profile keeps off is a
// claim the profile misses, one it refuses that the profile plans is a claim
// the driver does not back. (Chains moved only to keep priority order are
// not compared.) A profile may be narrower than the driver on purpose, with
// the reason written here.
const std::map<std::string, std::vector<std::string>> kNarrowerOnPurpose = {
    // nfp_flower_loop_action() bounds VLAN pushes only by the action list
    // size (NFP_FL_MAX_A_SIZ); the profile keeps to one tag per rule, as
    // QinQ needs firmware with NFP_FL_FEATS_VLAN_QINQ.
    {"nfp", {"pops or pushes at most 1 VLAN tag per rule"}},
};

TEST_P(ProfileCrossCheck, TheModelTakesExactlyWhatTheProfilePlans) {
  const std::string profile = GetParam();
  useModel(profile);
  auto real = policies::loadProfileFile(std::string(VFSTEER_SOURCE_DIR) + "/profiles/" + profile + ".yaml");
  ASSERT_TRUE(real.ok()) << real.error().describe();
  auto yesNo = [](bool b) { return std::string(b ? "true" : "false"); };
  const std::string anything =
      "name: anything\nhardware:\n  engine: flower\n"
      "  match: [from, src_mac, dst_mac, ethertype, vlan, cvlan, src_ip4, dst_ip4, src_ip6, dst_ip6, ip_proto,\n"
      "          src_port, dst_port, tunnel]\n"
      "  stages: [vlan_pop, vlan_push, tunnel_decap, police, mirror, drop, deliver]\n"
      "  targets: [vf, uplink]\n  tunnels: [vxlan, geneve]\n  vlan_depth: 2\n"
      "  miss_to_software: " + yesNo(real->missToSoftware) + "\n  trap_to_host: " + yesNo(real->trapToHost) +
      "\n  vf_side_rules: " + yesNo(real->vfSideRules) + "\n";
  const std::string dir = std::filesystem::path(writeFile(anything)).parent_path() / ("anything-" + profile);
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/anything.yaml") << anything; }

  ::vfsteer::testing::Generator gen(20261203);
  int taken = 0, refused = 0, narrower = 0;
  auto onPurpose = [&](const std::string& reason) {
    auto it = kNarrowerOnPurpose.find(profile);
    if (it == kNarrowerOnPurpose.end()) return false;
    for (const auto& words : it->second)
      if (reason.find(words) != std::string::npos) return true;
    return false;
  };
  for (int i = 0; i < 3; ++i) {
    const std::string yaml = nicChainsYaml(gen, 16, 3000 + 100 * i, true);
    const auto file = policy(yaml);
    const json planned = planJson(file, {"--profile", profile});
    const json whole = planJson(file, {"--profile", "anything", "--profiles-dir", dir});
    auto r = runVfsteer({"apply", "-f", file, "--profile", "anything", "--profiles-dir", dir});
    ASSERT_EQ(r.status, 0) << yaml << r.err << r.out;
    const json rep = report();
    for (const auto& w : whole["chains"]) {
      const std::string name = w["name"];
      if (!w["demux_in_nic"].get<bool>()) continue;
      const json* p = nullptr;
      for (const auto& c : planned["chains"])
        if (c["name"] == name) p = &c;
      ASSERT_NE(p, nullptr) << name;
      const json& held = chain(rep, name);
      const std::string order = "to keep priority order";
      if ((*p)["reason"].get<std::string>().find(order) != std::string::npos ||
          held["stages"].dump().find(order) != std::string::npos)
        continue;
      auto same = [&](const json& c) { return c["split"] == w["split"] && c["handover"] == w["handover"]; };
      const bool modelTakes = same(held);
      if (modelTakes && !same(*p) && onPurpose((*p)["reason"])) {
        ++narrower;
        continue;
      }
      EXPECT_EQ(modelTakes, same(*p)) << "profile " << profile << ", chain " << name << ": the model "
                                      << (modelTakes ? "takes" : "refuses") << " it whole; the profile plans split "
                                      << (*p)["split"] << " (" << (*p)["reason"] << ")\nthe model: "
                                      << held["stages"].dump() << "\n" << yaml;
      (modelTakes ? taken : refused) += 1;
    }
    ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  }
  EXPECT_GT(taken, 2) << "the corpus must hold chains the model takes";
  EXPECT_GT(refused, 2) << "the corpus must hold chains the model refuses";
  std::printf("profile %s: the model took %d chains whole and refused %d, as the profile plans; "
              "the profile is narrower on purpose for %d\n",
              profile.c_str(), taken, refused, narrower);
}

INSTANTIATE_TEST_SUITE_P(Models, ProfileCrossCheck, ::testing::Values("mlx5", "ice", "nfp"));

}  // namespace
}  // namespace vfsteer::testing
