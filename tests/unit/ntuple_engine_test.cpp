// Engine ntuple (profile ixgbe-ntuple): which chains get a flow rule and at
// which location, the rules built for them, reconcile's order for a shared
// mask, and the executor against an in-memory flow director (insert at a
// location replaces, one mask while any rule is left, as ixgbe's
// ixgbe_add_ethtool_fdir_entry()). The VM tier runs the same against the
// NIC model's ixgbe through the real ioctls.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "engine/change_set.hpp"
#include "engine/execute.hpp"
#include "engine/journal.hpp"
#include "engine/ntuple_rules.hpp"
#include "engine/reconcile.hpp"
#include "legacy_policy.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer {
namespace {

using policies::Policy;
using policies::Profile;
using testing::chain;
using testing::planOf;
using testing::policyText;
namespace rxnfc = netlink::rxnfc;

Profile ixgbeNtuple() { return testing::shippedProfile("ixgbe-ntuple"); }

std::map<std::string, uint32_t> locations(const Policy& policy, const demux::Plan& plan) {
  std::map<std::string, uint32_t> out;
  for (const auto& r : plan.nicRules) out[policy.chains[r.chain].name] = r.location;
  return out;
}

// ---- the plan ---------------------------------------------------------------

TEST(NtuplePlan, EachNicChainGetsItsPriorityAsLocation) {
  const Policy policy = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}") +
                                   chain("tls", 20, "dst_ip: 10.0.1.0/24, ip_proto: tcp, dst_port: 443", "drop") +
                                   chain("dns", 30, "dst_ip: 10.0.2.0/24, ip_proto: udp, dst_port: 53", "{deliver: {vf: 2}}"));
  auto plan = demux::plan(policy, ixgbeNtuple());
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  ASSERT_TRUE(plan->ok());
  EXPECT_EQ(locations(policy, *plan), (std::map<std::string, uint32_t>{{"web", 10}, {"tls", 20}, {"dns", 30}}));
  EXPECT_TRUE(plan->u32Links.empty());
  for (const auto& r : plan->nicRules) EXPECT_EQ(r.tcPriority, 0u) << "not a tc filter";
}

TEST(NtuplePlan, PrioritiesBeyondTheLocationsAreNumberedInMatchOrder) {
  Profile small = ixgbeNtuple();
  small.flowRuleLocations = 16;
  const Policy policy = policyText(chain("a", 10, "dst_ip: 10.0.0.1/32", "drop") +
                                   chain("b", 30, "dst_ip: 10.0.0.2/32", "drop") +
                                   chain("c", 20, "dst_ip: 10.0.0.3/32", "drop"));
  auto plan = demux::plan(policy, small);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(locations(policy, *plan), (std::map<std::string, uint32_t>{{"a", 0}, {"c", 1}, {"b", 2}}));
}

TEST(NtuplePlan, OneMaskForAllRulesAndNoCatchAll) {
  const Policy policy = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "drop") +
                                   chain("wide", 20, "dst_ip: 10.0.0.0/16, ip_proto: tcp, dst_port: 80", "drop") +
                                   chain("all", 30, "ethertype: ipv4", "drop"));
  auto plan = demux::plan(policy, ixgbeNtuple());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(planOf(*plan, "web").demuxInNic);
  EXPECT_FALSE(planOf(*plan, "wide").demuxInNic);
  EXPECT_NE(planOf(*plan, "wide").reason.find("set by chain web"), std::string::npos) << planOf(*plan, "wide").reason;
  EXPECT_FALSE(planOf(*plan, "all").demuxInNic);
}

TEST(NtuplePlan, AFullDeviceSendsTheRestToTheHostWithTheReason) {
  Profile tiny = ixgbeNtuple();
  tiny.flowRuleLocations = 2;
  tiny.ruleBudget = 0;
  std::string chains;
  for (int i = 0; i < 3; ++i) chains += chain("c" + std::to_string(i), 10 + i, "dst_ip: 10.0.0." + std::to_string(i) + "/32", "drop");
  const Policy policy = policyText(chains);
  auto plan = demux::plan(policy, tiny);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(planOf(*plan, "c1").demuxInNic);
  EXPECT_FALSE(planOf(*plan, "c2").demuxInNic);
  EXPECT_NE(planOf(*plan, "c2").reason.find("the device's 2 flow rule locations are used"), std::string::npos)
      << planOf(*plan, "c2").reason;
}

