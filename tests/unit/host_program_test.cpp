// The plan → host tables translation. A model of the datapath's key
// extraction and tuple-space lookup (mirroring datapath.bpf.c) classifies
// generated packets through the generated tables; it must pick the chain the
// reference interpreter picks. This checks byte orders, prefix masks, VLAN
// TCI encoding, tunnel keys and priority shadowing across many policies.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "generators.hpp"
#include "host_model.hpp"
#include "engine/host_program.hpp"
#include "engine/lower.hpp"
#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::engine {
namespace {

using namespace policies;
using demux::Frame;
using demux::Packet;

const IfIndex kUplink = testing::kModelUplink;
IfIndex repIfindex(uint16_t vf) { return testing::modelRepIfindex(vf); }
HostBindings bindings(int vfs) { return testing::modelBindings(vfs); }

// The host program of `policy` on a profile that offloads nothing.
HostProgram hostProgramOf(const Policy& policy, const HostBindings& b) {
  Profile none;
  none.name = "none";
  auto plan = demux::plan(policy, none);
  EXPECT_TRUE(plan.ok());
  if (!plan.ok()) return {};
  auto program = buildHostProgram(policy, *plan, b, nullptr);
  EXPECT_TRUE(program.ok()) << (program.ok() ? "" : program.error().message());
  return program.ok() ? *program : HostProgram{};
}

TEST(HostProgram, TupleSpaceLookupPicksTheChainTheInterpreterPicks) {
  testing::Generator gen(7);
  demux::PlanOptions allHost;
  allHost.all = OffloadMode::kSkipHw;
  Profile none;
  none.name = "none";
  int cases = 0, matched = 0;
  for (int i = 0; i < 1500; ++i) {
    auto policy = loadPolicyText(gen.policyYaml(6, 3), "gen.yaml");
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    // bpf stages name a file that does not exist here; they are not what
    // this test is about.
    bool hasBpf = false;
    for (const auto& c : policy->chains)
      for (const auto& s : c.stages) hasBpf |= s.kind() == StageKind::kBpf;
    if (hasBpf) continue;
    auto plan = demux::plan(*policy, none, allHost);
    ASSERT_TRUE(plan.ok() && plan->ok());
    auto program = buildHostProgram(*policy, *plan, bindings(3), nullptr);
    if (!program.ok()) {
      // Only capacity limits may refuse a valid policy.
      ASSERT_EQ(program.error().code(), ErrorCode::kNotSupported) << program.error().describe();
      continue;
    }
    // Slot → chain index (a chain's slot is its id).
    std::map<uint32_t, size_t> chainOfSlot;
    for (const auto& [name, id] : program->chainIds)
      for (size_t c = 0; c < policy->chains.size(); ++c)
        if (policy->chains[c].name == name) chainOfSlot[id] = c;
    for (int k = 0; k < 10; ++k) {
      Packet p = gen.packet(*policy);
      auto want = demux::runWhole(*policy, p, {}).chain;
      auto slot = testing::lookup(program->tables, testing::keysOf(p, program->tables));
      std::optional<size_t> got;
      if (slot) got = chainOfSlot.at(*slot);
      ++cases;
      matched += want.has_value();
      ASSERT_EQ(got, want) << "packet classified differently; policy chains: " << policy->chains.size();
    }
  }
  std::printf("host tables: %d packets classified, %d matched a chain\n", cases, matched);
  EXPECT_GT(cases, 8000);
  EXPECT_GT(matched, cases / 3);
}

TEST(HostProgram, StagesCarryWhatTheDatapathNeeds) {
  auto policy = loadPolicyText(R"(version: 1
device: {pf: uplink0, vfs: {count: 2}}
chains:
  - {name: a, priority: 5, match: {vlan: 100, ip_proto: udp}, stages: [vlan_pop, {vlan_push: {id: 55, prio: 3, proto: 802.1ad}}, {police: {rate_mbps: 8, burst_kb: 16}}, {mirror: {vf: 1}}, {deliver: {vf: 0}}]}
  - {name: b, priority: 6, match: {from: {vf: 1}}, stages: [{mark: 9}, {queue: 2}, {deliver: {queue: 4}}]}
  - {name: c, priority: 7, match: {tunnel: {type: geneve, vni: 5}}, stages: [tunnel_decap, {deliver: host}]}
)",
                               "t.yaml");
  ASSERT_TRUE(policy.ok());
  Profile none;
  none.name = "none";
  auto plan = demux::plan(*policy, none);
  auto program = buildHostProgram(*policy, *plan, bindings(2), nullptr);
  ASSERT_TRUE(program.ok()) << program.error().describe();
  const auto& t = program->tables;
  // A chain's slot is its id; ids start at 1, slot 0 stays empty.
  ASSERT_EQ(t.chains.size(), 4u);
  EXPECT_EQ(t.chains[0].nstages, 0u);
  for (const auto& [name, id] : program->chainIds) EXPECT_EQ(t.chains.at(id).id, id) << name;
  auto chain = [&](const char* name) -> const vfs_chain& {
    for (const auto& c : t.chains)
      if (c.id == program->chainIds.at(name)) return c;
    throw std::runtime_error(std::string("no chain ") + name);
  };
  const vfs_chain& a = chain("a");
  EXPECT_EQ(a.nstages, 5u);
  EXPECT_EQ(a.stages[0].kind, VFS_ST_VLAN_POP);
  EXPECT_EQ(a.stages[1].kind, VFS_ST_VLAN_PUSH);
  EXPECT_EQ(a.stages[1].u16, (3 << 13) | 55) << "host-order TCI for bpf_skb_vlan_push";
  EXPECT_EQ(a.stages[1].u32, htons(0x88a8));
  EXPECT_EQ(a.stages[2].u64, 1000000u) << "bytes per second";
  EXPECT_EQ(a.stages[2].u32, 16u * 1024);
  EXPECT_EQ(a.stages[3].u32, static_cast<uint32_t>(repIfindex(1).value));
  EXPECT_EQ(a.stages[4].kind, VFS_ST_REDIRECT);
  EXPECT_EQ(a.stages[4].u32, static_cast<uint32_t>(repIfindex(0).value));
  const vfs_chain& b = chain("b");
  EXPECT_EQ(b.stages[0].kind, VFS_ST_MARK);
  EXPECT_EQ(b.stages[0].u32, 9u);
  EXPECT_EQ(b.stages[1].kind, VFS_ST_QUEUE);
  EXPECT_EQ(b.stages[2].kind, VFS_ST_HOST_QUEUE);
  EXPECT_EQ(b.stages[2].u16, 4);
  EXPECT_EQ(chain("c").stages[0].kind, VFS_ST_TUNNEL_DECAP);
  EXPECT_EQ(chain("c").stages[1].kind, VFS_ST_HOST);
  // Ports: the uplink and vf1's representor (b comes from vf1).
  EXPECT_EQ(program->attach.size(), 2u);
  EXPECT_EQ(program->attach.at(repIfindex(1)), "pf0vf1");
  // Chain a matches udp on IPv4 and IPv6: two rules, compact shapes.
  ASSERT_EQ(t.tunnelPorts.size(), 1u);
  EXPECT_EQ(t.tunnelPorts[0].port, htons(6081));
  for (const auto& tuple : t.tuples) EXPECT_TRUE(tuple.compact);
  EXPECT_EQ(t.rules.size(), 4u);
}

