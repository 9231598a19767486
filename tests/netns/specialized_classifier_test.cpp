// The classifier made for one policy (bpf_classifier.hpp), run by the
// kernel, against the tables it replaces and the reference interpreter. For
// generated policies and packets, the keys the datapath's parser leaves in
// its scratch (the model tests/unit checks against the interpreter, see
// host_model.hpp) are written there, BPF_PROG_TEST_RUN runs the classifier,
// and the verdict it leaves behind must be the chain the tables pick and the
// chain the interpreter picks. Parsing and the chains' stages are the
// datapath's own code either way, so classification is all that differs.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "engine/host_program.hpp"
#include "generators.hpp"
#include "host_model.hpp"
#include "packets.hpp"
#include "scratch_netns.hpp"
#include "vfsteer/common/unique_fd.hpp"
#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/bpf_classifier.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::testing {
namespace {

using namespace policies;
using representors::Datapath;
using representors::DemuxHook;
using representors::HostRule;
using representors::HostTables;

constexpr uint32_t kUntouched = 0xdeadu;

// 40 to 64 chains over three match shapes, values from small domains so
// that they overlap (and shadow each other by priority). A shape holds for a
// stretch of consecutive priorities, so that the classifier's binary search
// over a run of one shape's rules is exercised too.
std::string manyRules(Generator& gen) {
  const int n = 40 + gen.pick(25);
  std::string y = "version: 1\ndevice: {pf: eth0, vfs: {count: 3}}\nchains:\n";
  int shape = 0, stretch = 0;
  for (int i = 0; i < n; ++i) {
    if (stretch-- == 0) {
      shape = gen.pick(3);
      stretch = gen.pick(20);
    }
    std::string match, to = "{vf: " + std::to_string(gen.pick(3)) + "}";
    switch (shape) {
      case 0: match = "{ip_proto: udp, dst_port: " + std::to_string(50 + gen.pick(30)) + "}"; break;
      case 1:
        match = "{vlan: " + std::to_string(1 + gen.pick(4)) + ", dst_ip: 10.0." + std::to_string(gen.pick(8)) +
                ".0/24}";
        break;
      default:
        match = "{from: {vf: " + std::to_string(gen.pick(3)) + "}, ip_proto: tcp, src_port: " +
                std::to_string(1000 + gen.pick(10)) + "}";
        to = "uplink";  // a VF's traffic back to itself would be a loop
    }
    y += "  - {name: c" + std::to_string(i) + ", priority: " + std::to_string(1 + i) +
         ", match: " + match + ", stages: [{deliver: " + to + "}]}\n";
  }
  return y;
}

// A datapath of its own, pinned for the test's life.
class OwnDatapath {
 public:
  OwnDatapath() {
    dir_ = "/sys/fs/bpf/vfsteer-spec-test-" + std::to_string(getpid());
    auto dp = Datapath::create(dir_);
    if (!dp.ok()) {
      error_ = dp.error().describe();
      return;
    }
    dp_.emplace(std::move(*dp));
    scratch_ = UniqueFd(bpf_obj_get((dir_ + "/vfs_scratch").c_str()));
  }
  ~OwnDatapath() {
    if (dp_) (void)dp_->destroy();
  }
  const std::string& error() const { return error_; }
  Datapath& dp() { return *dp_; }

  // Runs `classifier` on keys `k` in the scratch of every CPU; the verdict
  // it left on the CPU it ran on (nothing for no chain).
  std::optional<uint32_t> classify(int classifier, const Keys& k) {
    const size_t cpus = static_cast<size_t>(libbpf_num_possible_cpus());
    const size_t stride = (sizeof(vfs_scratch) + 7) / 8 * 8;
    std::vector<uint8_t> values(cpus * stride);
    vfs_scratch s{};
    s.p.outer = k.outer;
    s.p.inner = k.inner;
    s.p.has_inner = k.hasInner;
    s.spec.verdict = kUntouched;
    for (size_t c = 0; c < cpus; ++c) std::memcpy(&values[c * stride], &s, sizeof s);
    uint32_t zero = 0;
    EXPECT_EQ(bpf_map_update_elem(scratch_.get(), &zero, values.data(), BPF_ANY), 0);
    uint8_t frame[64] = {};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof frame, .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(classifier, &opts), 0) << std::strerror(errno);
    EXPECT_EQ(bpf_map_lookup_elem(scratch_.get(), &zero, values.data()), 0);
    for (size_t c = 0; c < cpus; ++c) {
      vfs_scratch after{};
      std::memcpy(&after, &values[c * stride], sizeof after);
      if (after.spec.verdict == kUntouched) continue;
      EXPECT_TRUE(after.spec.verdict == VFS_HO_CHAIN || after.spec.verdict == VFS_HO_UNMATCHED)
          << after.spec.verdict;
      if (after.spec.verdict == VFS_HO_CHAIN) return after.spec.slot;
      return std::nullopt;
    }
    ADD_FAILURE() << "the classifier left no verdict";
    return std::nullopt;
  }