// A flow director has no order between its filters and one filter per
// match: of two chains with the same match, the second, shadowed anyway,
// runs on the host.
TEST(NtuplePlan, AChainWithAnEarlierChainsMatchRunsOnTheHost) {
  const Policy policy = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}") +
                                   chain("same", 20, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "drop") +
                                   chain("other", 30, "dst_ip: 10.0.1.0/24, ip_proto: tcp, dst_port: 80", "drop"));
  for (const Profile& profile : {ixgbeNtuple(), testing::shippedProfile("ixgbe")}) {
    auto plan = demux::plan(policy, profile);
    ASSERT_TRUE(plan.ok());
    EXPECT_TRUE(planOf(*plan, "web").demuxInNic) << profile.name;
    EXPECT_TRUE(planOf(*plan, "other").demuxInNic) << profile.name;
    EXPECT_FALSE(planOf(*plan, "same").demuxInNic) << profile.name;
    EXPECT_NE(planOf(*plan, "same").reason.find("chain web matches the same packets first"), std::string::npos)
        << planOf(*plan, "same").reason;
  }
}

TEST(NtupleProfile, ClaimsAreBoundedLikeU32s) {
  auto bad = policies::loadProfileText("name: x\nhardware:\n  engine: ntuple\n  ip_versions: [4]\n"
                                       "  match: [dst_ip4, vlan]\n  stages: [deliver, mirror]\n",
                                       "x.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.error().message();
  for (const char* words : {"x.yaml:5:", "engine ntuple cannot match vlan", "x.yaml:6:", "engine ntuple cannot run mirror"})
    EXPECT_NE(m.find(words), std::string::npos) << words << " in:\n" << m;
  auto misplaced = policies::loadProfileText(
      "name: x\nhardware:\n  engine: u32\n  ip_versions: [4]\n  match: [dst_ip4]\n  flow_rule_locations: 10\n", "x.yaml");
  ASSERT_FALSE(misplaced.ok());
  EXPECT_NE(misplaced.error().message().find("x.yaml:6:"), std::string::npos);
  EXPECT_NE(misplaced.error().message().find("flow_rule_locations needs engine ntuple"), std::string::npos);
}

// i40e: whole fields, a rule names its protocol, one input set per flow
// type (i40e_check_fdir_input_set()).
Profile i40e() { return testing::shippedProfile("i40e"); }

TEST(NtuplePlan, I40eTakesWholeFieldsOneMaskPerProtocolAndNoRuleWithoutAProtocol) {
  const Policy policy = policyText(
      chain("web", 10, "dst_ip: 10.0.0.1/32, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}") +
      chain("dns", 20, "src_ip: 10.0.1.1, ip_proto: udp", "drop") +  // another mask, another protocol: its own
      chain("tls", 30, "dst_ip: 10.0.0.2/32, ip_proto: tcp, dst_port: 443", "{deliver: {vf: 1}}") +
      chain("ssh", 40, "ethertype: ipv4, ip_proto: tcp, dst_port: 22", "drop") +  // tcp's mask is web's
      chain("net", 50, "dst_ip: 10.0.2.0/24, ip_proto: tcp, dst_port: 80", "drop") +
      chain("any", 60, "dst_ip: 10.0.3.1/32", "drop"));
  auto plan = demux::plan(policy, i40e());
  ASSERT_TRUE(plan.ok());
  for (const char* name : {"web", "dns", "tls"}) EXPECT_TRUE(planOf(*plan, name).demuxInNic) << name;
  EXPECT_FALSE(planOf(*plan, "ssh").demuxInNic);
  EXPECT_NE(planOf(*plan, "ssh").reason.find(
                "profile i40e holds one match mask for the hardware rules of each protocol (for tcp: dst_ip /32, "
                "ip_proto, dst_port, set by chain web), and this chain matches ip_proto, dst_port"),
            std::string::npos)
      << planOf(*plan, "ssh").reason;
  EXPECT_NE(planOf(*plan, "net").reason.find("dst_ip 10.0.2.0/24: profile i40e matches each field whole"),
            std::string::npos)
      << planOf(*plan, "net").reason;
  EXPECT_NE(planOf(*plan, "any").reason.find("no ip_proto: profile i40e steers by flow type"), std::string::npos)
      << planOf(*plan, "any").reason;
}

TEST(NtupleProfile, OneMaskForAllOrOnePerProtocolNotBoth) {
  auto both = policies::loadProfileText("name: x\nhardware:\n  engine: ntuple\n  ip_versions: [4]\n  match: [dst_ip4]\n"
                                        "  shared_mask: true\n  mask_per_protocol: true\n",
                                        "x.yaml");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message().find("x.yaml:7:"), std::string::npos) << both.error().message();
  EXPECT_NE(both.error().message().find("shared_mask and mask_per_protocol contradict"), std::string::npos);
}