TEST(HostProgram, CountersAndSlotsStayStableAcrossApplies) {
  auto first = loadPolicyText(R"(version: 1
device: {pf: uplink0}
chains:
  - {name: x, priority: 1, match: {ip_proto: tcp}, stages: [drop]}
  - {name: y, priority: 2, match: {ip_proto: udp}, stages: [drop]}
)",
                              "t.yaml");
  auto second = loadPolicyText(R"(version: 1
device: {pf: uplink0}
chains:
  - {name: y, priority: 2, match: {ip_proto: udp}, stages: [drop]}
  - {name: z, priority: 3, match: {ip_proto: icmp}, stages: [drop]}
)",
                               "t.yaml");
  Profile none;
  none.name = "none";
  auto p1 = buildHostProgram(*first, *demux::plan(*first, none), bindings(0), nullptr);
  ASSERT_TRUE(p1.ok());
  InstanceState prev;
  prev.chainIds = p1->chainIds;
  auto p2 = buildHostProgram(*second, *demux::plan(*second, none), bindings(0), &prev);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->chainIds.at("y"), p1->chainIds.at("y")) << "y keeps its counters";
  EXPECT_EQ(p2->chainIds.at("z"), p1->chainIds.at("x")) << "z takes the id x freed";
}

TEST(HostProgram, RefusesWhatTheDatapathCannotHold) {
  std::string chains;
  // 17 distinct prefix lengths: 17 match shapes.
  for (int len = 8; len <= 24; ++len)
    chains += "  - {name: c" + std::to_string(len) + ", priority: " + std::to_string(len) +
              ", match: {dst_ip: 10.0.0.0/" + std::to_string(len) + "}, stages: [drop]}\n";
  auto policy = loadPolicyText("version: 1\ndevice: {pf: uplink0}\nchains:\n" + chains, "t.yaml");
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  Profile none;
  none.name = "none";
  auto program = buildHostProgram(*policy, *demux::plan(*policy, none), bindings(0), nullptr);
  ASSERT_FALSE(program.ok());
  EXPECT_NE(program.error().message().find("more than 16 distinct match shapes"), std::string::npos);

  auto noRep = loadPolicyText(
      "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n  - {name: a, priority: 1, "
      "stages: [{deliver: {vf: 3}}]}\n",
      "t.yaml");
  auto p = buildHostProgram(*noRep, *demux::plan(*noRep, none), bindings(2), nullptr);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("no representor for VF 3"), std::string::npos);
}


