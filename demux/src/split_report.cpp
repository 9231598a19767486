#include "vfsteer/demux/split_report.hpp"

namespace vfsteer::demux {

SplitReport splitReport(const policies::Policy& policy, const Plan& plan) {
  SplitReport r;
  r.policy = policy.file;
  r.profile = plan.profile;
  r.engine = plan.engine;
  r.errors = plan.errors;
  r.chains.reserve(plan.chains.size());
  for (size_t i = 0; i < plan.chains.size(); ++i) {
    const ChainPlan& c = plan.chains[i];
    SplitReport::Chain out;
    out.name = c.name;
    out.priority = c.priority;
    out.from = c.from.str();
    out.mode = c.mode;
    out.match = policy.chains[i].match.describe();
    out.matchFields = policy.chains[i].match.fields();
    out.demuxInNic = c.demuxInNic;
    out.split = c.split;
    out.handover = c.handover;
    out.reason = c.reason;
    out.conditions = c.conditions;
    for (const auto& st : c.stages) out.stages.push_back({st.kind, st.description, st.where, st.reason});
    r.chains.push_back(std::move(out));
  }
  // Rules and host entries are listed per side in match order; each names
  // its chain by index.
  for (const auto& n : plan.nicRules)
    r.chains[n.chain].nicRules.push_back({n.tcPriority, n.tcHandle, n.location, n.l3, policy.chains[n.chain].match.tcProtocol(n.l3),
                                          n.stageCount, n.exit, n.gotoTcChain, {}});
  for (const auto& h : plan.hostRules) r.chains[h.chain].host = SplitReport::HostView{h.entry, h.startStage, h.tcChain};
  return r;
}

}  // namespace vfsteer::demux
