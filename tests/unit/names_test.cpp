// Names that reach the kernel or become paths (common/names.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vfsteer/common/names.hpp"
#include "vfsteer/common/paths.hpp"

namespace vfsteer::names {
namespace {

TEST(Names, InstanceNamesArePfOrPfColonNetns) {
  for (const std::string& ok : std::vector<std::string>{"eth0", "uplink0:vfs-host", "enp3s0f0np0", std::string(15, 'e'),
                               "eth0:" + std::string(63, 'n'), "a.b:c.d", "eth0:ns:1"})
    EXPECT_TRUE(checkInstanceName(ok).ok()) << ok;
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "/", "a/b", "../etc", "eth0:", "eth0:..", "eth0:.", "eth0:a/b",
                                ":ns", " eth0", "eth0 ", "eth\t0", "eth0\n", std::string(16, 'e'),
                                "eth0:" + std::string(64, 'n'), "eth0:a b", "x;touch /tmp/x", "$(id)/x"})
    EXPECT_FALSE(checkInstanceName(bad).ok()) << bad;
}

TEST(Names, TheErrorSaysWhichPartIsWrongAndQuotesLongNamesShort) {
  auto pf = checkInstanceName("a/b:ns");
  ASSERT_FALSE(pf.ok());
  EXPECT_EQ(pf.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(pf.error().message().find("the PF part"), std::string::npos) << pf.error().message();
  auto ns = checkInstanceName("eth0:..");
  ASSERT_FALSE(ns.ok());
  EXPECT_NE(ns.error().message().find("the namespace part"), std::string::npos) << ns.error().message();
  auto longName = checkInstanceName(std::string(5'000'000, 'x'));
  ASSERT_FALSE(longName.ok());
  EXPECT_LT(longName.error().message().size(), 400u);
  EXPECT_NE(longName.error().message().find("(5000000 bytes)"), std::string::npos);
}

TEST(Names, InstanceDirsStayUnderTheirRoot) {
  auto good = paths::instanceDir("/run/vfsteer", "uplink0:vfs-host");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, "/run/vfsteer/uplink0:vfs-host");
  for (const std::string& bad : std::vector<std::string>{"..", "../../tmp/x", "eth0:../../x", ""})
    EXPECT_FALSE(paths::instanceDir("/run/vfsteer", bad).ok()) << bad;
}

TEST(Names, InterfaceAndNamespaceNamesFollowTheKernelAndIproute2) {
  EXPECT_TRUE(isInterfaceName("pf0vf3"));
  EXPECT_FALSE(isInterfaceName("pf0vf3:1"));  // ':' is the kernel's alias separator
  EXPECT_FALSE(isInterfaceName(std::string(16, 'x')));
  EXPECT_TRUE(isNetnsName("vfs-host"));
  EXPECT_TRUE(isNetnsName("a:b"));
  EXPECT_FALSE(isNetnsName(std::string(64, 'x')));
  EXPECT_FALSE(isNetnsName("a\x7f"));
}

}  // namespace
}  // namespace vfsteer::names
