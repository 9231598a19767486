#include "engine/instances.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "vfsteer/common/names.hpp"
#include "vfsteer/common/paths.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::engine {

namespace fs = std::filesystem;

Result<InstanceRef> parseInstance(const std::string& name) {
  VFSTEER_TRY(names::checkInstanceName(name));
  InstanceRef r;
  r.instance = name;
  auto colon = name.find(':');
  r.pf = name.substr(0, colon);
  if (colon != std::string::npos) r.netns = name.substr(colon + 1);
  return r;
}

Result<representors::Topology> discoverDevice(const policies::Device& device,
                                              representors::DiscoverOptions options) {
  if (device.netns) options.netns = device.netns;
  return representors::discover(device.pf, options);
}

Result<InstanceRef> resolveInstance(const std::optional<std::string>& instance,
                                    const std::optional<std::string>& policyFile,
                                    const representors::DiscoverOptions& discover,
                                    const StateStore& store) {
  if (instance) return parseInstance(*instance);
  if (policyFile) {
    VFSTEER_ASSIGN_OR_RETURN(auto policy, policies::loadPolicyFile(*policyFile));
    VFSTEER_ASSIGN_OR_RETURN(auto topo, discoverDevice(policy.device, discover));
    return parseInstance(topo.instance());
  }
  // Instances known by state, or by pins left behind without state.
  std::set<std::string> known;
  for (const auto& i : store.instances()) known.insert(i);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths::kPinRoot, ec))
    if (entry.is_directory() && names::checkInstanceName(entry.path().filename().string()).ok())
      known.insert(entry.path().filename().string());
  if (known.size() == 1) return parseInstance(*known.begin());
  if (known.empty())
    return Error(ErrorCode::kNotFound, "vfsteer has applied nothing on this machine (no state, no "
                                       "pinned datapath)");
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  return Error(ErrorCode::kInvalidInput,
               "several instances exist (" + list + "); choose one with --instance or -f POLICY");
}

Status requirePrivileges(const std::string& command) {
  if (::geteuid() == 0) return okStatus();
  // Effective capabilities from /proc/self/status (bit 12 NET_ADMIN, 21
  // SYS_ADMIN, 39 BPF).
  std::ifstream in("/proc/self/status");
  std::string line;
  unsigned long long eff = 0;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) eff = std::stoull(line.substr(7), nullptr, 16);
  const bool netAdmin = eff & (1ULL << 12);
  const bool bpf = (eff & (1ULL << 21)) || (eff & (1ULL << 39));
  if (netAdmin && bpf) return okStatus();
  return Error(ErrorCode::kPermission,
               "vfsteer " + command + " changes network and BPF state: run it as root (or with "
               "CAP_NET_ADMIN and CAP_BPF); nothing was changed");
}

}  // namespace vfsteer::engine
