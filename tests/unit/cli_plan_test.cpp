// `vfsteer plan` as an operator runs it: the real binary, its exit status,
// stdout and stderr.
#include <gtest/gtest.h>
#include <set>
#include <unistd.h>
#include <map>
#include <fstream>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace vfsteer {
namespace {

using testing::runVfsteer;

const std::string kExample = std::string(VFSTEER_SOURCE_DIR) + "/examples/basic.yaml";

TEST(CliPlan, JsonOnMlx5IsCompleteAndStable) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["vfsteer_plan"], 1);
  EXPECT_EQ(doc["profile"], "mlx5");
  EXPECT_EQ(doc["ok"], true);
  ASSERT_EQ(doc["chains"].size(), 3u);
  const auto& tb = doc["chains"][1];
  EXPECT_EQ(tb["name"], "tenant-b");
  EXPECT_EQ(tb["split"], 1);
  EXPECT_EQ(tb["handover"], "continue");
  EXPECT_EQ(tb["stages"][0]["runs_in"], "nic");
  EXPECT_EQ(tb["stages"][1]["runs_in"], "host");
  EXPECT_EQ(tb["stages"][1]["reason"],
            "stage 1 queue: profile mlx5 cannot select a receive queue in hardware");
  EXPECT_EQ(tb["nic_rules"].size(), 1u);
  EXPECT_EQ(tb["host"]["entry"], "continuation");
  EXPECT_EQ(tb["host"]["start_stage"], 1);
}

TEST(CliPlan, RefusedSkipSwPrintsReportAndExitsTwo) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "veth"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("chain tenant-b"), std::string::npos);
  EXPECT_NE(r.err.find("basic.yaml:16:5: chain tenant-b is skip-sw, but no part of it can run in "
                       "the NIC: profile veth has no hardware offload"),
            std::string::npos)
      << r.err;
}

TEST(CliPlan, SkipHwAllFromTheCommandLineOverridesThePolicy) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "veth", "--skip-hw", "all", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  for (const auto& c : doc["chains"]) EXPECT_EQ(c["offload"], "skip-hw");
}

// The reason a chain leaves the NIC gets its own line: on the first host
// stage it read as if that stage were the problem.
TEST(CliPlan, TheSplitReasonHasItsOwnLine) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("  split   1/3 stages in the NIC: NIC, then host in tc chain 124125204\n"
                       "  why     stage 1 queue: profile mlx5 cannot select a receive queue in hardware\n"
                       "  0 tunnel_decap          nic\n"),
            std::string::npos)
      << r.out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LT(line.size(), 100u) << line;
  // The whole split in one line at the end.
  EXPECT_NE(r.out.find("\n3 chains: 1 all in NIC, 2 NIC then host, 0 NIC demux then trap, 0 host only\n"),
            std::string::npos)
      << r.out;
}

TEST(CliPlan, DotOutputSeparatesNicAndHost) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5", "-o", "dot"});
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("digraph vfsteer_plan {", 0), 0u);
  EXPECT_NE(r.out.find("subgraph cluster_c1_nic"), std::string::npos);
  EXPECT_NE(r.out.find("subgraph cluster_c1_host"), std::string::npos);
  // Decimal, as tc prints chain ids (and as the JSON has them).
  EXPECT_NE(r.out.find("goto chain " + std::to_string(0x07660014)), std::string::npos);
}

// Laid out by graphviz, the chains read top down in priority order.
TEST(CliPlan, DotDrawsChainsTopDownInPriorityOrder) {
  auto r = runVfsteer({"plan", "-f", std::string(VFSTEER_SOURCE_DIR) + "/examples/lab.yaml", "--profile", "veth",
                       "-o", "dot"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string file = "/tmp/vfsteer-plan-" + std::to_string(::getpid()) + ".dot";
  std::ofstream(file) << r.out;
  auto laid = testing::runProgram({"/usr/bin/dot", "-Tplain", file});
  std::remove(file.c_str());
  ASSERT_EQ(laid.status, 0) << laid.err;
  // "node c3_m X Y ...": Y grows upwards.
  std::map<int, double> heightOf;
  std::istringstream in(laid.out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string kind, id;
    double x = 0, y = 0;
    words >> kind >> id >> x >> y;
    if (kind == "node" && id.size() > 3 && id.front() == 'c' && id.substr(id.size() - 2) == "_m")
      heightOf[std::stoi(id.substr(1, id.size() - 3))] = y;
  }
  ASSERT_EQ(heightOf.size(), 6u) << laid.out;
  for (int i = 1; i < 6; ++i) EXPECT_GT(heightOf[i - 1], heightOf[i]) << "chain " << i - 1 << " is drawn below chain " << i;
}

TEST(CliPlan, ChainFilterShowsOnlyTheNamedChains) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5", "--chain", "inspect,web", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["chains"].size(), 2u);
  EXPECT_EQ(doc["chains"][0]["name"], "web") << "kept in priority order";
  EXPECT_EQ(doc["chains"][1]["name"], "inspect");
  auto bad = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5", "--chain", "wbe"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("--chain \"wbe\": the policy has no such chain; it has web, tenant-b, inspect"),
            std::string::npos)
      << bad.err;
}