// ---- the rules --------------------------------------------------------------

std::vector<engine::FlowRule> rulesFor(const Policy& policy) {
  auto plan = demux::plan(policy, ixgbeNtuple());
  EXPECT_TRUE(plan.ok() && plan->ok());
  auto rules = engine::buildFlowRules(policy, *plan, "eth0");
  EXPECT_TRUE(rules.ok()) << rules.error().describe();
  return rules.ok() ? *rules : std::vector<engine::FlowRule>{};
}

TEST(NtupleRules, AChainBecomesOneRuleWithItsFieldsMasksAndVf) {
  const auto rules = rulesFor(policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 3}}") +
                                         chain("dns", 20, "dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53", "drop")));
  ASSERT_EQ(rules.size(), 2u);
  const rxnfc::FlowRule& web = rules[0].rule;
  EXPECT_EQ(rules[0].chain, "web");
  EXPECT_EQ(rules[0].device, "eth0");
  EXPECT_EQ(web.type, rxnfc::FlowRule::Type::kTcp4);
  EXPECT_EQ(ntohl(web.dstIp), 0x0a000000u);
  EXPECT_EQ(ntohl(web.dstIpMask), 0xffffff00u);
  EXPECT_EQ(web.srcIpMask, 0u);
  EXPECT_EQ(ntohs(web.dstPort), 80);
  EXPECT_EQ(web.dstPortMask, 0xffff);
  EXPECT_EQ(web.srcPortMask, 0u);
  ASSERT_TRUE(web.vf.has_value());
  EXPECT_EQ(*web.vf, 3);
  EXPECT_EQ(web.queue, 0u);
  EXPECT_FALSE(web.drop);
  EXPECT_EQ(web.location, 10u);
  EXPECT_EQ(rxnfc::ethtoolArgs(web), "flow-type tcp4 dst-ip 10.0.0.0 m 0.0.0.255 dst-port 80 vf 3 queue 0 loc 10");
  EXPECT_EQ(rxnfc::ethtoolArgs(rules[1].rule), "flow-type udp4 dst-ip 10.0.1.0 m 0.0.0.255 dst-port 53 action -1 loc 20");
}

TEST(NtupleRules, AnAddressAloneIsAnIp4RuleThatIgnoresTheProtocol) {
  const auto rules = rulesFor(policyText(chain("host", 10, "src_ip: 192.168.1.7/32", "drop")));
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].rule.type, rxnfc::FlowRule::Type::kIp4);
  EXPECT_EQ(rules[0].rule.protoMask, 0);
  EXPECT_EQ(rxnfc::ethtoolArgs(rules[0].rule), "flow-type ip4 src-ip 192.168.1.7 action -1 loc 10");
  EXPECT_FALSE(engine::maskOf(rules[0].rule).l4);
}

// ---- reconcile ---------------------------------------------------------------