// Which chains run in the XDP entry, and the reason for each that does not.
TEST(HostProgram, XdpTakesTheChainsWhoseEveryHostStageItCanRun) {
  auto policy = loadPolicyText(R"(version: 1
device: {pf: uplink0, vfs: {count: 3}}
chains:
  - {name: pop, priority: 1, match: {vlan: 100}, stages: [vlan_pop, {vlan_push: {id: 7}}, {police: {rate_mbps: 1, burst_kb: 4}}, {deliver: {vf: 0}}]}
  - {name: decap, priority: 2, match: {tunnel: {type: vxlan, vni: 5}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}
  - {name: dropper, priority: 3, match: {ip_proto: icmp}, stages: [drop]}
  - {name: marked, priority: 4, match: {ip_proto: tcp}, stages: [{mark: 1}, {deliver: {vf: 0}}]}
  - {name: queued, priority: 5, match: {ip_proto: udp, dst_port: 9}, stages: [{queue: 1}, {deliver: {vf: 0}}]}
  - {name: mirrored, priority: 6, match: {ip_proto: udp, dst_port: 10}, stages: [{mirror: {vf: 1}}, {deliver: {vf: 0}}]}
  - {name: to-host, priority: 7, match: {ip_proto: udp, dst_port: 11}, stages: [{deliver: host}]}
  - {name: to-vf2, priority: 8, match: {ip_proto: udp, dst_port: 12}, stages: [{deliver: {vf: 2}}]}
  - {name: from-vf1, priority: 1, match: {from: {vf: 1}}, stages: [{deliver: uplink}]}
)",
                               "t.yaml");
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  auto hooks = [&](const HostBindings& b) { return hostProgramOf(*policy, b); };
  auto flagged = [](const HostProgram& p, const std::string& chain) {
    return (p.tables.chains.at(p.chainIds.at(chain)).flags & VFS_CHAIN_XDP) != 0;
  };

  HostBindings off = bindings(3);
  off.xdpOff = "XDP is off here";
  HostProgram tcOnly = hooks(off);
  for (const auto& [name, hook] : tcOnly.hooks) {
    EXPECT_EQ(hook.hook, "tc") << name;
    EXPECT_EQ(hook.reason, "XDP is off here") << name;
    EXPECT_FALSE(flagged(tcOnly, name)) << name;
  }
  EXPECT_TRUE(tcOnly.xdpAttach.empty());

  HostBindings native = bindings(3);
  native.xdpMode = HostXdp::kNative;
  native.noXdpTarget[repIfindex(2)] = "pf0vf2 does not take redirected XDP frames";
  HostProgram p = hooks(native);
  for (const char* name : {"pop", "decap", "dropper", "from-vf1"}) {
    EXPECT_EQ(p.hooks.at(name).hook, "xdp") << name << ": " << p.hooks.at(name).reason;
    EXPECT_TRUE(flagged(p, name)) << name;
  }
  auto reason = [&](const char* name) {
    EXPECT_EQ(p.hooks.at(name).hook, "tc") << name;
    EXPECT_FALSE(flagged(p, name)) << name;
    return p.hooks.at(name).reason;
  };
  EXPECT_EQ(reason("marked"), "stage 0 (mark 1) sets the skb mark; XDP runs before there is an skb");
  EXPECT_EQ(reason("queued"), "stage 0 (queue 1) sets the skb queue; XDP runs before there is an skb");
  EXPECT_EQ(reason("mirrored"), "stage 0 (mirror vf1) clones the packet, which XDP cannot");
  EXPECT_EQ(reason("to-host"), "stage 0 (deliver host) ends in the host stack, where the tc entry would run the chain again");
  EXPECT_EQ(reason("to-vf2"), "stage 0 (deliver vf2): pf0vf2 does not take redirected XDP frames");
  // The entry goes where XDP chains enter: the uplink and vf1's representor.
  EXPECT_EQ(p.xdpAttach, (std::map<IfIndex, std::string>{{kUplink, "uplink0"}, {repIfindex(1), "pf0vf1"}}));

  // Generic XDP redirects through the stack: any target will do.
  HostBindings generic = native;
  generic.xdpMode = HostXdp::kGeneric;
  EXPECT_EQ(hooks(generic).hooks.at("to-vf2").hook, "xdp");

  // A port XDP cannot enter on keeps its chains in tc, and gets no entry.
  HostBindings foreign = native;
  foreign.noXdpEntry[kUplink] = "uplink0 holds an XDP program vfsteer did not attach (id 9)";
  HostProgram f = hooks(foreign);
  EXPECT_EQ(f.hooks.at("pop").reason, "uplink0 holds an XDP program vfsteer did not attach (id 9)");
  EXPECT_EQ(f.hooks.at("from-vf1").hook, "xdp");
  EXPECT_EQ(f.xdpAttach, (std::map<IfIndex, std::string>{{repIfindex(1), "pf0vf1"}}));
}