// The JSON says what a program needs without parsing prose: the match as
// fields, each NIC rule's tc protocol (a VLAN-keyed rule's is the tag's),
// and the document's identity first.
TEST(CliPlan, JsonHasMatchFieldsTcProtocolAndIdentityFirst) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\n  \"vfsteer_plan\": 1,", 0), 0u) << r.out.substr(0, 80);
  auto doc = nlohmann::json::parse(r.out);
  const auto& web = doc["chains"][0];
  EXPECT_EQ(web["match_fields"], nlohmann::json::parse(R"({"vlan.id": 100, "vlan.proto": "802.1q", "ip_proto": "tcp",
                                                            "dst_ip": "10.0.0.0/24", "dst_port": 80})"));
  ASSERT_EQ(web["nic_rules"].size(), 1u);
  EXPECT_EQ(web["nic_rules"][0]["tc_protocol"], "802.1Q");
  EXPECT_EQ(web["nic_rules"][0]["protocol"], "ipv4");
  const auto& inspect = doc["chains"][2];
  std::set<std::string> protocols;
  for (const auto& rule : inspect["nic_rules"]) protocols.insert(rule["tc_protocol"]);
  EXPECT_EQ(protocols, (std::set<std::string>{"ip", "ipv6"})) << inspect.dump();
}

