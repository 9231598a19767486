// apply's cache of loaded policies: an entry serves only the text, path and
// binary it was made from, and goes with the instance's state.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/policy_cache.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::engine {
namespace {

namespace fs = std::filesystem;

constexpr const char* kText = R"(version: 1
device: {pf: uplink0, vfs: {count: 2}}
chains:
  - {name: web, priority: 1, match: {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 1}}]}
)";
constexpr const char* kFile = "/etc/vfsteer/web.yaml";

class PolicyCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("vfsteer-policy-cache-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    store_.emplace(root_.string());
    policy_ = *policies::loadPolicyText(kText, kFile);
  }
  void TearDown() override { fs::remove_all(root_); }

  // An instance as the store lists it: a directory with a state file.
  std::string instance(const std::string& name) {
    fs::create_directories(root_ / name);
    std::ofstream(root_ / name / "state.json") << "{}\n";
    return name;
  }
  fs::path entry(const std::string& name) const { return root_ / name / kPolicyCacheFile; }

  fs::path root_;
  std::optional<StateStore> store_;
  policies::Policy policy_;
};

TEST_F(PolicyCacheTest, AnEntryServesTheSameTextAtTheSamePath) {
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, kText)) << "no entry yet";
  const std::string a = instance("uplink0");
  ASSERT_TRUE(cachePolicy(*store_, a, kFile, kText, policy_).ok());
  EXPECT_EQ(fs::status(entry(a)).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto hit = findCachedPolicy(*store_, kFile, kText);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->instance, a);
  EXPECT_EQ(hit->policy, policy_);
}

TEST_F(PolicyCacheTest, AnyOtherTextOrPathIsAMiss) {
  const std::string a = instance("uplink0");
  ASSERT_TRUE(cachePolicy(*store_, a, kFile, kText, policy_).ok());
  std::string edited = kText;
  edited.replace(edited.find("dst_port: 80"), 12, "dst_port: 81");
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, edited)) << "one byte changed";
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, std::string(kText) + "\n")) << "one byte more";
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, std::string(kText).substr(1))) << "one byte less";
  EXPECT_FALSE(findCachedPolicy(*store_, "web.yaml", kText)) << "the same file by another path: positions name it";
}

TEST_F(PolicyCacheTest, AnotherBinaryOrADamagedEntryIsAMiss) {
  const std::string a = instance("uplink0");
  ASSERT_TRUE(cachePolicy(*store_, a, kFile, kText, policy_).ok());
  std::string bytes;
  {
    std::ifstream in(entry(a), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto rewrite = [&](const std::string& b) { std::ofstream(entry(a), std::ios::binary | std::ios::trunc) << b; };
  // The binary's identity follows the magic line and its size.
  const size_t binary = std::string("vfsteer policy cache\n").size() + 4;
  std::string other = bytes;
  other[binary] = other[binary] == '1' ? '2' : '1';
  rewrite(other);
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, kText)) << "made by another binary";
  rewrite(bytes.substr(0, bytes.size() - 1));
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, kText)) << "truncated";
  rewrite("");
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, kText)) << "empty";
  rewrite(bytes);
  EXPECT_TRUE(findCachedPolicy(*store_, kFile, kText)) << "whole again";
}

TEST_F(PolicyCacheTest, TheEntryGoesWithTheStateAndServesOnlyListedInstances) {
  const std::string a = instance("uplink0");
  ASSERT_TRUE(cachePolicy(*store_, a, kFile, kText, policy_).ok());
  // An instance directory without state (a failed first apply) is not listed.
  fs::remove(root_ / a / "state.json");
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, kText));
  std::ofstream(root_ / a / "state.json") << "{}\n";
  ASSERT_TRUE(findCachedPolicy(*store_, kFile, kText));
  ASSERT_TRUE(store_->remove(a).ok());
  EXPECT_FALSE(fs::exists(entry(a))) << "teardown removes the entry with the state";
  EXPECT_FALSE(findCachedPolicy(*store_, kFile, kText));
}

}  // namespace
}  // namespace vfsteer::engine
