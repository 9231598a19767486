// Helpers for the VM tier: a netdevsim device per test, shell tools' JSON,
// and a snapshot of what the kernel holds, to show that a failed command
// changed nothing.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace vfsteer::testing {

// Runs a tool, fails the test when it fails, returns its stdout.
std::string sh(const std::vector<std::string>& argv);
// The same for "-j" tools: their parsed output ([] when empty).
nlohmann::json shJson(const std::vector<std::string>& argv);
// Writes `text` to a new file and returns its path.
std::string writeFile(const std::string& text, const std::string& suffix = ".yaml");
void writeSysfs(const std::string& path, const std::string& value);
std::string readSysfs(const std::string& path);

bool haveNetdevsim();

// `vfsteer report -o json` of an instance ({} and a test failure when it fails).
nlohmann::json reportJson(const std::string& instance);
// `vfsteer plan -f FILE -o json ARGS...` ({} and a test failure when it fails).
nlohmann::json planJson(const std::string& file, const std::vector<std::string>& args);
// A report's (or a plan's) chain by name ({} and a test failure when it has none).
const nlohmann::json& reportChain(const nlohmann::json& report, const std::string& name);

#define VFSTEER_REQUIRE_VM()                                                                \
  do {                                                                                      \
    if (!::vfsteer::testing::haveNetdevsim())                                               \
      GTEST_SKIP() << "needs netdevsim: run through tests/vm/vm-run (ctest -L vm does)";  \
  } while (0)

// One simulated NIC with one port: created by the constructor, removed
// (with its VFs and representors) by the destructor.
class Netdevsim {
 public:
  Netdevsim();
  ~Netdevsim();
  Netdevsim(const Netdevsim&) = delete;
  Netdevsim& operator=(const Netdevsim&) = delete;

  const std::string& pf() const { return pf_; }
  int pfIfindex() const;
  std::string devlink() const { return "netdevsim/netdevsim" + std::to_string(id_); }
  std::string debugfs() const { return "/sys/kernel/debug/netdevsim/netdevsim" + std::to_string(id_); }
  std::string sysfs() const { return "/sys/bus/netdevsim/devices/netdevsim" + std::to_string(id_); }

  void setNumVfs(int n);
  void setSwitchdev();
  void hwTcOffload(bool on);

  // vfsteer's NIC model (tests/vm/nic-model/flower.c): "off", "mlx5",
  // "ice", "nfp" or "ixgbe" (ixgbe.c); its knobs by name ("budget",
  // "fail_next", "max_prio").
  void flowerModel(const std::string& model);
  void modelKnob(const std::string& knob, uint32_t value);
  struct ModelRule {
    std::string dev;
    uint32_t chain = 0, prio = 0;
    uint64_t packets = 0, bytes = 0;
  };
  // The rules the model holds, in the order it took them.
  std::vector<ModelRule> modelRules() const;
  // Sets the counters tc stats reports for the rule at (dev, chain, prio).
  void setModelCounters(const std::string& dev, uint32_t prio, uint64_t packets, uint64_t bytes);
  // The ixgbe model's flow director filters (tests/vm/nic-model/ixgbe.c), one
  // line each, by location: "LOC FLOW/MASK SRC/MASK DST/MASK SPORT/MASK
  // DPORT/MASK ACTION", e.g. "10 tcp4/7 0.0.0.0/0.0.0.0
  // 10.0.0.0/255.255.255.0 0/0 80/65535 vf0".
  std::vector<std::string> fdirRules() const;
  // The i40e model's filters (tests/vm/nic-model/i40e.c), by location:
  // "LOC FLOW SRC/MASK DST/MASK SPORT/MASK DPORT/MASK ACTION", the masks
  // its flow type's input set, e.g. "10 tcp4 0.0.0.0/0.0.0.0
  // 10.0.0.1/255.255.255.255 0/0 80/65535 vf0".
  std::vector<std::string> i40eRules() const;
  // vf → representor netdev, from devlink.
  std::map<int, std::string> representors() const;
  // The PF and its representors.
  std::vector<std::string> ports() const;

 private:
  std::vector<std::string> debugfsLines(const std::string& file) const;  // non-empty lines of a debugfs file
  int id_;
  std::string pf_;
};

// A test with a netdevsim device made on first use and removed, with
// anything vfsteer left on it, afterwards.
class VmTest : public ::testing::Test {
 protected:
  void SetUp() override { VFSTEER_REQUIRE_VM(); }
  void TearDown() override {
    if (nsim_) runVfsteer({"teardown", "--instance", nsim_->pf()});
  }
  Netdevsim& nsim() {
    if (!nsim_) nsim_ = std::make_unique<Netdevsim>();
    return *nsim_;
  }
  std::unique_ptr<Netdevsim> nsim_;
};

// The namespace lab inside the guest (the lab's veths, a kernel with flower):
// up for each test, down after it with whatever was applied on it.
class VmLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VFSTEER_REQUIRE_VM();
    auto up = runVfsteer({"lab", "up", "--vfs", "4"});
    ASSERT_EQ(up.status, 0) << up.err;
    labUp_ = true;
  }
  void TearDown() override {
    if (!labUp_) return;
    runVfsteer({"teardown"});
    runVfsteer({"lab", "down"});
  }
  bool labUp_ = false;
};

// Everything about the device a failed apply must leave alone: links with
// VF info and XDP, every qdisc and ingress filter (all chains) of `devs`,
// devlink eswitch, ports and rates, vfsteer's pins and state.
std::string kernelSnapshot(const Netdevsim& nsim, const std::vector<std::string>& devs);

}  // namespace vfsteer::testing
