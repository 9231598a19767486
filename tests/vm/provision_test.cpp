// Discovery and VF provisioning on netdevsim, checked against what the
// kernel reports through vfsteer's decoders and through ip(8) and devlink(8).
#include <gtest/gtest.h>

#include <sys/utsname.h>

#include <cstdio>
#include <filesystem>

#include "netdevsim.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;

TEST_F(VmTest, DiscoverFindsRepresentorsThroughDevlinkNotNames) {
  nsim().setNumVfs(3);
  nsim().setSwitchdev();
  auto r = runVfsteer({"discover", "--pf", nsim().pf(), "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json d = json::parse(r.out);
  EXPECT_EQ(d["source"], "kernel");
  EXPECT_EQ(d["driver"], "netdevsim");
  EXPECT_EQ(d["profile"], "netdevsim");
  EXPECT_EQ(d["eswitch"], "switchdev");
  EXPECT_EQ(d["devlink"], nsim().devlink());
  EXPECT_EQ(d["num_vfs"], 3);
  // devlink's own view: the VF ports of this device.
  json ports = shJson({"devlink", "-j", "port", "show"})["port"];
  std::map<int, std::pair<std::string, int>> expected;  // vf → (netdev, port index)
  for (const auto& [name, p] : ports.items()) {
    if (name.rfind(nsim().devlink() + "/", 0) != 0 || p["flavour"] != "pcivf") continue;
    expected[p["vfnum"].get<int>()] = {p["netdev"], std::stoi(name.substr(name.rfind('/') + 1))};
  }
  ASSERT_EQ(expected.size(), 3u);
  ASSERT_EQ(d["representors"].size(), 3u);
  for (const auto& rep : d["representors"]) {
    const int vf = rep["vf"];
    EXPECT_EQ(rep["ifname"], expected[vf].first);
    EXPECT_EQ(rep["devlink_port"], expected[vf].second);
    EXPECT_EQ(rep["phys_port_name"], "pf0vf" + std::to_string(vf));
    json link = shJson({"ip", "-d", "-j", "link", "show", "dev", rep["ifname"]})[0];
    EXPECT_EQ(rep["phys_port_name"], link["phys_port_name"]);
    // ip(8) prints at most 62 hex digits of netdevsim's 32-byte switch id.
    const std::string ours = rep["switch_id"], theirs = link["phys_switch_id"];
    EXPECT_EQ(ours.substr(0, theirs.size()), theirs);
    EXPECT_EQ(rep["switch_id"], d["switch_id"]) << "one eswitch: the PF's switch id";
  }
}

// netdevsim implements no XDP RX metadata kfunc: metadata show says so for
// every port, with the kernel's reason (6.1 has no netdev family; 6.12
// reports xdp-rx-metadata-features), and the netdevsim profile agrees.
TEST_F(VmTest, MetadataShowSaysNetdevsimSuppliesNothingAndWhy) {
  nsim().setNumVfs(2);
  nsim().setSwitchdev();
  auto r = runVfsteer({"metadata", "show", "--pf", nsim().pf(), "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json d = json::parse(r.out);
  EXPECT_EQ(d["profile"], "netdevsim");
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  int major = 0, minor = 0;
  ASSERT_EQ(std::sscanf(u.release, "%d.%d", &major, &minor), 2);
  const bool reports = major > 6 || (major == 6 && minor >= 8);
  ASSERT_EQ(d["ports"].size(), 3u) << "the PF and two representors";
  for (const auto& p : d["ports"])
    for (const auto& [field, f] : p["fields"].items()) {
      EXPECT_EQ(f["supplied"], "no") << p["port"] << " " << field;
      const std::string reason = f["reason"];
      EXPECT_NE(reason.find(reports ? "the driver does not implement bpf_xdp_metadata_" : "no netdev netlink family"),
                std::string::npos)
          << u.release << ": " << reason;
    }
  EXPECT_TRUE(d["disagreements"].empty()) << d["disagreements"].dump();
}

TEST_F(VmTest, ProvisionsVfsInSwitchdevModeWithDevlinkRates) {
  const std::string policy = writeFile(
      "version: 1\ndevice:\n  pf: " + nsim().pf() +
      "\n  eswitch: switchdev\n  vfs:\n    count: 4\n    settings:\n"
      "      - {vf: 0, mac: \"02:00:00:00:00:10\", vlan: 100, qos: 2, trust: true, spoofchk: false, "
      "link_state: enable, max_tx_rate_mbps: 1000, min_tx_rate_mbps: 100}\n"
      "      - {vf: 1, vlan: 20, vlan_proto: 802.1ad, link_state: disable}\n");
  auto r = runVfsteer({"apply", "-f", policy});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(readSysfs(nsim().sysfs() + "/sriov_numvfs"), "4");
  EXPECT_EQ(shJson({"devlink", "-j", "dev", "eswitch", "show", nsim().devlink()})["dev"][nsim().devlink()]["mode"],
            "switchdev");
  EXPECT_EQ(nsim().representors().size(), 4u);

  json link = shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0];
  ASSERT_EQ(link["vfinfo_list"].size(), 4u);
  const json& vf0 = link["vfinfo_list"][0];
  EXPECT_EQ(vf0["address"], "02:00:00:00:00:10");
  EXPECT_EQ(vf0["vlan_list"][0]["vlan"], 100);
  EXPECT_EQ(vf0["vlan_list"][0]["qos"], 2);
  EXPECT_EQ(vf0["trust"], true);
  EXPECT_EQ(vf0["spoofchk"], false);
  EXPECT_EQ(vf0["link_state"], "enable");
  const json& vf1 = link["vfinfo_list"][1];
  EXPECT_EQ(vf1["vlan_list"][0]["vlan"], 20);
  EXPECT_EQ(vf1["vlan_list"][0]["protocol"], "802.1ad");
  EXPECT_EQ(vf1["link_state"], "disable");

  // Rates: devlink in switchdev mode (netdevsim refuses the rtnetlink form
  // there); devlink shows bytes per second.
  json rates = shJson({"devlink", "-j", "port", "function", "rate", "show"})["rate"];
  bool found = false;
  for (const auto& [name, rate] : rates.items()) {
    if (name.rfind(nsim().devlink() + "/", 0) != 0) continue;
    if (rate.value("tx_max", 0ull) == 0) continue;
    found = true;
    EXPECT_EQ(rate["tx_max"], 125000000ull) << name;  // 1000 Mbit/s
    EXPECT_EQ(rate["tx_share"], 12500000ull) << name;  // 100 Mbit/s
  }
  EXPECT_TRUE(found) << rates.dump();

  auto again = runVfsteer({"apply", "-f", policy});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
}

TEST_F(VmTest, ProvisionsRatesThroughRtnetlinkInLegacyMode) {
  const std::string policy = writeFile(
      "version: 1\ndevice:\n  pf: " + nsim().pf() +
      "\n  eswitch: legacy\n  vfs:\n    count: 2\n    settings:\n"
      "      - {vf: 1, mac: \"02:00:00:00:00:21\", max_tx_rate_mbps: 400, min_tx_rate_mbps: 40}\n");
  auto r = runVfsteer({"apply", "-f", policy});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(shJson({"devlink", "-j", "dev", "eswitch", "show", nsim().devlink()})["dev"][nsim().devlink()]["mode"],
            "legacy");
  json vf1 = shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0]["vfinfo_list"][1];
  EXPECT_EQ(vf1["address"], "02:00:00:00:00:21");
  EXPECT_EQ(vf1["rate"]["max_tx"], 400);
  EXPECT_EQ(vf1["rate"]["min_tx"], 40);
}

TEST_F(VmTest, ProvisioningRefusedByTheDriverIsUndone) {
  // netdevsim refuses a VF rate over rtnetlink in switchdev mode; with the
  // profile saying rtnetlink, the apply fails and undoes what it did.
  const std::string profiles = writeFile("", ".d");
  std::filesystem::remove(profiles);
  std::filesystem::create_directories(profiles);
  std::filesystem::copy(std::string(VFSTEER_SOURCE_DIR) + "/profiles/netdevsim.yaml", profiles + "/netdevsim.yaml");
  sh({"sed", "-i", "s/switchdev: devlink/switchdev: rtnetlink/", profiles + "/netdevsim.yaml"});
  nsim().setNumVfs(2);
  nsim().setSwitchdev();
  const std::string before = kernelSnapshot(nsim(), {nsim().pf()});
  const std::string policy = writeFile(
      "version: 1\ndevice:\n  pf: " + nsim().pf() +
      "\n  vfs:\n    count: 2\n    settings:\n"
      "      - {vf: 0, mac: \"02:00:00:00:00:31\", trust: true, max_tx_rate_mbps: 100}\n");
  auto r = runVfsteer({"apply", "-f", policy, "--profiles-dir", profiles});
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("Operation not supported"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was changed"), std::string::npos) << r.err;
  EXPECT_EQ(kernelSnapshot(nsim(), {nsim().pf()}), before);
}

TEST_F(VmTest, VfSettingsAndFiltersThePolicyDoesNotNameSurvive) {
  nsim().setNumVfs(2);
  nsim().setSwitchdev();
  // Someone else's: VF 1's settings and a software flower filter on the PF.
  sh({"ip", "link", "set", "dev", nsim().pf(), "vf", "1", "mac", "02:00:00:00:99:01", "vlan", "77", "trust", "on"});
  sh({"tc", "qdisc", "add", "dev", nsim().pf(), "clsact"});
  sh({"tc", "filter", "add", "dev", nsim().pf(), "ingress", "prio", "5", "protocol", "ip", "flower", "skip_hw",
      "ip_proto", "udp", "dst_port", "4000", "action", "drop"});
  auto foreign = [&] {
    json vf1 = shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0]["vfinfo_list"][1];
    json prio5 = json::array();
    for (const auto& f : shJson({"tc", "-j", "filter", "show", "dev", nsim().pf(), "ingress"}))
      if (f.value("pref", 0) == 5) prio5.push_back(f);
    return vf1.dump() + "\n" + prio5.dump();
  };
  const std::string before = foreign();
  ASSERT_NE(before.find("02:00:00:00:99:01"), std::string::npos) << before;
  ASSERT_NE(before.find("flower"), std::string::npos) << before;
  auto policy = [&](const std::string& mac) {
    return writeFile("version: 1\ndevice:\n  pf: " + nsim().pf() + "\n  vfs:\n    count: 2\n    settings:\n" +
                     "      - {vf: 0, mac: \"" + mac + "\", trust: true}\nchains:\n" +
                     "  - {name: web, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n");
  };
  const std::string a = policy("02:00:00:00:00:10");
  for (const auto& [what, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"apply", {"apply", "-f", a}},
           {"re-apply", {"apply", "-f", a}},
           {"policy change", {"apply", "-f", policy("02:00:00:00:00:20")}},
           {"teardown", {"teardown", "--instance", nsim().pf()}}}) {
    auto r = runVfsteer(args);
    ASSERT_EQ(r.status, 0) << what << ": " << r.err;
    EXPECT_EQ(foreign(), before) << "after " << what;
  }
  EXPECT_EQ(shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0]["vfinfo_list"][0]["address"],
            "02:00:00:00:00:20")
      << "teardown leaves the VF settings the policy asked for (they are configuration, not rules)";
}

}  // namespace
}  // namespace vfsteer::testing