TEST(HostXdp, PortsRuleXdpOutOnTheKernelsWordOnly) {
  HostBindings b = bindings(3);
  b.xdpMode = HostXdp::kNative;
  const uint64_t entry = 1 | 2, target = 4;
  std::map<std::string, XdpPortFacts> ports{
      {"uplink0", {0, 0, 0, entry | target, std::nullopt, 0}},
      {"pf0vf0", {0, 41, 0, entry | target, std::nullopt, 41}},  // a program of ours (generic)
      {"pf0vf1", {77, 0, 0, entry, std::nullopt, 0}},            // someone else's, and no ndo-xmit
      {"pf0vf2", {0, 0, 0, std::nullopt, std::nullopt, 0}},      // a kernel without xdp-features
  };
  const std::map<std::string, IfIndex> ifindex{
      {"uplink0", kUplink}, {"pf0vf0", repIfindex(0)}, {"pf0vf1", repIfindex(1)}, {"pf0vf2", repIfindex(2)}};
  bindXdpPorts(b, ports, ifindex);
  EXPECT_FALSE(b.noXdpEntry.contains(kUplink));
  EXPECT_FALSE(b.noXdpTarget.contains(kUplink));
  EXPECT_FALSE(b.noXdpEntry.contains(repIfindex(0)));
  EXPECT_EQ(b.noXdpEntry.at(repIfindex(1)), "pf0vf1 holds an XDP program vfsteer did not attach (id 77); vfsteer leaves it alone");
  EXPECT_NE(b.noXdpTarget.at(repIfindex(1)).find("does not take redirected XDP frames"), std::string::npos);
  EXPECT_NE(b.noXdpEntry.at(repIfindex(2)).find("does not report pf0vf2's xdp-features"), std::string::npos);
  EXPECT_TRUE(b.noXdpTarget.contains(repIfindex(2)));

  // Generic mode needs no driver support at either end; a foreign program still rules a port out.
  HostBindings g = bindings(3);
  g.xdpMode = HostXdp::kGeneric;
  bindXdpPorts(g, ports, ifindex);
  EXPECT_EQ(g.noXdpEntry.size(), 1u);
  EXPECT_TRUE(g.noXdpEntry.contains(repIfindex(1)));
  EXPECT_TRUE(g.noXdpTarget.empty());
}

