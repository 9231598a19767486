// Bad input at the command line, in policies, in profiles and about
// devices: each case exits non-zero with a message that says what is wrong
// (and where), and the kernel state of a running lab — with a policy
// applied — is exactly what it was (full dumps before and after).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "lab_fixture.hpp"

// The case table leaves trailing fields at their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace vfsteer::testing {
namespace {

namespace fs = std::filesystem;

// "@policy" in args becomes a file holding `policy` ("@chains" a lab policy
// with these chains); "@profiles" a directory holding `profile` as
// custom.yaml next to the bundled profiles.
struct BadCase {
  std::string name;
  std::vector<std::string> args;
  std::string says;  // a part of the message on stderr
  int exit = 1;
  std::optional<std::string> policy;
  std::string profile;
  bool asNobody = false;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

const std::string kHead = "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n";
std::string chains(const std::string& c) { return kHead + c; }

const std::string kRefused = VFSTEER_REFUSED_BPF;
const std::string kForeign = VFSTEER_FOREIGN_BPF;

std::vector<BadCase> cases() {
  static const std::string webChain =
      chains("  - {name: web, priority: 1, match: {ip_proto: tcp}, stages: [{deliver: {vf: 0}}]}\n");
  static const std::string missingObject = chains(
      "  - {name: b, priority: 1, match: {ip_proto: udp}, stages: [{bpf: {object: /nonexistent/x.bpf.o, program: x}}, "
      "{deliver: {vf: 0}}]}\n");
  static const std::string refusedObject = chains(
      ("  - {name: b, priority: 1, match: {ip_proto: udp}, stages: [{bpf: {object: " + kRefused +
       ", program: unchecked}}, {deliver: {vf: 0}}]}\n"));
  static const std::string wrongProgram = chains(
      ("  - {name: b, priority: 1, match: {ip_proto: udp}, stages: [{bpf: {object: " + kForeign +
       ", program: nosuch}}, {deliver: {vf: 0}}]}\n"));
  static const std::string otherMetaLayout = chains(
      ("  - {name: b, priority: 1, match: {ip_proto: udp}, stages: [{bpf: {object: " +
       std::string(VFSTEER_META_OTHER_LAYOUT_BPF) + ", program: other_layout}}, {deliver: {vf: 0}}]}\n"));
  static const std::string notAnObject = chains(
      "  - {name: b, priority: 1, match: {ip_proto: udp}, stages: [{bpf: {object: /etc/hostname, program: x}}, "
      "{deliver: {vf: 0}}]}\n");
  return {
      // ---- the command line ------------------------------------------------
      {"NoCommand", {}, "A subcommand is required"},
      {"UnknownCommand", {"frobnicate"}, "unknown command \"frobnicate\""},
      {"ApplyWithoutFile", {"apply"}, "--file is required"},
      {"ApplyMissingFile", {"apply", "-f", "/nonexistent/policy.yaml"}, "File does not exist: /nonexistent/policy.yaml"},
      {"ApplyUnknownOption", {"apply", "-f", "@policy", "--frobnicate"}, "--frobnicate", 1, webChain},
      {"SkipSwAndSkipHwSameChain", {"apply", "-f", "@policy", "--skip-sw", "web", "--skip-hw", "web"},
       "chain \"web\" is named by both --skip-sw and --skip-hw", 1, webChain},
      {"SkipSwAllAndSkipHwAll", {"apply", "-f", "@policy", "--skip-sw", "all", "--skip-hw", "all"},
       "--skip-sw all and --skip-hw all contradict", 1, webChain},
      {"SkipSwEmpty", {"apply", "-f", "@policy", "--skip-sw", ""}, "--skip-sw needs a chain name", 1, webChain},
      {"SkipSwUnknownChain", {"apply", "-f", "@policy", "--skip-sw", "nosuch"}, "nosuch", 1, webChain},
      {"SkipSwOnTheVethProfile", {"apply", "-f", "@policy", "--skip-sw", "web"}, "profile veth", 2, webChain},
      {"UnknownProfileOption", {"apply", "-f", "@policy", "--profile", "nosuch"}, "nosuch", 1, webChain},
      {"ProfilesDirMissing", {"apply", "-f", "@policy", "--profiles-dir", "/nonexistent/profiles"},
       "/nonexistent/profiles", 1, webChain},
      {"WaitNegative", {"apply", "-f", "@policy", "--wait", "-1"}, "--wait", 1, webChain},
      {"WaitNotANumber", {"apply", "-f", "@policy", "--wait", "soon"}, "--wait", 1, webChain},
      {"TopologyMissing", {"apply", "-f", "@policy", "--topology", "/nonexistent/t.json"}, "File does not exist", 1,
       webChain},
      {"PlanBadOutput", {"plan", "-f", "@policy", "--output", "xml"}, "--output", 1, webChain},
      {"ReportBadOutput", {"report", "--output", "yaml"}, "--output"},
      {"ReportUnknownInstance", {"report", "--instance", "nosuch0"}, "nosuch0"},
      {"TeardownUnknownPolicyFile", {"teardown", "-f", "/nonexistent/p.yaml"}, "File does not exist"},
      {"EnforceWithoutSubcommand", {"enforce"}, "A subcommand is required"},
      {"EnforceUnknownChain", {"enforce", "skip-sw", "--chain", "nosuch"}, "--chain nosuch"},
      {"EnforceOnTheVethProfile", {"enforce", "skip-sw", "--chain", "base"}, "profile veth", 2},
      {"DiscoverMissingPf", {"discover", "--pf", "nosuch0"}, "nosuch0"},
      {"LabUpTooManyVfs", {"lab", "up", "--vfs", "100000"}, "--vfs"},

      // ---- policies ----------------------------------------------------------
      {"EmptyPolicy", {"apply", "-f", "@policy"}, "the file is empty", 1, ""},
      {"YamlSyntaxError", {"apply", "-f", "@policy"}, "YamlSyntaxError.yaml:3:1: YAML syntax error", 1, "version: 1\ndevice: [\n"},
      {"PolicyVersion2", {"apply", "-f", "@policy"}, "reads policy version 1, found version 2", 1,
       "version: 2\ndevice: {pf: uplink0}\n"},
      {"MissingDevice", {"apply", "-f", "@policy"}, "missing required key \"device\"", 1, "version: 1\n"},
      {"MissingPf", {"apply", "-f", "@policy"}, "nosuch0", 1, "version: 1\ndevice: {pf: nosuch0}\n"},
      {"PfIsNotAnUplink", {"apply", "-f", "@policy"}, "pf0vf1", 1, "version: 1\ndevice: {pf: pf0vf1}\n"},
      {"UnknownTopLevelKey", {"apply", "-f", "@policy"}, "did you mean \"chains\"", 1,
       "version: 1\ndevice: {pf: uplink0}\nchians: []\n"},
      {"UnknownProfileInPolicy", {"apply", "-f", "@policy"}, "nosuch", 1,
       "version: 1\ndevice: {pf: uplink0, profile: nosuch}\n"},
      {"BadEswitchMode", {"apply", "-f", "@policy"}, "eswitch", 1, "version: 1\ndevice: {pf: uplink0, eswitch: bridged}\n"},
      {"MoreVfsThanTheLabHas", {"apply", "-f", "@policy"}, "count", 1,
       "version: 1\ndevice: {pf: uplink0, vfs: {count: 8}}\n"},
      {"VfSettingPastTheCount", {"apply", "-f", "@policy"}, "vf 7", 1,
       "version: 1\ndevice: {pf: uplink0, vfs: {count: 4, settings: [{vf: 7, trust: true}]}}\n"},
      {"DeliverToVfPastTheCount", {"apply", "-f", "@policy"}, "vf 9", 1,
       "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n"
       "  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [{deliver: {vf: 9}}]}\n"},
      {"FromVfPastTheCount", {"apply", "-f", "@policy"}, "vf 6", 1,
       chains("  - {name: a, priority: 1, match: {from: {vf: 6}}, stages: [{deliver: uplink}]}\n")},
      {"DuplicateChainNames", {"apply", "-f", "@policy"}, "duplicate", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [drop]}\n"
              "  - {name: a, priority: 2, match: {ip_proto: udp}, stages: [drop]}\n")},
      {"ConflictingPriorities", {"apply", "-f", "@policy"}, "priority", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [drop]}\n"
              "  - {name: b, priority: 1, match: {ip_proto: udp}, stages: [drop]}\n")},
      {"UnknownStage", {"apply", "-f", "@policy"}, "unknown stage \"dorp\"", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [dorp]}\n")},
      {"UnknownMatchKey", {"apply", "-f", "@policy"}, "did you mean \"dst_port\"", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp, dts_port: 80}, stages: [drop]}\n")},
      {"VlanOutOfRange", {"apply", "-f", "@policy"}, "4094", 1,
       chains("  - {name: a, priority: 1, match: {vlan: 5000}, stages: [drop]}\n")},
      {"BadIpPrefix", {"apply", "-f", "@policy"}, "10.0.0.300", 1,
       chains("  - {name: a, priority: 1, match: {dst_ip: 10.0.0.300/24}, stages: [drop]}\n")},
      {"HostBitsSet", {"apply", "-f", "@policy"}, "host bits", 1,
       chains("  - {name: a, priority: 1, match: {dst_ip: 10.0.0.1/24}, stages: [drop]}\n")},
      {"MixedIpVersions", {"apply", "-f", "@policy"}, "version", 1,
       chains("  - {name: a, priority: 1, match: {src_ip: 10.0.0.1, dst_ip: \"2001:db8::1\"}, stages: [drop]}\n")},
      {"PortWithoutProtocol", {"apply", "-f", "@policy"}, "ip_proto", 1,
       chains("  - {name: a, priority: 1, match: {dst_port: 80}, stages: [drop]}\n")},
      {"UnknownIpProto", {"apply", "-f", "@policy"}, "tpc", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tpc}, stages: [drop]}\n")},
      {"BadMac", {"apply", "-f", "@policy"}, "02:00:00:00:00", 1,
       chains("  - {name: a, priority: 1, match: {dst_mac: \"02:00:00:00:00\"}, stages: [drop]}\n")},
      {"UnknownTunnelType", {"apply", "-f", "@policy"}, "gre", 1,
       chains("  - {name: a, priority: 1, match: {tunnel: {type: gre, vni: 1}}, stages: [tunnel_decap, drop]}\n")},
      {"VniTooLarge", {"apply", "-f", "@policy"}, "16777215", 1,
       chains("  - {name: a, priority: 1, match: {tunnel: {type: vxlan, vni: 16777216}}, stages: [tunnel_decap, drop]}\n")},
      {"PoliceWithoutRate", {"apply", "-f", "@policy"}, "rate_kbps", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [{police: {burst_kb: 4}}, drop]}\n")},
      {"NoStages", {"apply", "-f", "@policy"}, "stages", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: []}\n")},
      {"StageAfterDeliver", {"apply", "-f", "@policy"}, "deliver", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [{deliver: {vf: 0}}, {mark: 1}]}\n")},
      {"VlanPopWithoutTag", {"apply", "-f", "@policy"}, "vlan_pop", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [vlan_pop, drop]}\n")},
      {"BadOffloadMode", {"apply", "-f", "@policy"}, "offload", 1,
       chains("  - {name: a, priority: 1, offload: hardware, match: {ip_proto: tcp}, stages: [drop]}\n")},
      {"NegativePriority", {"apply", "-f", "@policy"}, "priority", 1,
       chains("  - {name: a, priority: -3, match: {ip_proto: tcp}, stages: [drop]}\n")},
      {"MarkNotANumber", {"apply", "-f", "@policy"}, "mark", 1,
       chains("  - {name: a, priority: 1, match: {ip_proto: tcp}, stages: [{mark: lots}, drop]}\n")},
      {"BpfObjectMissing", {"apply", "-f", "@policy"}, "/nonexistent/x.bpf.o", 1, missingObject},
      {"BpfObjectNotElf", {"apply", "-f", "@policy"}, "/etc/hostname", 1, notAnObject},
      {"BpfProgramNotInObject", {"apply", "-f", "@policy"}, "nosuch", 1, wrongProgram},
      {"BpfRefusedByTheVerifier", {"apply", "-f", "@policy"}, "unchecked", 3, refusedObject},
      {"BpfStageBuiltForAnotherMetaLayout", {"apply", "-f", "@policy"},
       "was built against another layout of struct vfsteer_meta than this vfsteer writes (version 1); rebuild it", 1,
       otherMetaLayout},

      // ---- profiles ----------------------------------------------------------
      {"ProfileSyntaxError", {"apply", "-f", "@policy", "--profiles-dir", "@profiles"}, "custom.yaml:2:1: YAML syntax error", 1,
       webChain, "name: [\n"},
      {"ProfileUnknownKey", {"apply", "-f", "@policy", "--profiles-dir", "@profiles"}, "custom.yaml", 1,
       webChain, "name: custom\ndrivers: [veth]\nflwer: {}\n"},
      {"ProfileBadHostXdp", {"apply", "-f", "@policy", "--profiles-dir", "@profiles"},
       "custom.yaml:4:13: host.xdp: \"fast\" is not one of none, generic, native", 1, webChain, "name: custom\ndrivers: [veth]\nhardware: {engine: none}\nhost: {xdp: fast}\n"},

      // ---- privileges ----------------------------------------------------------
      {"ApplyNotRoot", {"apply", "-f", "@policy"}, "root", 1, webChain, "", true},
      {"TeardownNotRoot", {"teardown"}, "root", 1, std::nullopt, "", true},
      {"EnforceNotRoot", {"enforce", "skip-sw"}, "root", 1, std::nullopt, "", true},
      {"LabUpNotRoot", {"lab", "up"}, "root", 1, std::nullopt, "", true},
  };
}