// -o tc: one tc command per NIC rule, in tc's own words and numbers, with
// vfsteer's cookie on every action; placeholders for representors vfsteer
// cannot name.
TEST(CliPlan, TcOutputIsOneTcCommandPerNicRule) {
  auto r = runVfsteer({"plan", "-f", kExample, "--profile", "mlx5", "-o", "tc", "--chain", "web,tenant-b"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\n# chain web\ntc filter add dev eth0 ingress protocol 802.1Q chain 0 prio 10020 flower skip_sw "
                       "vlan_id 100 vlan_ethtype ip ip_proto tcp dst_ip 10.0.0.0/24 dst_port 80 action vlan pop pipe "
                       "cookie 7666737467b19724 action mirred egress redirect dev REP_VF0 cookie "
                       "7666737467b19724\n"),
            std::string::npos)
      << r.out;
  // No skip_sw on a tunnel device: the kernel refuses it there (rules
  // reach the NIC through an indirect block); apply checks in_hw instead.
  EXPECT_NE(r.out.find("tc filter add dev vfs-vx4789 ingress protocol all chain 0 prio 10040 flower "
                       "enc_key_id 42 enc_dst_port 4789 action tunnel_key unset pipe cookie 7666737467b19724 "
                       "action goto chain " + std::to_string(0x07660014) + " cookie 7666737467b19724\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("# REP_VFn: the representor of VF n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("chain inspect"), std::string::npos) << "--chain leaves it out";
  auto veth = runVfsteer({"plan", "-f", kExample, "--profile", "veth", "-o", "tc"});
  EXPECT_EQ(veth.out, "# profile veth programs no flower rules (NIC engine none)\n");
}

// Engine u32 (ixgbe): the tables first, then the links into them, then one
// rule per chain, each key as the word u32 compares; VFn where vfsteer
// cannot name the VF's netdev.
TEST(CliPlan, TcOutputOfTheU32EngineIsTablesLinksThenRules) {
  auto r = runVfsteer({"plan", "-f", std::string(VFSTEER_SOURCE_DIR) + "/examples/ixgbe-legacy.yaml", "-o", "tc"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string expected =
      "tc filter add dev eth0 ingress prio 10000 protocol ip handle 1: u32 divisor 1\n"
      "tc filter add dev eth0 ingress prio 10000 protocol ip handle 2: u32 divisor 1\n"
      "tc filter add dev eth0 ingress prio 10000 protocol ip handle 800:0:7fd u32 link 1: offset at 0 mask 0f00 "
      "shift 6 plus 0 eat skip_sw match u32 0x0a000000 0xffffff00 at 16 match u32 0x00060000 0x00ff0000 at 8\n"
      "tc filter add dev eth0 ingress prio 10000 protocol ip handle 800:0:7fc u32 link 2: offset at 0 mask 0f00 "
      "shift 6 plus 0 eat skip_sw match u32 0x0a000100 0xffffff00 at 16 match u32 0x00110000 0x00ff0000 at 8\n"
      "# chain web\n"
      "tc filter add dev eth0 ingress prio 10000 protocol ip handle 1:0:a u32 ht 1: skip_sw match u32 0x00000050 "
      "0x0000ffff at nexthdr+0 action mirred egress redirect dev VF0 cookie 7666737467b19724\n";
  EXPECT_EQ(r.out.substr(0, expected.size()), expected) << r.out;
  EXPECT_NE(r.out.find("# chain dns\ntc filter add dev eth0 ingress prio 10000 protocol ip handle 2:0:1e u32 ht 2: "),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("chain admin"), std::string::npos) << "it runs on the host";
}

struct BadCli {
  std::vector<std::string> args;
  const char* stderrPhrase;
};

TEST(CliPlan, BadInvocationsExitOneWithAClearMessage) {
  const BadCli cases[] = {
      {{"plan"}, "--file is required"},
      {{"plan", "-f", "/nonexistent.yaml"}, "vfsteer: --file: File does not exist: /nonexistent.yaml"},
      {{"plan", "-f", "/tmp"}, "vfsteer: --file: File is actually a directory: /tmp"},
      {{"plan", "-f", kExample, "--profile", "mlx4"}, "did you mean \"mlx5\""},
      {{"plan", "-f", kExample, "--profile", "MLX5"}, "did you mean \"mlx5\""},
      {{"plan", "-f", kExample, "--profile", "mlx5", "-o", "xml"}, "xml not in {table,json,dot,tc}"},
      {{"plan", "-f", kExample, "--profile", "mlx5", "--skip-sw", "nope"}, "no chain named \"nope\""},
      {{"plan", "-f", kExample, "--profile", "mlx5", "--skip-sw", "web", "--skip-hw", "web"},
       "named by both"},
      {{"plan", "-f", kExample, "--profile", "mlx5", "--skip-sw", "all", "--skip-hw", "all"},
       "contradict"},
      {{"plan", "-f", kExample, "--profiles-dir", "/nonexistent"}, "cannot list profile directory"},
      {{"frobnicate"}, "frobnicate"},
  };
  for (const auto& c : cases) {
    auto r = runVfsteer(c.args);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    EXPECT_EQ(r.status, 1) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find(c.stderrPhrase), std::string::npos) << cmd << "\nstderr: " << r.err;
  }
}

// Output that cannot be written is an error, not a quiet exit 0.
TEST(CliPlan, OutputThatCannotBeWrittenFails) {
  for (const char* format : {"table", "json", "dot"}) {
    auto r = testing::runProgram(
        {"/bin/sh", "-c", std::string("exec \"$0\" plan -f \"$1\" --profile mlx5 -o ") + format + " > /dev/full",
         VFSTEER_BINARY, kExample});
    EXPECT_EQ(r.status, 1) << format << ": " << r.err;
    EXPECT_NE(r.err.find("vfsteer: cannot write the output: No space left on device"), std::string::npos)
        << format << ": " << r.err;
  }
}

// A profile the policy names but that does not exist, or `auto` on a PF
// whose driver cannot be found: the error points at device.profile.
TEST(CliPlan, ProfileErrorsPointAtTheirLineAndColumn) {
  struct Case {
    std::string device;
    std::string want;
  };
  const Case cases[] = {
      {"{pf: eth0, profile: mlx55}", ":2:29: device.profile: unknown profile \"mlx55\"; did you mean \"mlx5\"?"},
      // lo has no driver ethtool knows; either way the error is positioned.
      {"{pf: lo, profile: auto}", ":2:27: device.profile: profile auto: cannot find the driver"},
      {"{pf: lo}", ":2:9: device.profile: profile auto: cannot find the driver"},
  };
  for (const auto& c : cases) {
    char path[] = "/tmp/vfsteer-profile-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    ASSERT_GE(fd, 0);
    const std::string text = "version: 1\ndevice: " + c.device + "\n";
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    auto r = runVfsteer({"plan", "-f", path});
    unlink(path);
    EXPECT_EQ(r.status, 1) << c.device << ": " << r.err;
    EXPECT_NE(r.err.find(std::string(path) + c.want), std::string::npos) << c.device << ": " << r.err;
  }
}

TEST(CliPlan, BadPolicyFileShowsEveryPosition) {
  char path[] = "/tmp/vfsteer-bad-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  ASSERT_GE(fd, 0);
  const std::string text =
      "version: 1\ndevice: {pf: eth0}\nchains:\n  - {name: a, priority: 1, stages: [dorp]}\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto r = runVfsteer({"plan", "-f", path, "--profile", "mlx5"});
  auto json = runVfsteer({"plan", "-f", path, "--profile", "mlx5", "-o", "json"});
  unlink(path);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(std::string(path) + ":4:37: chains[0].stages[0]: unknown stage \"dorp\"; "
                                           "did you mean \"drop\"?"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty());

  // With -o json the errors are also the plan document, for programs.
  EXPECT_EQ(json.status, 1);
  auto doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["vfsteer_plan"], 1);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_TRUE(doc["chains"].empty());
  ASSERT_EQ(doc["errors"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["errors"][0]["position"], std::string(path) + ":4:37");
  EXPECT_EQ(doc["errors"][0]["path"], "chains[0].stages[0]") << "the field on its own";
  EXPECT_EQ(doc["errors"][0]["message"].get<std::string>().rfind("unknown stage \"dorp\"; did you mean", 0), 0u)
      << doc.dump();
}

// Every problem is its own entry, with position and field path apart from
// the message, whether the loader or the profile choice found it.
TEST(CliPlan, JsonErrorsAreOnePerProblemWithPositionAndPath) {
  const std::string path = "/tmp/vfsteer-problems-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << "version: 1\ndevice: {pf: eth0, profile: mlx55}\nchains:\n"
                         "  - {name: a, priority: 1, match: {dst_port: 80}, stages: [drop]}\n"
                         "  - {name: b, priority: 0, stages: [drop]}\n";
  auto loader = runVfsteer({"plan", "-f", path, "-o", "json"});
  std::ofstream(path) << "version: 1\ndevice: {pf: eth0, profile: mlx55}\n";
  auto profile = runVfsteer({"plan", "-f", path, "-o", "json"});
  std::remove(path.c_str());
  auto doc = nlohmann::json::parse(loader.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << loader.out;
  ASSERT_EQ(doc["errors"].size(), 2u) << doc.dump();
  EXPECT_EQ(doc["errors"][0]["position"], path + ":4:46") << "at the value";
  EXPECT_EQ(doc["errors"][0]["path"], "chains[0].match.dst_port");
  EXPECT_EQ(doc["errors"][1]["position"], path + ":5:25");
  EXPECT_EQ(doc["errors"][1]["path"], "chains[1].priority");
  doc = nlohmann::json::parse(profile.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << profile.out;
  ASSERT_EQ(doc["errors"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["errors"][0]["position"], path + ":2:29");
  EXPECT_EQ(doc["errors"][0]["path"], "device.profile");
  EXPECT_EQ(doc["errors"][0]["message"].get<std::string>().rfind("unknown profile \"mlx55\"", 0), 0u) << doc.dump();
}

TEST(CliHelp, EveryCommandHasHelp) {
  auto top = runVfsteer({"--help"});
  EXPECT_EQ(top.status, 0);
  EXPECT_NE(top.out.find("plan"), std::string::npos);
  EXPECT_NE(top.out.find("Exit status"), std::string::npos);
  auto plan = runVfsteer({"plan", "--help"});
  EXPECT_EQ(plan.status, 0);
  for (const char* flag : {"--file", "--profile", "--skip-sw", "--skip-hw", "--output"})
    EXPECT_NE(plan.out.find(flag), std::string::npos) << flag;
  // Each command lists its own exit codes, not the top level's (discover
  // never refuses a plan).
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"apply"}, {"plan"}, {"teardown"}, {"report"}, {"discover"}, {"lab", "up"}, {"lab", "down"},
           {"lab", "status"}, {"enforce", "skip-sw"}}) {
    auto args = cmd;
    args.push_back("--help");
    auto help = runVfsteer(args);
    EXPECT_EQ(help.status, 0) << cmd[0];
    EXPECT_NE(help.out.find("Exit status: 0 "), std::string::npos) << cmd[0] << ":\n" << help.out;
    EXPECT_EQ(help.out.find("Exit status: 0 success; 1 bad input or usage"), std::string::npos)
        << cmd[0] << " shows the top level's exit codes:\n" << help.out;
  }
}

}  // namespace
}  // namespace vfsteer
