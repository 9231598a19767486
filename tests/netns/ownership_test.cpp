// Ownership: what vfsteer did not make survives apply, re-apply, a policy
// change and teardown unchanged: a foreign root qdisc and clsact, foreign
// filters at other priorities, in another tc chain and on egress, a foreign
// tc BPF program and a foreign XDP program on devices vfsteer attaches to.
// After teardown the lab is exactly as it was before the first apply.
#include <gtest/gtest.h>

#include <set>

#include "lab_fixture.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;

void hostCmd(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/sbin/ip", "netns", "exec", labNetns("host")};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProgram(argv);
  ASSERT_EQ(r.status, 0) << r.err;
}

bool mentionsVfsteer(const json& j) { return j.dump().find("vfsteer") != std::string::npos; }

class OwnershipTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(vfsteerCli({"teardown", "--instance", labInstance()}).status, 0);
    const std::string obj = VFSTEER_FOREIGN_BPF;
    hostCmd({"tc", "qdisc", "add", "dev", "uplink0", "root", "handle", "1:", "htb"});
    hostCmd({"tc", "qdisc", "add", "dev", "uplink0", "clsact"});
    hostCmd({"tc", "filter", "add", "dev", "uplink0", "ingress", "prio", "100", "protocol", "ip", "u32", "match",
             "ip", "dst", "10.99.0.1/32", "action", "mirred", "egress", "redirect", "dev", "pf0vf3"});
    hostCmd({"tc", "filter", "add", "dev", "uplink0", "ingress", "chain", "7", "prio", "5", "protocol", "ip", "u32",
             "match", "ip", "dst", "10.98.0.1/32", "action", "mirred", "egress", "redirect", "dev", "pf0vf3"});
    hostCmd({"tc", "filter", "add", "dev", "uplink0", "egress", "prio", "3", "protocol", "all", "u32", "match", "u32",
             "0", "0", "action", "mirred", "egress", "mirror", "dev", "pf0vf3"});
    hostCmd({"tc", "filter", "add", "dev", "uplink0", "ingress", "prio", "50000", "protocol", "all", "bpf", "da",
             "obj", obj, "sec", "tc"});
    hostCmd({"tc", "qdisc", "add", "dev", "pf0vf2", "clsact"});
    hostCmd({"tc", "filter", "add", "dev", "pf0vf2", "ingress", "prio", "7", "protocol", "all", "bpf", "da", "obj",
             obj, "sec", "tc"});
    hostCmd({"ip", "link", "set", "dev", "pf0vf2", "xdpgeneric", "obj", obj, "sec", "xdp"});
  }
  void TearDown() override {
    for (const auto& dev : kLabHostDevices) {
      runProgram({"/usr/sbin/ip", "netns", "exec", labNetns("host"), "tc", "qdisc", "del", "dev", dev, "clsact"});
      runProgram({"/usr/sbin/ip", "netns", "exec", labNetns("host"), "tc", "qdisc", "del", "dev", dev, "root"});
      runProgram({"/usr/sbin/ip", "-n", labNetns("host"), "link", "set", "dev", dev, "xdpgeneric", "off"});
    }
    LabTest::TearDown();
  }

  // What is not vfsteer's, program ids included (nobody reloads them): every
  // qdisc but the clsact vfsteer adds where there was none, every filter
  // (all chains, both directions) that is not vfsteer's, XDP programs.
  static std::string foreignView() {
    static const std::set<std::string> foreignClsact = {"uplink0", "pf0vf2"};
    std::string s;
    for (const auto& dev : kLabHostDevices) {
      for (const auto& q : tcJson({"qdisc", "show", "dev", dev}))
        if (q.value("kind", "") != "clsact" || foreignClsact.contains(dev)) s += dev + " qdisc " + q.dump() + "\n";
      for (const char* dir : {"ingress", "egress"}) {
        // tc prints a header per (chain, prio, protocol) without options:
        // vfsteer's headers are those sharing a priority with its filters.
        const json filters = tcJson({"filter", "show", "dev", dev, dir});
        std::set<std::pair<int, int>> ours;
        for (const auto& f : filters)
          if (mentionsVfsteer(f)) ours.insert({f.value("chain", 0), f.value("pref", 0)});
        for (const auto& f : filters)
          if (!ours.contains({f.value("chain", 0), f.value("pref", 0)})) s += dev + " " + dir + " " + f.dump() + "\n";
      }
      auto link = runProgram({"/usr/sbin/ip", "-n", labNetns("host"), "-j", "link", "show", "dev", dev});
      json l = json::parse(link.out, nullptr, false);
      // vfsteer's XDP entry is the datapath's vfs_xdp program, or a port's own vfs_xdp_rx.
      if (!l.is_discarded() && !l.empty() && l[0].contains("xdp")) {
        const std::string name = l[0]["xdp"]["prog"].value("name", "");
        if (name != "vfs_xdp" && name != "vfs_xdp_rx") s += dev + " xdp " + l[0]["xdp"].dump() + "\n";
      }
    }
    return s;
  }
  static bool vfsteerAttachedTo(const std::string& dev) {
    for (const auto& f : tcJson({"filter", "show", "dev", dev, "ingress"}))
      if (mentionsVfsteer(f)) return true;
    return false;
  }
};