engine::FlowRule rule(uint32_t location, uint16_t port, uint32_t dstMask = 0xffffff00) {
  engine::FlowRule r;
  r.device = "eth0";
  r.chain = "c" + std::to_string(location);
  r.rule.type = rxnfc::FlowRule::Type::kTcp4;
  r.rule.dstIp = htonl(0x0a000000), r.rule.dstIpMask = htonl(dstMask);
  r.rule.dstPort = htons(port), r.rule.dstPortMask = 0xffff;
  r.rule.vf = 1;
  r.rule.location = location;
  return r;
}

engine::ObservedState holding(const std::vector<engine::FlowRule>& ours, std::set<uint32_t> theirs = {}) {
  engine::ObservedState o;
  o.ifindex["eth0"] = IfIndex{2};
  for (const auto& r : ours) {
    engine::FlowRule held = r;
    held.chain.clear();  // observe cannot know it
    o.owned.insert_or_assign(engine::keyOf(held), held);
    theirs.insert(r.rule.location);
  }
  o.flowRuleLocations["eth0"] = theirs;
  return o;
}

engine::DesiredState wanting(const std::vector<engine::FlowRule>& rules) {
  engine::DesiredState d;
  for (const auto& r : rules) d.add(r);
  return d;
}

TEST(NtupleReconcile, ARuleChangedInPlaceIsOneReplaceAndAGoneChainWaitsForTheHost) {
  const auto changes = engine::reconcile(wanting({rule(10, 80), rule(20, 8443)}),
                                         holding({rule(10, 80), rule(20, 443), rule(30, 53)}));
  ASSERT_TRUE(changes.ok()) << changes.error().describe();
  ASSERT_EQ(changes->changes.size(), 2u);
  EXPECT_EQ(changes->changes[0].op, engine::Op::kReplace);
  EXPECT_EQ(changes->changes[0].key().index, 20u);
  EXPECT_EQ(changes->changes[0].phase, engine::Phase::kNicStandalone);
  EXPECT_EQ(changes->changes[1].op, engine::Op::kRemove);
  EXPECT_EQ(changes->changes[1].key().index, 30u);
  EXPECT_EQ(changes->changes[1].phase, engine::Phase::kRetireNic);
  EXPECT_TRUE(engine::reconcile(wanting({rule(10, 80)}), holding({rule(10, 80)}))->empty());
}

TEST(NtupleReconcile, ANewMaskTakesEveryRuleOutFirst) {
  const auto changes = engine::reconcile(wanting({rule(10, 80, 0xffff0000), rule(20, 443, 0xffff0000)}),
                                         holding({rule(10, 80), rule(20, 443)}));
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->changes.size(), 4u);
  for (int i : {0, 1}) {
    EXPECT_EQ(changes->changes[i].op, engine::Op::kRemove);
    EXPECT_EQ(changes->changes[i].phase, engine::Phase::kMakeRoom);
  }
  for (int i : {2, 3}) {
    EXPECT_EQ(changes->changes[i].op, engine::Op::kAdd);
    EXPECT_EQ(changes->changes[i].phase, engine::Phase::kNicStandalone);
  }
}

TEST(NtupleReconcile, SomeoneElsesRuleAtALocationIsAConflict) {
  auto changes = engine::reconcile(wanting({rule(10, 80), rule(20, 443)}), holding({rule(10, 80)}, {20}));
  ASSERT_FALSE(changes.ok());
  EXPECT_EQ(changes.error().code(), ErrorCode::kConflict);
  EXPECT_NE(changes.error().message().find("flow director location 20 on eth0 holds a flow rule vfsteer does not own"),
            std::string::npos)
      << changes.error().message();
  EXPECT_NE(changes.error().message().find("chain c20's flow rule would replace it"), std::string::npos);
}

// ---- execute, against an in-memory flow director ---------------------------

// ixgbe_add_ethtool_fdir_entry() and ixgbe_del_ethtool_fdir_entry(): an
// insert replaces the rule at its location; the first rule sets the one
// mask, another is EINVAL while any rule is left; `refuse` makes the driver
// refuse an insert at that location (a budget, a field it cannot match).
class FlowDirector : public engine::EthtoolPort {
 public:
  std::map<uint32_t, rxnfc::FlowRule> rules;
  std::set<uint32_t> refuse;
  int writes = 0;

