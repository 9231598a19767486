// What vfsteer writes outside the kernel's tc and link tables: its state,
// lock and journal under /run/vfsteer, its pins under /sys/fs/bpf/vfsteer.
// Only root may read or change them, whatever the caller's umask. And no
// string from a policy ever reaches a shell.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "lab_fixture.hpp"
#include "engine/state.hpp"

namespace vfsteer::testing {
namespace {

namespace fs = std::filesystem;

mode_t modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Sets the umask for the scope: children (the vfsteer CLI) inherit it.
struct Umask {
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
  mode_t old;
};

class FilesTest : public LabTest {};

TEST_F(FilesTest, StateLockJournalAndPinsAreOwnerOnlyEvenUnderUmaskZero) {
  Umask open(0);
  auto r = vfsteerCli({"apply", "-f", writeLabPolicy(R"(  - {name: dns, priority: 1, match: {ip_proto: udp, dst_port: 53}, stages: [{bpf: {object: examples/bpf/count.bpf.o, program: count}}, {deliver: {vf: 2}}]}
)")});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string state = labStateDir();
  EXPECT_EQ(modeOf("/run/vfsteer"), 0700u);
  EXPECT_EQ(modeOf(state), 0700u);
  EXPECT_EQ(modeOf(state + "/state.json"), 0600u);
  EXPECT_EQ(modeOf(state + "/lock"), 0600u);
  EXPECT_EQ(modeOf(labPins()), 0700u);
  int pins = 0;
  for (const auto& e : fs::directory_iterator(labPins())) {
    ++pins;
    EXPECT_EQ(modeOf(e.path()) & 0077, 0u) << e.path() << " is open to others";
  }
  EXPECT_GE(pins, 10) << "the datapath's maps and programs, the stage's program and its map";

  // The journal an interrupted apply leaves, written the same way.
  const std::string root = "/tmp/vfsteer-files-" + std::to_string(getpid());
  engine::StateStore store(root);
  engine::Journal j;
  j.pid = 1;
  j.tunnelDevices = {"vfs-vx4789"};
  ASSERT_TRUE(store.saveJournal("eth9", j).ok());
  EXPECT_EQ(modeOf(root), 0700u);
  EXPECT_EQ(modeOf(root + "/eth9"), 0700u);
  EXPECT_EQ(modeOf(root + "/eth9/journal.json"), 0600u);
  fs::remove_all(root);
}

// Every directory level vfsteer creates is owner-only, not only the last.
TEST(StateFiles, EveryDirectoryMadeIsOwnerOnly) {
  Umask open(0);
  const std::string top = "/tmp/vfsteer-levels-" + std::to_string(getpid());
  engine::StateStore store(top + "/a/b");
  engine::Journal j;
  j.pid = 1;
  ASSERT_TRUE(store.saveJournal("eth9:ns1", j).ok());
  for (const auto& d : {top, top + "/a", top + "/a/b", top + "/a/b/eth9:ns1"}) EXPECT_EQ(modeOf(d), 0700u) << d;
  fs::remove_all(top);
}

// A lock taken and released on an instance with nothing else leaves no
// directory behind; one with state keeps it.
TEST(StateFiles, ALockAloneLeavesNothing) {
  const std::string root = "/tmp/vfsteer-lockonly-" + std::to_string(getpid());
  engine::StateStore store(root);
  {
    auto lock = store.lock("eth9", std::chrono::milliseconds(0));
    ASSERT_TRUE(lock.ok()) << lock.error().describe();
    EXPECT_TRUE(fs::exists(root + "/eth9/lock"));
  }
  EXPECT_FALSE(fs::exists(root + "/eth9"));
  {
    auto lock = store.lock("eth9", std::chrono::milliseconds(0));
    ASSERT_TRUE(lock.ok());
    engine::Journal j;
    ASSERT_TRUE(store.saveJournal("eth9", j).ok());
  }
  EXPECT_TRUE(fs::exists(root + "/eth9/journal.json"));
  EXPECT_TRUE(fs::exists(root + "/eth9/lock"));
  fs::remove_all(root);
}

// What is under `dir`, `depth` levels down (an unreadable or missing dir
// gives nothing).
std::set<std::string> listing(const std::string& dir, int depth) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(it->path().string());
    if (it.depth() + 1 >= depth) it.disable_recursion_pending();
  }
  return out;
}

std::set<std::string> machineListing() {
  std::set<std::string> all;
  for (const auto& [dir, depth] : std::vector<std::pair<std::string, int>>{{"/run", 4}, {"/tmp", 4}, {"/sys/fs/bpf", 8}})
    all.merge(listing(dir, depth));
  return all;
}

// Instance names on the command line become directory names: anything but
// PF or PF:NETNS is refused before anything is created, anywhere.
TEST(InstanceNames, EveryCommandRefusesNamesThatAreNotPfOrPfNetns) {
  VFSTEER_REQUIRE_ROOT();
  const std::string marker = "/tmp/vfsteer-trav-" + std::to_string(getpid());
  const std::vector<std::string> names = {
      "..", ".", "/", "", "../../../" + marker.substr(1), "a/b", "eth0:", "eth0:..", "eth0:a/b", ":ns",
      " eth0", "eth0\n", std::string(16, 'e'), "eth0:" + std::string(64, 'n'), std::string(100000, 'x'),
      "x;touch " + marker, "$(touch " + marker + ")", "`touch " + marker + "`"};
  const std::vector<std::vector<std::string>> commands = {
      {"teardown", "--instance"}, {"report", "--instance"}, {"enforce", "skip-sw", "--instance"}};
  const auto before = machineListing();
  for (const auto& name : names) {
    for (auto cmd : commands) {
      cmd.push_back(name);
      auto r = vfsteerCli(cmd);
      EXPECT_EQ(r.status, 1) << cmd[0] << " --instance \"" << name.substr(0, 40) << "\": " << r.err;
      EXPECT_NE(r.err.find("is not PF or PF:NETNS"), std::string::npos) << cmd[0] << ": " << r.err;
      EXPECT_LT(r.err.size(), 600u) << "the name is quoted whole: " << r.err.substr(0, 200);
    }
  }
  const auto after = machineListing();
  std::vector<std::string> made;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(made));
  EXPECT_TRUE(made.empty()) << "created: " << made.front();
  EXPECT_FALSE(fs::exists(marker));
}

// Strings a shell would act on, in every field a policy or the command line
// passes on to the system. Each must be refused or used as plain data; none
// may run.
TEST_F(FilesTest, PolicyStringsNeverReachAShell) {
  const std::string marker = "/tmp/vfsteer-shell-" + std::to_string(getpid());
  fs::remove(marker);
  const std::vector<std::string> payloads = {"$(touch " + marker + ")", "`touch " + marker + "`",
                                             "x;touch " + marker, "x|touch " + marker, "x&&touch " + marker};
  int refused = 0;
  for (const auto& p : payloads) {
    const std::string quoted = "\"" + p + "\"";
    const std::vector<std::string> policies = {
        "version: 1\ndevice: {pf: " + quoted + "}\n",
        "version: 1\ndevice: {pf: uplink0, profile: " + quoted + "}\n",
        "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n  - {name: " + quoted +
            ", priority: 1, match: {ip_proto: tcp}, stages: [drop]}\n",
        "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n  - {name: b, priority: 1, match: {ip_proto: "
        "udp}, stages: [{bpf: {object: " + quoted + ", program: count}}, drop]}\n",
        "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n  - {name: b, priority: 1, match: {ip_proto: "
        "udp}, stages: [{bpf: {object: examples/bpf/count.bpf.o, program: " + quoted + "}}, drop]}\n",
    };
    for (const auto& text : policies) {
      const std::string path = "/tmp/vfsteer-shell-policy-" + std::to_string(getpid()) + ".yaml";
      std::ofstream(path) << text;
      for (const auto& cmd : std::vector<std::vector<std::string>>{{"plan", "-f", path}, {"apply", "-f", path}}) {
        auto r = vfsteerCli(cmd);
        refused += r.status != 0;
        EXPECT_FALSE(fs::exists(marker)) << cmd[0] << " ran a shell command from:\n" << text;
      }
    }
    for (const auto& cmd : std::vector<std::vector<std::string>>{{"teardown", "--instance", p},
                                                                {"report", "--instance", p},
                                                                {"discover", "--pf", p},
                                                                {"apply", "-f", p}}) {
      auto r = vfsteerCli(cmd);
      refused += r.status != 0;
      EXPECT_FALSE(fs::exists(marker)) << "vfsteer " << cmd[0] << " ran a shell command from its arguments";
    }
  }
  EXPECT_GT(refused, 0);
}

// The product code starts no programs at all: no shell, no ip or tc.
TEST(NoShell, ProductSourcesStartNoProcesses) {
  const std::regex spawn(R"(\b(system|popen|execl|execlp|execle|execv|execvp|execve|posix_spawnp?|fork)\()");
  int files = 0;
  for (const char* dir : {"common", "policies", "demux", "netlink", "representors", "orchestrator"}) {
    for (const auto& e : fs::recursive_directory_iterator(std::string(VFSTEER_SOURCE_DIR) + "/" + dir)) {
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".c") continue;
      ++files;
      std::ifstream in(e.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n)
        EXPECT_FALSE(std::regex_search(line, spawn)) << e.path().string() << ":" << n << ": " << line;
    }
  }
  EXPECT_GT(files, 50);
}

}  // namespace
}  // namespace vfsteer::testing