 private:
  std::string dir_, error_;
  std::optional<Datapath> dp_;
  UniqueFd scratch_;
};

TEST(SpecializedClassifier, PicksTheChainTheTablesAndTheInterpreterPick) {
  VFSTEER_REQUIRE_ROOT();
  OwnDatapath own;
  ASSERT_TRUE(own.error().empty()) << own.error();
  Generator gen(4242);
  demux::PlanOptions allHost;
  allHost.all = OffloadMode::kSkipHw;
  Profile none;
  none.name = "none";
  size_t cases = 0, matched = 0, policies = 0, largest = 0, refused = 0;
  for (int round = 0; round < 160; ++round) {
    // Mostly generated small policies; every fourth near the limit of what
    // is specialized.
    auto policy = loadPolicyText(round % 4 == 0 ? manyRules(gen) : gen.policyYaml(6, 3), "gen.yaml");
    ASSERT_TRUE(policy.ok()) << policy.error().describe();
    // Chains with bpf stages name objects that do not exist here.
    std::erase_if(policy->chains, [](const Chain& c) {
      return std::any_of(c.stages.begin(), c.stages.end(), [](const Stage& s) { return s.kind() == StageKind::kBpf; });
    });
    auto plan = demux::plan(*policy, none, allHost);
    ASSERT_TRUE(plan.ok() && plan->ok());
    auto program = engine::buildHostProgram(*policy, *plan, modelBindings(3), nullptr);
    if (!program.ok()) {
      ++refused;
      continue;
    }
    if (!representors::specializable(program->tables)) continue;
    std::map<uint32_t, size_t> chainOfSlot;  // a chain's slot is its id
    for (const auto& [name, id] : program->chainIds)
      for (size_t c = 0; c < policy->chains.size(); ++c)
        if (policy->chains[c].name == name) chainOfSlot[id] = c;
    ++policies;
    largest = std::max(largest, program->tables.rules.size());
    for (DemuxHook hook : {DemuxHook::kTc, DemuxHook::kXdp}) {
      auto classifier = own.dp().loadClassifier(program->tables, hook);
      ASSERT_TRUE(classifier.ok()) << classifier.error().describe();
      for (int i = 0; i < 25; ++i) {
        demux::Packet p = gen.packet(*policy);
        const Keys keys = keysOf(p, program->tables);
        const auto want = lookup(program->tables, keys);
        const auto got = own.classify(classifier->get(), keys);
        ASSERT_EQ(got, want) << "round " << round << " packet " << i << " ("
                             << (hook == DemuxHook::kTc ? "tc" : "xdp") << ")";
        std::optional<size_t> chain;
        if (got) chain = chainOfSlot.at(*got);
        ASSERT_EQ(chain, demux::runWhole(*policy, p, {}).chain) << "round " << round << " packet " << i;
        ++cases;
        matched += got.has_value();
      }
    }
  }
  std::printf("specialized classifiers: %zu policies (up to %zu rules; %zu refused), %zu packets, %zu matched a chain\n",
              policies, largest, refused, cases, matched);
  EXPECT_GT(policies, 100u);
  EXPECT_GT(largest, 50u);
  EXPECT_GT(matched, cases / 3);
  EXPECT_LT(matched, cases);
}

// One rule for frames from lo (where test runs put them): its chain drops
// them, so the verdict says whether the rule matched.
HostTables dropTables(HostTables::Classifier classifier) {
  HostTables t = udpTables(1, /*ingress=*/1, /*target=*/0);
  t.classifier = classifier;
  return t;
}

// What `prog` (tc or XDP) did with the rule's frame from lo: its verdict,
// and the mark it left (tc; BPF_PROG_TEST_RUN gives back no queue_mapping).
struct TestRun {
  int verdict = 0;
  uint32_t mark = 0;
};

TestRun runOnRuleFrame(int prog, DemuxHook hook) {
  const bool tc = hook == DemuxHook::kTc;
  const TestRunOnLo r = testRunOnLo(prog, tc, udpFrame(0));
  EXPECT_EQ(r.err, 0) << std::strerror(r.err);
  return {static_cast<int>(r.verdict), r.mark};
}

int verdictOn(int prog, DemuxHook hook) { return runOnRuleFrame(prog, hook).verdict; }

// Empties the datapath's compact rule map: only a classifier that does not
// read the tables still matches.
void dropTableRules(const std::string& dir) {
  UniqueFd rules(bpf_obj_get((dir + "/vfs_rules_compact").c_str()));
  ASSERT_TRUE(rules);
  vfs_compact_rule_key key{};
  while (bpf_map_get_next_key(rules.get(), nullptr, &key) == 0) ASSERT_EQ(bpf_map_delete_elem(rules.get(), &key), 0);
}