  Result<std::vector<uint32_t>> flowRuleLocations(const std::string&) override {
    std::vector<uint32_t> out;
    for (const auto& [l, r] : rules) out.push_back(l);
    return out;
  }
  Result<std::optional<rxnfc::FlowRule>> flowRule(const std::string&, uint32_t location) override {
    auto it = rules.find(location);
    return it == rules.end() ? std::optional<rxnfc::FlowRule>() : std::optional(it->second);
  }
  Status insertFlowRule(const std::string&, const rxnfc::FlowRule& rule) override {
    ++writes;
    if (refuse.contains(rule.location)) return Error::fromErrno(ENOSPC, "insert");
    std::map<uint32_t, rxnfc::FlowRule> others = rules;
    others.erase(rule.location);
    if (!others.empty() && !(engine::maskOf(others.begin()->second) == engine::maskOf(rule)))
      return Error::fromErrno(EINVAL, "insert");
    rules[rule.location] = rule;
    return okStatus();
  }
  Status deleteFlowRule(const std::string&, uint32_t location) override {
    ++writes;
    if (!rules.erase(location)) return Error(ErrorCode::kNotFound, "no rule");
    return okStatus();
  }
};

// The executor's other ports: a change set of flow rules never reaches them.
class Untouched : public engine::NetlinkPort, public engine::ProgramPort {
 public:
  Result<std::vector<netlink::RequestOutcome>> transact(std::vector<netlink::Message>) override { return untouched(); }
  Result<std::vector<netlink::RawMessage>> dump(netlink::Message) override { return untouched(); }
  Result<UniqueFd> loadDemux(const std::vector<bpf_insn>&, representors::DemuxHook, int) override { return untouched(); }
  Result<uint32_t> programId(int) override { return untouched(); }
  Result<UniqueFd> programById(uint32_t) override { return untouched(); }
  Result<UniqueFd> loadXdpRxEntry(const std::string&, int) override { return untouched(); }
  static Error untouched() { return Error(ErrorCode::kInternal, "a flow rule change reached another port"); }
};

class NoDatapath : public engine::DatapathPort {
 public:
  const std::string& dir() const override { return dir_; }
  bool present() const override { return false; }
  Status create() override { return Untouched::untouched(); }
  Status destroy() override { return Untouched::untouched(); }
  int ingressFd() const override { return -1; }
  uint32_t ingressProgId() const override { return 0; }
  int continueFd() const override { return -1; }
  uint32_t continueProgId() const override { return 0; }
  int xdpFd() const override { return -1; }
  uint32_t xdpProgId() const override { return 0; }
  bool usesItsMaps(uint32_t) const override { return false; }
  uint32_t activeGeneration() const override { return 0; }
  Result<representors::HostTables> readGeneration(uint32_t) const override { return Untouched::untouched(); }
  uint32_t classifierProgId(uint32_t) const override { return 0; }
  Status writeGeneration(uint32_t, const representors::HostTables&) override { return Untouched::untouched(); }
  Status activate(uint32_t) override { return Untouched::untouched(); }
  Status clearGeneration(uint32_t) override { return Untouched::untouched(); }
  Status loadUserProgram(const representors::UserProgram&) override { return Untouched::untouched(); }
  Status unloadUserProgram(uint32_t) override { return Untouched::untouched(); }
  std::vector<uint32_t> userProgramSlots() const override { return {}; }
  Status resetChainCounters(uint32_t) override { return Untouched::untouched(); }
  Result<representors::ChainCounters> chainCounters(uint32_t) const override { return Untouched::untouched(); }
  Result<representors::GlobalCounters> globalCounters() const override { return Untouched::untouched(); }

 private:
  std::string dir_;
};