TEST_F(OwnershipTest, ForeignQdiscsFiltersAndProgramsSurviveApplyChangeAndTeardown) {
  const std::string foreign = foreignView();
  ASSERT_NE(foreign.find("pf0vf2 xdp"), std::string::npos) << foreign;
  ASSERT_NE(foreign.find("\"chain\":7"), std::string::npos) << foreign;
  const std::string before = labSnapshot();

  const auto a = writeLabPolicy(R"(  - {name: web, priority: 1, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
  - {name: out1, priority: 1, match: {from: {vf: 1}}, stages: [{deliver: uplink}]}
)");
  auto r = vfsteerCli({"apply", "-f", a});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(vfsteerAttachedTo("uplink0"));
  EXPECT_TRUE(vfsteerAttachedTo("pf0vf1"));
  EXPECT_EQ(foreignView(), foreign) << "after the first apply";

  r = vfsteerCli({"apply", "-f", a});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("nothing to change"), std::string::npos) << r.out;
  EXPECT_EQ(foreignView(), foreign) << "after re-apply";

  // The change moves the VF side from pf0vf1 (clsact vfsteer's) to pf0vf2
  // (clsact, filter and XDP program someone else's).
  const auto b = writeLabPolicy(R"(  - {name: web, priority: 1, match: {ip_proto: tcp, dst_port: 8080}, stages: [{mark: 3}, {deliver: {vf: 0}}]}
  - {name: out2, priority: 1, match: {from: {vf: 2}}, stages: [{deliver: uplink}]}
)");
  r = vfsteerCli({"apply", "-f", b});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(vfsteerAttachedTo("pf0vf2"));
  EXPECT_FALSE(vfsteerAttachedTo("pf0vf1"));
  EXPECT_EQ(foreignView(), foreign) << "after the policy change";
  // out2 could run in XDP, but pf0vf2's XDP slot is someone else's: tc.
  auto rep = vfsteerCli({"report", "-o", "json", "--instance", labInstance()});
  ASSERT_EQ(rep.status, 0) << rep.err;
  for (const auto& c : json::parse(rep.out)["chains"])
    if (c["name"] == "out2") {
      EXPECT_EQ(c["host_hook"], "tc");
      EXPECT_NE(c.value("host_hook_reason", "").find("pf0vf2 holds an XDP program vfsteer did not attach"),
                std::string::npos) << c.dump();
    }

  r = vfsteerCli({"teardown", "--instance", labInstance()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(foreignView(), foreign) << "after teardown";
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << "teardown left a trace: " << firstDifference(after, before);
}

TEST_F(OwnershipTest, AForeignFilterAtVfsteersPriorityIsRefusedNotReplaced) {
  hostCmd({"tc", "qdisc", "add", "dev", "pf0vf3", "clsact"});
  hostCmd({"tc", "filter", "add", "dev", "pf0vf3", "ingress", "prio", "40000", "protocol", "all", "u32", "match",
           "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "pf0vf0"});
  const std::string before = labSnapshot();
  auto r = vfsteerCli({"apply", "-f", writeLabPolicy(R"(  - {name: web, priority: 1, match: {ip_proto: tcp}, stages: [{deliver: {vf: 0}}]}
  - {name: out3, priority: 1, match: {from: {vf: 3}}, stages: [{deliver: uplink}]}
)")});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("tc ingress priority 40000 on pf0vf3 holds a filter vfsteer does not own"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("nothing was changed"), std::string::npos) << r.err;
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << firstDifference(after, before);
}

}  // namespace
}  // namespace vfsteer::testing
