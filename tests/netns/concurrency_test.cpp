// Concurrency: vfsteer processes changing the same instance are serialised
// by a lock (flock on /run/vfsteer/INSTANCE/lock). One that cannot get it
// within --wait fails, naming the holder's pid, and changes nothing; two
// applies started together both complete, one after the other.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "lab_fixture.hpp"

namespace vfsteer::testing {
namespace {

const std::string kLockFile = labStateDir() + "/lock";

// Holds the instance's lock the way a running vfsteer does.
class HeldLock {
 public:
  HeldLock() {
    std::filesystem::create_directories(std::filesystem::path(kLockFile).parent_path());
    fd_ = ::open(kLockFile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::flock(fd_, LOCK_EX | LOCK_NB), 0);
    const std::string pid = std::to_string(::getpid());
    EXPECT_EQ(::ftruncate(fd_, 0), 0);
    EXPECT_EQ(::pwrite(fd_, pid.data(), pid.size(), 0), static_cast<ssize_t>(pid.size()));
  }
  ~HeldLock() { release(); }
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

const char* kPolicyA = "  - {name: web, priority: 1, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n";
const char* kPolicyB =
    "  - {name: web, priority: 1, match: {ip_proto: tcp, dst_port: 8080}, stages: [{deliver: {vf: 1}}]}\n"
    "  - {name: out2, priority: 1, match: {from: {vf: 2}}, stages: [{deliver: uplink}]}\n";

class ConcurrencyTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(vfsteerCli({"teardown", "--instance", labInstance()}).status, 0);
  }
};

TEST_F(ConcurrencyTest, AHeldLockFailsAtOnceWithTheHoldersPidAndChangesNothing) {
  const auto policy = writeLabPolicy(kPolicyA);
  const std::string before = labSnapshot();
  HeldLock held;
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"apply", "-f", policy, "--wait", "0"}, {"teardown", "--instance", labInstance(), "--wait", "0"}}) {
    auto r = vfsteerCli(cmd);
    EXPECT_EQ(r.status, 1) << cmd[0] << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("another vfsteer (pid " + std::to_string(::getpid()) + ") is changing " + labInstance()),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("--wait"), std::string::npos) << r.err;
  }
  // The lab has no state yet: teardown finds nothing only once it holds the lock.
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << firstDifference(after, before);
}

TEST_F(ConcurrencyTest, TheSecondWaitsUpToItsBoundThenFailsOrGoesOn) {
  const auto policy = writeLabPolicy(kPolicyA);
  HeldLock held;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = vfsteerCli({"apply", "-f", policy, "--wait", "1"});
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("waited 1 s"), std::string::npos) << r.err;
  EXPECT_GE(waited, std::chrono::milliseconds(1000)) << "it gave up before its bound";

  // Released while it waits: it goes on and applies.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    held.release();
  });
  auto ok = vfsteerCli({"apply", "-f", policy, "--wait", "20"});
  releaser.join();
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("changed " + labInstance()), std::string::npos) << ok.out;
}

TEST_F(ConcurrencyTest, TwoAppliesStartedTogetherAreSerialised) {
  const auto a = writeLabPolicy(kPolicyA), b = writeLabPolicy(kPolicyB);
  for (int round = 0; round < 5; ++round) {
    auto first = std::async(std::launch::async, [&] { return runVfsteer({"apply", "-f", a}); });
    auto second = std::async(std::launch::async, [&] { return runVfsteer({"apply", "-f", b}); });
    auto ra = first.get(), rb = second.get();
    ASSERT_EQ(ra.status, 0) << "round " << round << ": " << ra.err;
    ASSERT_EQ(rb.status, 0) << "round " << round << ": " << rb.err;
    // Whichever ran last is what the lab holds, whole: applying it again
    // changes nothing, and no journal of an unfinished apply is left.
    EXPECT_FALSE(std::filesystem::exists(labStateDir() + "/journal.json"));
    std::ifstream stateFile(labStateDir() + "/state.json");
    const auto state = nlohmann::json::parse(stateFile, nullptr, false);
    ASSERT_FALSE(state.is_discarded());
    const bool bLast = state.value("policy", "") == std::filesystem::absolute(b).lexically_normal().string();
    auto again = runVfsteer({"apply", "-f", bLast ? b : a});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << "round " << round << ": " << again.out;
  }
}

}  // namespace
}  // namespace vfsteer::testing
