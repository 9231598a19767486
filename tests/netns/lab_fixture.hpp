// The lab as a test fixture (brought up once per test binary run, torn down
// after), the vfsteer CLI, and a normalized dump of everything vfsteer can
// touch in the lab, to compare kernel states.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "engine/apply.hpp"
#include "faulty_ports.hpp"
#include "scratch_netns.hpp"
#include "vfsteer/representors/lab.hpp"

namespace vfsteer::testing {

// The tests' own lab, named after this process ("vt<pid>"), so that they
// run beside a lab a user left up (scripts/demo leaves "vfs" up) and never
// touch it.
const representors::lab::Lab& testLab();
// "<lab>-ROLE": labNetns("host"), labNetns("wire"), labNetns("vf2").
std::string labNetns(const std::string& role);
std::string labInstance();  // "uplink0:<lab>-host"
std::string labStateDir();  // /run/vfsteer/<instance>
std::string labPins();      // /sys/fs/bpf/vfsteer/<instance>
inline const std::vector<std::string> kLabHostDevices = {"uplink0", "pf0vf0", "pf0vf1", "pf0vf2", "pf0vf3"};

// Runs vfsteer from the repository root (examples name files relative to it).
CliResult vfsteerCli(const std::vector<std::string>& args);

// A policy for the test lab's uplink0 (device.netns names its namespace)
// with these chains (YAML list items): its text, and a new file holding it.
std::string labPolicyText(const std::string& chains);
std::string writeLabPolicy(const std::string& chains);

// Runs "tc -n <lab>-host -j ARGS" and returns the parsed output.
nlohmann::json tcJson(const std::vector<std::string>& args);

// Every qdisc and ingress filter (all chains) of the lab's host devices with
// program ids taken out (they change when a program is reloaded), the pins
// under /sys/fs/bpf/vfsteer, the active host tables, vfsteer's state and
// journal files, and any XDP program on the host devices.
std::string labSnapshot();

// The first line where two snapshots differ, both versions, cut short (gtest's
// own diff of megabyte strings takes all memory).
std::string firstDifference(const std::string& got, const std::string& want);

// `vfsteer apply -f POLICY` in this process, through ports that count (and,
// as `plan` says, fail or die at) its kernel writes; from the repository
// root, as the policies name examples/bpf/... relative to it.
// `profile`: as --profile, with the NIC emulated (--emulate-nic).
engine::ApplyResult applyThrough(const std::string& policy, FaultPlan& plan,
                                 const std::optional<std::string>& emulatedProfile = std::nullopt);

class LabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;
};

}  // namespace vfsteer::testing