class NtupleExecute : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("vfsteer-ntuple-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    store_.emplace(dir_.string());
    journal_.emplace(*store_, "eth0", "t.yaml", engine::Journal{}, false);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Reconciles `want` against what the flow director holds (all of it
  // vfsteer's) and runs it.
  Result<std::vector<engine::Refusal>> apply(const std::vector<engine::FlowRule>& want, engine::Executor& exec) {
    VFSTEER_ASSIGN_OR_RETURN(engine::ChangeSet changes, engine::reconcile(wanting(want), model_));
    return exec.run(changes);
  }
  engine::Executor executor() {
    return engine::Executor(engine::ExecutePorts{untouched_, datapath_, untouched_, &fdir_}, "eth0", model_, *journal_);
  }
  void hold(const std::vector<engine::FlowRule>& rules) {
    for (const auto& r : rules) fdir_.rules[r.rule.location] = r.rule;
    model_ = holding(rules);
  }

  std::filesystem::path dir_;
  std::optional<engine::StateStore> store_;
  std::optional<engine::JournalKeeper> journal_;
  FlowDirector fdir_;
  Untouched untouched_;
  NoDatapath datapath_;
  engine::ObservedState model_ = holding({});
};

TEST_F(NtupleExecute, AMaskChangeGoesThroughAnEmptyFlowDirectorAndRollsBackToTheOldRules) {
  hold({rule(10, 80), rule(20, 443)});
  const auto before = fdir_.rules;
  {
    engine::Executor exec = executor();
    auto refusals = apply({rule(10, 80, 0xffff0000), rule(20, 443, 0xffff0000), rule(30, 53, 0xffff0000)}, exec);
    ASSERT_TRUE(refusals.ok()) << refusals.error().describe();
    EXPECT_TRUE(refusals->empty());
    ASSERT_EQ(fdir_.rules.size(), 3u);
    EXPECT_EQ(ntohl(fdir_.rules.at(30).dstIpMask), 0xffff0000u);
    EXPECT_EQ(fdir_.writes, 5) << "two deletes, three inserts";
    const auto& journaled = journal_->journal().flowRules.at("eth0");
    ASSERT_EQ(journaled.size(), 3u) << "written down before each insert";
    EXPECT_EQ(journaled.at(30), (std::set<std::string>{rxnfc::ethtoolArgs(fdir_.rules.at(30))}));
    EXPECT_TRUE(exec.rollback().empty());
  }
  EXPECT_EQ(fdir_.rules, before) << "the old mask's rules are back";
}

TEST_F(NtupleExecute, ARefusedRuleIsARefusalUnlessItsChainIsSkipSw) {
  fdir_.refuse.insert(20);
  engine::Executor exec = executor();
  auto refusals = apply({rule(10, 80), rule(20, 443)}, exec);
  ASSERT_TRUE(refusals.ok()) << refusals.error().describe();
  ASSERT_EQ(refusals->size(), 1u);
  EXPECT_EQ((*refusals)[0].chains, std::vector<std::string>{"c20"});
  EXPECT_NE((*refusals)[0].reason.find("the NIC refused its flow rule: No space left on device"), std::string::npos)
      << (*refusals)[0].reason;
  EXPECT_EQ(fdir_.rules.size(), 1u) << "c10 is in";
  exec.rollback();
  EXPECT_TRUE(fdir_.rules.empty());

  engine::FlowRule strict = rule(20, 443);
  strict.skipSw = true;
  model_ = holding({});
  engine::Executor again = executor();
  auto failed = apply({rule(10, 80), strict}, again);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().describe().find("chain c20 is skip-sw and the NIC refused its flow rule"), std::string::npos)
      << failed.error().describe();
  EXPECT_TRUE(again.rollback().empty());
  EXPECT_TRUE(fdir_.rules.empty()) << "all or nothing";
}

TEST_F(NtupleExecute, SomeoneElsesRuleSurvivesRetiringOurs) {
  hold({rule(10, 80)});
  rxnfc::FlowRule theirs = rule(500, 22).rule;
  fdir_.rules[500] = theirs;
  model_.flowRuleLocations["eth0"].insert(500);
  engine::Executor exec = executor();
  auto refusals = apply({}, exec);
  ASSERT_TRUE(refusals.ok());
  exec.commit();
  ASSERT_EQ(fdir_.rules.size(), 1u);
  EXPECT_EQ(fdir_.rules.at(500), theirs);
}

}  // namespace
}  // namespace vfsteer