TEST(SpecializedClassifier, TheEntriesRunItInsteadOfTheTablesAndAPolicySwapTakesItAlong) {
  VFSTEER_REQUIRE_ROOT();
  OwnDatapath own;
  ASSERT_TRUE(own.error().empty()) << own.error();
  Datapath& dp = own.dp();
  const uint32_t spec = dp.activeGeneration() ^ 1;
  ASSERT_TRUE(dp.writeGeneration(spec, dropTables(HostTables::Classifier::kSpecialized)).ok());
  ASSERT_TRUE(dp.activate(spec).ok());
  auto read = dp.readGeneration(spec);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->classifier, HostTables::Classifier::kSpecialized);
  EXPECT_TRUE(read->sameAs(dropTables(HostTables::Classifier::kSpecialized)));
  EXPECT_FALSE(read->sameAs(dropTables(HostTables::Classifier::kTables)));
  dropTableRules(dp.dir());
  EXPECT_EQ(verdictOn(dp.ingressFd(), DemuxHook::kTc), TC_ACT_SHOT);
  EXPECT_EQ(verdictOn(dp.xdpFd(), DemuxHook::kXdp), XDP_DROP);

  // The next policy classifies with its tables: the swap takes the
  // classifier out of the path with the generation.
  const uint32_t tables = spec ^ 1;
  ASSERT_TRUE(dp.writeGeneration(tables, dropTables(HostTables::Classifier::kTables)).ok());
  ASSERT_TRUE(dp.activate(tables).ok());
  EXPECT_EQ(verdictOn(dp.ingressFd(), DemuxHook::kTc), TC_ACT_SHOT);
  EXPECT_EQ(verdictOn(dp.xdpFd(), DemuxHook::kXdp), XDP_DROP);
  dropTableRules(dp.dir());
  EXPECT_EQ(verdictOn(dp.ingressFd(), DemuxHook::kTc), TC_ACT_OK);
  EXPECT_EQ(verdictOn(dp.xdpFd(), DemuxHook::kXdp), XDP_PASS);
  auto now = dp.readGeneration(tables);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->classifier, HostTables::Classifier::kTables);
  // Clearing the replaced generation removes its classifier.
  ASSERT_TRUE(dp.clearGeneration(spec).ok());
  auto cleared = dp.readGeneration(spec);
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->classifier, HostTables::Classifier::kTables);
}

// What an entry did with the rule's frame from lo (runOnRuleFrame) and the
// chain's counters (the counters show that a queue stage ran).
struct Outcome {
  int verdict = 0;
  uint32_t mark = 0;
  uint64_t packets = 0, bytes = 0;
  std::vector<uint64_t> stagePackets, stageBytes;
  bool operator==(const Outcome&) const = default;
};

Outcome runOnce(Datapath& dp, DemuxHook hook) {
  EXPECT_TRUE(dp.resetChainCounters(0).ok());
  const TestRun run = runOnRuleFrame(hook == DemuxHook::kTc ? dp.ingressFd() : dp.xdpFd(), hook);
  Outcome o;
  o.verdict = run.verdict;
  o.mark = run.mark;
  auto c = dp.chainCounters(0);
  EXPECT_TRUE(c.ok());
  if (c.ok()) {
    o.packets = c->packets;
    o.bytes = c->bytes;
    o.stagePackets = c->stagePackets;
    o.stageBytes = c->stageBytes;
  }
  return o;
}

vfs_stage stage(uint8_t kind, uint32_t u32 = 0, uint16_t u16 = 0) {
  vfs_stage st{};
  st.kind = kind;
  st.u32 = u32;
  st.u16 = u16;
  return st;
}