// A chain whose bpf stage reads vfsteer's metadata brings the XDP entry to
// its port even though the chain runs in tc, and the plan says what the
// stage will get there, or why nothing. A stage that does not read it
// brings nothing.
TEST(HostXdp, AStageThatReadsMetadataBringsTheEntryAndIsToldWhatItGets) {
  auto policy = loadPolicyText(std::string(R"(version: 1
device: {pf: uplink0, vfs: {count: 2}}
chains:
  - {name: reader, priority: 1, match: {ip_proto: udp}, stages: [{bpf: {object: )") + VFSTEER_META_STAGE_BPF +
                                                   R"(, program: meta_stage}}, {deliver: {vf: 0}}]}
  - {name: counter, priority: 1, match: {from: {vf: 1}}, stages: [{bpf: {object: )" +
                                                   VFSTEER_SOURCE_DIR "/examples/bpf/count.bpf.o" +
                                                   R"(, program: count}}, {deliver: uplink}]}
)",
                                               "t.yaml");
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  auto build = [&](const HostBindings& b) { return hostProgramOf(*policy, b); };

  HostBindings native = bindings(2);
  native.xdpMode = HostXdp::kNative;
  native.rxFields[kUplink] = "rx_hash, vlan_tag";
  HostProgram p = build(native);
  EXPECT_EQ(p.hooks.at("reader").hook, "tc");
  EXPECT_EQ(p.hooks.at("reader").rxMetadata, "supplied by uplink0's XDP entry: rx_hash, vlan_tag");
  EXPECT_EQ(p.hooks.at("counter").rxMetadata, "") << "count.bpf.o does not read the metadata";
  EXPECT_EQ(p.xdpAttach, (std::map<IfIndex, std::string>{{kUplink, "uplink0"}}));

  HostBindings none2 = native;
  none2.rxFields.clear();
  none2.noRxMetadata[kUplink] = "uplink0's driver implements none of the XDP RX metadata kfuncs";
  EXPECT_EQ(build(none2).hooks.at("reader").rxMetadata,
            "not supplied: uplink0's driver implements none of the XDP RX metadata kfuncs");
  EXPECT_EQ(build(none2).xdpAttach.size(), 1u) << "the entry still hands tc its verdict";

  HostBindings foreign = native;
  foreign.noXdpEntry[kUplink] = "uplink0 holds an XDP program vfsteer did not attach (id 9)";
  HostProgram f = build(foreign);
  EXPECT_EQ(f.hooks.at("reader").rxMetadata, "not supplied: uplink0 holds an XDP program vfsteer did not attach (id 9)");
  EXPECT_TRUE(f.xdpAttach.empty());

  HostBindings off = bindings(2);
  off.xdpOff = "the policy sets device.host_xdp: off";
  EXPECT_EQ(build(off).hooks.at("reader").rxMetadata, "not supplied: the policy sets device.host_xdp: off");
  EXPECT_TRUE(build(off).xdpAttach.empty());
}

}  // namespace
}  // namespace vfsteer::engine
