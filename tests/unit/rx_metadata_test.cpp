// What `vfsteer metadata show` makes of the netdev family's answer: each
// port's fields from the xdp-rx-metadata-features bits (uapi values), the
// kernels that cannot say, and where the profile's claims disagree. The
// profiles' claims are checked against the drivers' sources they cite.
#include <gtest/gtest.h>

#include <set>

#include "engine/rx_metadata.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::engine {
namespace {

namespace netdev = netlink::netdev;

representors::Topology twoPorts() {
  representors::Topology t;
  t.pf = "eth0";
  t.pfIfindex = 2;
  representors::Representor rep;
  rep.vf = 0;
  rep.ifname = "eth0_0";
  rep.ifindex = 7;
  t.reps.push_back(rep);
  return t;
}

std::vector<Supply> suppliesOf(const PortRxMetadata& p) {
  std::vector<Supply> out;
  for (const auto& f : p.fields) out.push_back(f.supply);
  return out;
}

TEST(RxMetadata, FieldsFollowTheKernelsBitsPerPort) {
  // enum netdev_xdp_rx_metadata: TIMESTAMP 1, HASH 2, VLAN_TAG 4.
  EXPECT_EQ(netdev::kRxMetadataTimestamp, 1u);
  EXPECT_EQ(netdev::kRxMetadataHash, 2u);
  EXPECT_EQ(netdev::kRxMetadataVlanTag, 4u);
  NetdevDevices devices = std::vector<netdev::Device>{{2, 0, uint64_t{2 | 4}}, {7, 0, uint64_t{0}}};
  auto ports = rxMetadataOf(twoPorts(), devices);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_TRUE(ports[0].uplink);
  EXPECT_EQ(ports[0].role, "uplink");
  EXPECT_EQ(suppliesOf(ports[0]), (std::vector{Supply::kYes, Supply::kNo, Supply::kYes}));
  EXPECT_EQ(ports[0].fields[1].reason,
            "the driver does not implement bpf_xdp_metadata_rx_timestamp (it returns -EOPNOTSUPP)");
  EXPECT_FALSE(ports[1].uplink);
  EXPECT_EQ(ports[1].role, "vf 0 representor");
  EXPECT_EQ(suppliesOf(ports[1]), (std::vector{Supply::kNo, Supply::kNo, Supply::kNo}));
}

TEST(RxMetadata, KernelsThatCannotSaySayWhy) {
  auto before63 = rxMetadataOf(twoPorts(), std::nullopt);
  EXPECT_EQ(suppliesOf(before63[0]), (std::vector{Supply::kNo, Supply::kNo, Supply::kNo}));
  EXPECT_NE(before63[0].fields[0].reason.find("no netdev netlink family"), std::string::npos);
  // 6.3 to 6.7: the family, but no xdp-rx-metadata-features.
  NetdevDevices before68 = std::vector<netdev::Device>{{2, 0, std::nullopt}};
  auto ports = rxMetadataOf(twoPorts(), before68);
  EXPECT_EQ(suppliesOf(ports[0]), (std::vector{Supply::kUnknown, Supply::kUnknown, Supply::kUnknown}));
  EXPECT_NE(ports[0].fields[2].reason.find("Linux 6.8+"), std::string::npos);
  // A port the dump does not list (gone between discovery and the dump).
  EXPECT_EQ(suppliesOf(ports[1]), (std::vector{Supply::kUnknown, Supply::kUnknown, Supply::kUnknown}));
  EXPECT_EQ(ports[1].fields[0].reason, "the netdev family does not list eth0_0");
}

TEST(RxMetadata, DisagreementsAreTheUplinksFieldsThatDifferFromTheClaims) {
  policies::Profile p;
  p.name = "nic";
  p.rxHash = true;       // and supplied: agrees
  p.rxTimestamp = true;  // not supplied
  p.rxVlanTag = false;   // supplied
  NetdevDevices devices = std::vector<netdev::Device>{{2, 0, uint64_t{2 | 4}}, {7, 0, uint64_t{0}}};
  auto found = rxDisagreements(rxMetadataOf(twoPorts(), devices), p);
  ASSERT_EQ(found.size(), 2u);  // the representor supplies nothing: not compared
  EXPECT_EQ(found[0].field, RxField::kTimestamp);
  EXPECT_TRUE(found[0].claimed);
  EXPECT_EQ(found[0].found, Supply::kNo);
  EXPECT_EQ(found[0].message,
            "profile nic claims metadata.rx_timestamp, but on eth0 the driver does not implement "
            "bpf_xdp_metadata_rx_timestamp (it returns -EOPNOTSUPP)");
  EXPECT_EQ(found[1].field, RxField::kVlanTag);
  EXPECT_FALSE(found[1].claimed);
  EXPECT_EQ(found[1].found, Supply::kYes);
  // A kernel that cannot say disagrees with nothing.
  NetdevDevices unknown = std::vector<netdev::Device>{{2, 0, std::nullopt}};
  EXPECT_TRUE(rxDisagreements(rxMetadataOf(twoPorts(), unknown), p).empty());
}

// The claims as the profiles' cited sources give them (Linux 6.12): mlx5,
// ice and veth set xdp_metadata_ops with all three; the others set none.
TEST(RxMetadata, ProfileClaimsMatchTheDriversTheyCite) {
  auto dir = policies::loadProfileDir(std::string(VFSTEER_SOURCE_DIR) + "/profiles");
  ASSERT_TRUE(dir.ok()) << dir.error().describe();
  const std::set<std::string> all = {"mlx5", "ice", "veth"};
  int checked = 0;
  for (const auto& name : {"mlx5", "ice", "veth", "i40e", "ixgbe", "ixgbe-ntuple", "nfp", "netdevsim"}) {
    auto p = policies::selectProfile(*dir, name, "");
    ASSERT_TRUE(p.ok()) << name << ": " << p.error().describe();
    const bool expected = all.contains(name);
    EXPECT_EQ(p->rxHash, expected) << name;
    EXPECT_EQ(p->rxTimestamp, expected) << name;
    EXPECT_EQ(p->rxVlanTag, expected) << name;
    EXPECT_FALSE(p->rxChecksum) << name << ": no kfunc reads the checksum status";
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(RxMetadata, ProfileMetadataKeysAreCheckedWithAPosition) {
  auto bad = policies::loadProfileText("name: x\ndrivers: [x]\nhardware: {engine: none}\n"
                                       "metadata: {rx_hash: true, rx_timestmp: true}\n",
                                       "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("x.yaml:4:"), std::string::npos) << bad.error().message();
  EXPECT_NE(bad.error().message().find("did you mean \"rx_timestamp\""), std::string::npos) << bad.error().message();
}

}  // namespace
}  // namespace vfsteer::engine