// A chain made of stages the classifier writes out runs in the classifier
// itself: same verdict, mark and counters as the tables and run_chain().
// vfs_run is taken out of the program array for the specialized runs, so a
// classifier that handed the chain to it would fall through to its "no run
// entry" exit (TC_ACT_OK or XDP_PASS, nothing counted).
TEST(SpecializedClassifier, RunsTheChainsItCanWriteOutAsTheDatapathDoes) {
  VFSTEER_REQUIRE_ROOT();
  OwnDatapath own;
  ASSERT_TRUE(own.error().empty()) << own.error();
  Datapath& dp = own.dp();
  const std::vector<std::pair<DemuxHook, std::vector<vfs_stage>>> chains = {
      {DemuxHook::kTc, {stage(VFS_ST_MARK, 0x80000007u), stage(VFS_ST_QUEUE, 0, 3), stage(VFS_ST_REDIRECT, 1)}},
      {DemuxHook::kTc, {stage(VFS_ST_MARK, 42), stage(VFS_ST_HOST)}},
      {DemuxHook::kTc, {stage(VFS_ST_HOST_QUEUE, 0, 2)}},
      {DemuxHook::kTc, {stage(VFS_ST_DROP)}},
      {DemuxHook::kXdp, {stage(VFS_ST_REDIRECT, 1)}},
      {DemuxHook::kXdp, {stage(VFS_ST_DROP)}},
  };
  for (const auto& [hook, stages] : chains) {
    const bool tc = hook == DemuxHook::kTc;
    SCOPED_TRACE(std::string(tc ? "tc" : "xdp") + " chain of " + std::to_string(stages.size()) + " stages, first " +
                 std::to_string(stages[0].kind));
    std::optional<Outcome> byTables;
    for (auto classifier : {HostTables::Classifier::kTables, HostTables::Classifier::kSpecialized}) {
      HostTables t = udpTables(1, /*ingress=*/1, /*target=*/0, /*tcOnly=*/tc);
      t.chains[0].nstages = static_cast<uint16_t>(stages.size());
      std::copy(stages.begin(), stages.end(), t.chains[0].stages);
      t.classifier = classifier;
      const uint32_t next = dp.activeGeneration() ^ 1;
      ASSERT_TRUE(dp.writeGeneration(next, t).ok());
      ASSERT_TRUE(dp.activate(next).ok());
      if (classifier == HostTables::Classifier::kTables) {
        byTables = runOnce(dp, hook);
        EXPECT_EQ(byTables->packets, 1u);
        EXPECT_EQ(byTables->stagePackets[stages.size() - 1], 1u);
        // The mark is read back, so comparing it below means something.
        if (stages[0].kind == VFS_ST_MARK) {
          EXPECT_EQ(byTables->mark, stages[0].u32);
        }
        continue;
      }
      UniqueFd array(bpf_obj_get((dp.dir() + (tc ? "/vfs_spec_tc" : "/vfs_spec_xdp")).c_str()));
      ASSERT_TRUE(array);
      uint32_t run = VFS_SPEC_RUN, runProg = 0;
      ASSERT_EQ(bpf_map_lookup_elem(array.get(), &run, &runProg), 0);  // the prog id
      UniqueFd runFd(bpf_prog_get_fd_by_id(runProg));
      ASSERT_TRUE(runFd);
      ASSERT_EQ(bpf_map_delete_elem(array.get(), &run), 0);
      EXPECT_EQ(runOnce(dp, hook), *byTables);
      int fd = runFd.get();
      ASSERT_EQ(bpf_map_update_elem(array.get(), &run, &fd, BPF_ANY), 0);
    }
  }
}

// A datapath an older vfsteer pinned has no classifier arrays: it still
// opens, classifies with its tables, refuses a classifier and a port's RX
// metadata entry with what to do (pinning nothing new), and tears down.
TEST(SpecializedClassifier, ADatapathPinnedWithoutItStillOpensAndSaysWhatToDo) {
  VFSTEER_REQUIRE_ROOT();
  const std::string dir = "/sys/fs/bpf/vfsteer-spec-old-" + std::to_string(getpid());
  {
    auto created = Datapath::create(dir);
    ASSERT_TRUE(created.ok()) << created.error().describe();
  }
  for (const char* pin : {"vfs_spec_tc", "vfs_spec_xdp", "vfs_scratch"})
    ASSERT_EQ(::unlink((dir + "/" + pin).c_str()), 0) << pin;
  auto opened = Datapath::open(dir);
  ASSERT_TRUE(opened.ok()) << opened.error().describe();
  ASSERT_TRUE(opened->has_value());
  Datapath& dp = **opened;
  const uint32_t standby = dp.activeGeneration() ^ 1;
  EXPECT_TRUE(dp.writeGeneration(standby, dropTables(HostTables::Classifier::kTables)).ok());
  EXPECT_EQ(dp.classifierProgId(standby), 0u);
  auto refused = dp.writeGeneration(standby, dropTables(HostTables::Classifier::kSpecialized));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kNotSupported);
  EXPECT_NE(refused.error().message().find("device.host_classifier: tables"), std::string::npos)
      << refused.error().message();
  auto rx = Datapath::loadRxEntry(dir, 1);
  EXPECT_FALSE(rx.ok());
  if (!rx.ok()) {
    EXPECT_EQ(rx.error().code(), ErrorCode::kNotSupported);
    EXPECT_NE(rx.error().message().find("vfsteer teardown"), std::string::npos) << rx.error().message();
  }
  for (const char* pin : {"vfs_spec_tc", "vfs_spec_xdp", "vfs_scratch"})
    EXPECT_FALSE(std::filesystem::exists(dir + "/" + pin)) << pin << " pinned anew";
  EXPECT_TRUE(dp.destroy().ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace vfsteer::testing