class BadInput : public LabTest, public ::testing::WithParamInterface<BadCase> {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped()) return;
    // A running policy that every bad command must leave alone.
    auto r = vfsteerCli({"apply", "-f", writeLabPolicy(R"(  - {name: base, priority: 1, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
  - {name: out1, priority: 1, match: {from: {vf: 1}}, stages: [{mark: 2}, {deliver: uplink}]}
)")});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  std::string materialise(const BadCase& c, const std::string& arg) {
    const std::string scratch = "/tmp/vfsteer-bad-" + std::to_string(getpid());
    fs::create_directories(scratch);
    fs::permissions(scratch, fs::perms::all);  // readable by the unprivileged cases
    if (arg == "@policy") {
      const std::string path = scratch + "/" + c.name + ".yaml";
      // The policies name the test lab's namespace (other labs may be up).
      std::string policy = c.policy.value_or("");
      const std::string device = "device: {pf: uplink0";
      if (auto at = policy.find(device); at != std::string::npos)
        policy.insert(at + device.size(), ", netns: " + labNetns("host"));
      std::ofstream(path) << policy;
      fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
      return path;
    }
    if (arg == "@profiles") {
      const std::string dir = scratch + "/" + c.name + ".profiles";
      fs::create_directories(dir);
      fs::copy(std::string(VFSTEER_SOURCE_DIR) + "/profiles", dir, fs::copy_options::overwrite_existing);
      std::ofstream(dir + "/custom.yaml") << c.profile;
      return dir;
    }
    return arg;
  }
};

TEST(BadInputTable, HasAtLeastSixtyCases) { EXPECT_GE(cases().size(), 60u); }

TEST_P(BadInput, FailsClearlyAndChangesNothing) {
  const BadCase& c = GetParam();
  std::vector<std::string> args;
  for (const auto& a : c.args) args.push_back(materialise(c, a));
  // Commands that find their instance name the test lab's (other labs may be up).
  if (!c.asNobody && !args.empty() && args[0] == "enforce") args.insert(args.end(), {"--instance", labInstance()});
  const std::string before = labSnapshot();
  CliResult r;
  if (c.asNobody) {
    std::vector<std::string> argv{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  VFSTEER_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    r = runProgram(argv);
  } else {
    r = vfsteerCli(args);
  }
  std::printf("  %s -> exit %d: %s", c.name.c_str(), r.status, r.err.c_str());
  EXPECT_EQ(r.status, c.exit) << r.out << r.err;
  EXPECT_NE(r.err.find(c.says), std::string::npos) << "stderr: " << r.err;
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << "the kernel changed: " << firstDifference(after, before);
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<BadCase>& bad) { return std::string(bad.param.name); });

}  // namespace
}  // namespace vfsteer::testing
