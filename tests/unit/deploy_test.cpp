// The systemd unit (deploy/systemd/vfsteer.service.in): systemd itself finds
// nothing wrong with it, and it gives `vfsteer run` what it needs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "cli_runner.hpp"
#include "vfsteer/common/paths.hpp"

namespace vfsteer::testing {
namespace {

std::string unitTemplate() {
  std::ifstream in(std::string(VFSTEER_SOURCE_DIR) + "/deploy/systemd/vfsteer.service.in");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The unit as installed, pointing at the built binary and the source docs.
std::string unitText() {
  std::string text = unitTemplate();
  text = std::regex_replace(text, std::regex("@VFSTEER_BINARY@"), VFSTEER_BINARY);
  return std::regex_replace(text, std::regex("@VFSTEER_DOCDIR@"), std::string(VFSTEER_SOURCE_DIR) + "/docs");
}

std::string setting(const std::string& unit, const std::string& key) {
  std::smatch m;
  return std::regex_search(unit, m, std::regex("\\n" + key + "=([^\\n]*)")) ? m[1].str() : "";
}

TEST(SystemdUnit, SystemdAnalyzeVerifyFindsNothing) {
  const auto dir = std::filesystem::temp_directory_path() / ("vfsteer-unit-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "vfsteer.service").string();
  std::ofstream(path) << unitText();
  auto r = runProgram({"/usr/bin/systemd-analyze", "verify", path});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.status, 0) << r.err;
  // It exits 0 on settings it ignores; those are errors here.
  EXPECT_EQ(r.err, "") << "systemd ignored part of the unit";
}

TEST(SystemdUnit, GivesRunWhatItNeeds) {
  const std::string unit = unitText();
  EXPECT_EQ(setting(unit, "Type"), "notify") << "run sends READY=1 once the first policy is in force";
  EXPECT_NE(setting(unit, "WatchdogSec"), "") << "run sends WATCHDOG=1";
  EXPECT_EQ(setting(unit, "ExecStart"), std::string(VFSTEER_BINARY) + " run -f /etc/vfsteer/policy.yaml");
  EXPECT_EQ(setting(unit, "ExecReload"), "/bin/kill -HUP $MAINPID") << "SIGHUP re-reads the policy";
  const std::string writable = setting(unit, "ReadWritePaths");
  EXPECT_NE(writable.find(paths::kStateRoot), std::string::npos) << "state, journal, locks, pid files";
  const std::string pins = std::filesystem::path(paths::kPinRoot).parent_path().string();
  EXPECT_NE(writable.find(pins), std::string::npos) << "pinned programs and maps under " << paths::kPinRoot;
  EXPECT_EQ(setting(unit, "RuntimeDirectory"), "vfsteer");
  EXPECT_EQ(setting(unit, "RuntimeDirectoryPreserve"), "yes") << "the state must outlive a restart";
  EXPECT_EQ(setting(unit, "ProtectKernelTunables"), "") << "provisioning writes sriov_numvfs in /sys";
  const std::string caps = setting(unit, "CapabilityBoundingSet");
  for (const char* cap : {"CAP_NET_ADMIN", "CAP_BPF", "CAP_SYS_ADMIN"})
    EXPECT_NE(caps.find(cap), std::string::npos) << cap << " (engine::requirePrivileges asks for it)";
  const std::string families = setting(unit, "RestrictAddressFamilies");
  EXPECT_NE(families.find("AF_NETLINK"), std::string::npos);
  EXPECT_NE(families.find("AF_INET"), std::string::npos) << "--metrics listens on TCP";
  const std::string calls = setting(unit, "SystemCallFilter");
  for (const char* call : {"bpf", "setns"}) EXPECT_NE(calls.find(call), std::string::npos) << call;
}

}  // namespace
}  // namespace vfsteer::testing
