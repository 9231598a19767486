// Capability profiles: YAML → Profile, with the same strictness as policies.
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>

#include "vfsteer/policies/loader.hpp"
#include "vfsteer/common/names.hpp"
#include "yaml_reader.hpp"

namespace vfsteer::policies {
namespace {

using detail::child;
using detail::element;
using detail::YamlNode;
using detail::YamlPath;
using detail::YamlReader;

// Reads a list of vocabulary words into a set, reporting unknown words.
template <class E, class Parse, size_t N>
void readWordSet(YamlReader& r, const YamlNode& node, const YamlPath& path, std::set<E>& out,
                 Parse parse, const std::array<E, N>& all) {
  if (!r.expectSequence(node, path)) return;
  std::vector<std::string_view> known;
  for (E e : all) known.push_back(name(e));
  for (size_t i = 0; i < node.size(); ++i) {
    auto word = r.string(node[i], element(path, i));
    if (!word) continue;
    auto value = parse(*word);
    if (!value) {
      std::string msg = "unknown word " + names::quoted(*word);
      if (const auto& s = detail::suggest(*word, known)) msg += "; did you mean \"" + *s + "\"?";
      r.error(node[i], element(path, i), msg);
      continue;
    }
    out.insert(*value);
  }
}

class ProfileReader {
 public:
  explicit ProfileReader(const std::string& file) : r_(file) {}

  Result<Profile> read(std::string_view text) {
    auto doc = r_.parse(text);
    if (!doc) return r_.toError();
    const YamlNode root = doc->root();
    Profile p;
    p.file = r_.file();
    p.pos = r_.pos(root);
    if (!r_.expectMap(root, "",
                      {"name", "description", "drivers", "hardware", "bpf_offload",
                       "provisioning", "metadata", "host"}))
      return r_.toError();
    if (r_.require(root, "name", ""))
      if (const auto& n = r_.string(root["name"], "name")) p.name = *n;
    if (const auto& n = root["description"])
      if (const auto& d = r_.string(n, "description")) p.description = *d;
    if (const auto& n = root["drivers"]) {
      const YamlPath driversPath = "drivers";
      if (r_.expectSequence(n, driversPath))
        for (size_t i = 0; i < n.size(); ++i)
          if (const auto& d = r_.string(n[i], element(driversPath, i))) p.drivers.push_back(*d);
    }
    if (r_.require(root, "hardware", "")) readHardware(root["hardware"], p);
    if (const auto& n = root["bpf_offload"]) readBpfOffload(n, p);
    if (const auto& n = root["provisioning"]) readProvisioning(n, p);
    if (const auto& n = root["metadata"]) readMetadata(n, p);
    if (const auto& n = root["host"]) readHost(n, p);
    if (r_.failed()) return r_.toError();
    return p;
  }

 private:
  void readHardware(const YamlNode& node, Profile& p) {
    const YamlPath path = "hardware";
    if (!r_.expectMap(node, path,
                      {"engine", "match", "stages", "targets", "vf_side_targets", "tunnels", "vlan_depth",
                       "l4_port_protocols", "tunnel_needs_outer_dst", "conditions", "miss_to_software",
                       "trap_to_host", "vf_side_rules", "rule_budget", "tc_priorities", "rule_counters", "ip_versions",
                       "ip_protocols", "shared_mask", "mask_per_protocol", "whole_fields", "rule_needs_protocol",
                       "u32_link_tables", "flow_rule_locations"}))
      return;
    if (r_.require(node, "engine", path)) {
      if (const auto& e = r_.oneOf(node["engine"], child(path, "engine"), {"none", "flower", "bpf", "u32", "ntuple"}))
        p.engine = *e == "flower"   ? NicEngine::kFlower
                   : *e == "bpf"    ? NicEngine::kBpf
                   : *e == "u32"    ? NicEngine::kU32
                   : *e == "ntuple" ? NicEngine::kNtuple
                                    : NicEngine::kNone;
    }
    if (const auto& n = node["match"])
      readWordSet(r_, n, child(path, "match"), p.matchKeys, parseMatchKey, kAllMatchKeys);
    if (const auto& n = node["stages"])
      readWordSet(r_, n, child(path, "stages"), p.stages, parseStageKind, kAllStageKinds);
    if (const auto& n = node["targets"])
      readWordSet(r_, n, child(path, "targets"), p.targets, parseTargetKind, kAllTargetKinds);
    if (const auto& n = node["vf_side_targets"]) {
      p.vfSideTargets.emplace();
      readWordSet(r_, n, child(path, "vf_side_targets"), *p.vfSideTargets, parseTargetKind, kAllTargetKinds);
    }
    if (const auto& n = node["l4_port_protocols"]) readPortProtocols(n, child(path, "l4_port_protocols"), p);
    if (const auto& n = node["tunnel_needs_outer_dst"])
      if (const auto& v = r_.boolean(n, child(path, "tunnel_needs_outer_dst"))) p.tunnelNeedsOuterDst = *v;
    if (const auto& n = node["tunnels"])
      readWordSet(r_, n, child(path, "tunnels"), p.tunnels, parseTunnelType, kAllTunnelTypes);
    if (const auto& n = node["vlan_depth"])
      if (const auto& v = r_.unsignedInt(n, child(path, "vlan_depth"), 0, 2)) p.vlanDepth = static_cast<int>(*v);
    if (const auto& n = node["miss_to_software"])
      if (const auto& v = r_.boolean(n, child(path, "miss_to_software"))) p.missToSoftware = *v;
    if (const auto& n = node["trap_to_host"])
      if (const auto& v = r_.boolean(n, child(path, "trap_to_host"))) p.trapToHost = *v;
    if (const auto& n = node["vf_side_rules"])
      if (const auto& v = r_.boolean(n, child(path, "vf_side_rules"))) p.vfSideRules = *v;
    if (const auto& n = node["rule_budget"])
      if (const auto& v = r_.unsignedInt(n, child(path, "rule_budget"), 0, 100000000))
        p.ruleBudget = static_cast<int>(*v);
    if (const auto& n = node["rule_counters"])
      if (const auto& v = r_.boolean(n, child(path, "rule_counters"))) p.ruleCounters = *v;
    if (const auto& n = node["tc_priorities"])
      if (const auto& v = r_.unsignedInt(n, child(path, "tc_priorities"), 1, 9999))
        p.tcPriorities = static_cast<int>(*v);
    if (const auto& n = node["ip_versions"]) readIpVersions(n, child(path, "ip_versions"), p);
    if (const auto& n = node["ip_protocols"]) readProtocols(n, child(path, "ip_protocols"), p.ipProtocols);
    if (const auto& n = node["shared_mask"])
      if (const auto& v = r_.boolean(n, child(path, "shared_mask"))) p.sharedMask = *v;
    if (const auto& n = node["mask_per_protocol"]) {
      if (const auto& v = r_.boolean(n, child(path, "mask_per_protocol"))) p.maskPerProtocol = *v;
      if (p.sharedMask && p.maskPerProtocol)
        r_.error(n, child(path, "mask_per_protocol"), "shared_mask and mask_per_protocol contradict: choose one");
    }
    if (const auto& n = node["whole_fields"])
      if (const auto& v = r_.boolean(n, child(path, "whole_fields"))) p.wholeFields = *v;
    if (const auto& n = node["rule_needs_protocol"])
      if (const auto& v = r_.boolean(n, child(path, "rule_needs_protocol"))) p.ruleNeedsProtocol = *v;
    if (const auto& n = node["u32_link_tables"]) {
      if (const auto& v = r_.unsignedInt(n, child(path, "u32_link_tables"), 1, 4095))
        p.u32LinkTables = static_cast<int>(*v);
      if (p.engine != NicEngine::kU32)
        r_.error(n, child(path, "u32_link_tables"), "u32_link_tables needs engine u32");
    }
    if (const auto& n = node["flow_rule_locations"]) {
      if (const auto& v = r_.unsignedInt(n, child(path, "flow_rule_locations"), 1, 1u << 20))
        p.flowRuleLocations = static_cast<int>(*v);
      if (p.engine != NicEngine::kNtuple)
        r_.error(n, child(path, "flow_rule_locations"), "flow_rule_locations needs engine ntuple");
    }
    if (const auto& n = node["conditions"]) readConditions(n, child(path, "conditions"), p);
    if (p.engine == NicEngine::kNone && (!p.stages.empty() || !p.matchKeys.empty()))
      r_.error(node, path, "engine none cannot claim match keys or stages");
    // u32 keys sit at IPv4 header offsets (u32_layout.hpp); vfsteer's
    // ntuple rules are ethtool's IPv4 flow types.
    if (p.engine == NicEngine::kU32 || p.engine == NicEngine::kNtuple) {
      const std::string engine(name(p.engine));
      if (p.ipVersions.size() != 1 || !p.ipVersions.contains(4))
        r_.error(node, path, "engine " + engine + " matches IPv4 headers only; state ip_versions: [4]");
      checkFilterClaims(node, path, p, engine);
    }
    if (p.engine != NicEngine::kNone && p.matchKeys.empty())
      r_.error(node, path, "a hardware engine needs at least one match key");
  }

  // Engines u32 and ntuple build their rules from IPv4 addresses, the
  // protocol and ports, with one final drop or steer to a VF
  // (u32_rules.cpp, ntuple_rules.cpp): a claim beyond that would put chains
  // in the NIC whose other fields no rule would check.
  void checkFilterClaims(const YamlNode& node, const YamlPath& path, const Profile& p, const std::string& engine) {
    for (MatchKey k : p.matchKeys)
      if (std::find(kU32MatchKeys.begin(), kU32MatchKeys.end(), k) == kU32MatchKeys.end())
        r_.error(node["match"], child(path, "match"),
                 "engine " + engine + " cannot match " + std::string(name(k)) +
                     " (its rules read IPv4 addresses, the protocol and ports)");
    for (StageKind s : p.stages)
      if (s != StageKind::kDrop && s != StageKind::kDeliver)
        r_.error(node["stages"], child(path, "stages"),
                 "engine " + engine + " cannot run " + std::string(name(s)) + " (its rules drop or steer to a VF)");
    for (TargetKind t : p.targets)
      if (t != TargetKind::kVf)
        r_.error(node["targets"], child(path, "targets"),
                 "engine " + engine + " cannot deliver to " + std::string(name(t)) + " (it steers to VFs)");
    if (!p.tunnels.empty()) r_.error(node["tunnels"], child(path, "tunnels"), "engine " + engine + " cannot match tunnels");
    if (p.missToSoftware)
      r_.error(node["miss_to_software"], child(path, "miss_to_software"), "engine " + engine + " cannot hand a packet on to the host");
    if (p.trapToHost)
      r_.error(node["trap_to_host"], child(path, "trap_to_host"), "engine " + engine + " cannot hand a packet on to the host");
    if (p.vfSideRules)
      r_.error(node["vf_side_rules"], child(path, "vf_side_rules"),
               "engine " + engine + " cannot put rules on VF traffic (legacy mode has no representors)");
  }

  // Conditions name claims of this profile (read after the claims).
  void readConditions(const YamlNode& node, const YamlPath& path, Profile& p) {
    if (!node.IsMap()) {
      r_.error(node, path, "expected a map of claim: condition");
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const YamlNode& key = node.key(i);
      const YamlNode& value = node.value(i);
      const std::string word(key.Scalar());
      const bool claimed = (parseStageKind(word) && p.canRun(*parseStageKind(word))) ||
                           (parseMatchKey(word) && p.canMatch(*parseMatchKey(word))) ||
                           (parseTunnelType(word) && p.canTunnel(*parseTunnelType(word)));
      if (!claimed) {
        r_.error(key, child(path, word), names::quoted(word) + " is not a stage, match key or tunnel this "
                                                                     "profile claims");
        continue;
      }
      if (const auto& text = r_.string(value, child(path, word))) p.conditions[word] = *text;
    }
  }

  // The protocols whose ports a policy can match at all.
  void readPortProtocols(const YamlNode& node, const YamlPath& path, Profile& p) {
    if (!r_.expectSequence(node, path)) return;
    for (size_t i = 0; i < node.size(); ++i)
      if (const auto& w = r_.oneOf(node[i], element(path, i), {"tcp", "udp", "sctp"}))
        p.l4PortProtocols.insert(*w == "tcp" ? IPPROTO_TCP : *w == "udp" ? IPPROTO_UDP : IPPROTO_SCTP);
  }

  // IP protocols by the words a policy uses for them.
  void readProtocols(const YamlNode& node, const YamlPath& path, std::set<uint8_t>& out) {
    if (!r_.expectSequence(node, path)) return;
    std::vector<std::string_view> words;
    for (const auto& [word, number] : kIpProtocolNames) words.emplace_back(word);
    for (size_t i = 0; i < node.size(); ++i)
      if (const auto& w = r_.oneOf(node[i], element(path, i), words))
        for (const auto& [word, number] : kIpProtocolNames)
          if (*w == word) out.insert(number);
  }

  void readIpVersions(const YamlNode& node, const YamlPath& path, Profile& p) {
    if (!r_.expectSequence(node, path)) return;
    for (size_t i = 0; i < node.size(); ++i)
      if (const auto& v = r_.oneOf(node[i], element(path, i), {"4", "6"})) p.ipVersions.insert(*v == "4" ? 4 : 6);
  }

  void readBpfOffload(const YamlNode& node, Profile& p) {
    if (!r_.expectMap(node, "bpf_offload", {"xdp", "cls_bpf"})) return;
    if (const auto& n = node["xdp"])
      if (const auto& v = r_.boolean(n, "bpf_offload.xdp")) p.xdpOffload = *v;
    if (const auto& n = node["cls_bpf"])
      if (const auto& v = r_.boolean(n, "bpf_offload.cls_bpf")) p.clsBpfOffload = *v;
    if (p.engine == NicEngine::kBpf && !p.xdpOffload && !p.clsBpfOffload)
      r_.error(node, "bpf_offload", "engine bpf needs xdp or cls_bpf offload");
  }

  void readProvisioning(const YamlNode& node, Profile& p) {
    const YamlPath path = "provisioning";
    if (!r_.expectMap(node, path, {"order", "switchdev", "eswitch_change_with_vfs", "rate_api"})) return;
    if (const auto& n = node["switchdev"])
      if (const auto& v = r_.boolean(n, child(path, "switchdev"))) p.switchdev = *v;
    if (const auto& n = node["order"])
      if (const auto& v = r_.oneOf(n, child(path, "order"), {"vfs_first", "eswitch_first"}))
        p.provisionOrder =
            *v == "vfs_first" ? ProvisionOrder::kVfsFirst : ProvisionOrder::kEswitchFirst;
    if (const auto& n = node["eswitch_change_with_vfs"])
      if (const auto& v = r_.boolean(n, child(path, "eswitch_change_with_vfs"))) p.eswitchChangeWithVfs = *v;
    if (const auto& n = node["rate_api"]) {
      const YamlPath rpath = child(path, "rate_api");
      if (!r_.expectMap(n, rpath, {"legacy", "switchdev"})) return;
      auto api = [&](const YamlNode& v, const YamlPath& at) -> std::optional<RateApi> {
        auto w = r_.oneOf(v, at, {"rtnetlink", "devlink", "none"});
        if (!w) return std::nullopt;
        return *w == "rtnetlink" ? RateApi::kRtnetlink
                                 : (*w == "devlink" ? RateApi::kDevlink : RateApi::kNone);
      };
      if (const auto& v = n["legacy"])
        if (const auto& a = api(v, child(rpath, "legacy"))) p.rateApiLegacy = *a;
      if (const auto& v = n["switchdev"])
        if (const auto& a = api(v, child(rpath, "switchdev"))) p.rateApiSwitchdev = *a;
    }
  }

  void readHost(const YamlNode& node, Profile& p) {
    if (!r_.expectMap(node, "host", {"xdp"})) return;
    if (const auto& n = node["xdp"])
      if (const auto& v = r_.oneOf(n, "host.xdp", {"none", "generic", "native"}))
        p.hostXdp = *v == "native" ? HostXdp::kNative : (*v == "generic" ? HostXdp::kGeneric : HostXdp::kNone);
  }

  void readMetadata(const YamlNode& node, Profile& p) {
    if (!r_.expectMap(node, "metadata", {"rx_hash", "rx_timestamp", "vlan_tag", "checksum"})) return;
    if (const auto& n = node["rx_hash"])
      if (const auto& v = r_.boolean(n, "metadata.rx_hash")) p.rxHash = *v;
    if (const auto& n = node["rx_timestamp"])
      if (const auto& v = r_.boolean(n, "metadata.rx_timestamp")) p.rxTimestamp = *v;
    if (const auto& n = node["vlan_tag"])
      if (const auto& v = r_.boolean(n, "metadata.vlan_tag")) p.rxVlanTag = *v;
    if (const auto& n = node["checksum"])
      if (const auto& v = r_.boolean(n, "metadata.checksum")) p.rxChecksum = *v;
  }

  YamlReader r_;
};

Result<std::string> readWholeFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::kNotFound,
                 std::string("cannot read ") + what + " \"" + path + "\": " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

Result<Profile> loadProfileText(std::string_view text, const std::string& file) {
  return ProfileReader(file).read(text);
}

Result<Profile> loadProfileFile(const std::string& path) {
  VFSTEER_ASSIGN_OR_RETURN(std::string text, readWholeFile(path, "profile"));
  return loadProfileText(text, path);
}

Result<ProfileDir> loadProfileDir(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  if (ec)
    return Error(ErrorCode::kNotFound,
                 "cannot list profile directory \"" + dir + "\": " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) return Error(ErrorCode::kNotFound, "no profiles (*.yaml) in \"" + dir + "\"");
  ProfileDir out;
  for (const auto& f : files) {
    auto p = loadProfileFile(f);
    if (!p.ok()) {
      out.broken.push_back({f, std::filesystem::path(f).stem().string(), p.error()});
      continue;
    }
    auto same = std::find_if(out.profiles.begin(), out.profiles.end(),
                             [&](const Profile& o) { return o.name == p->name; });
    if (same != out.profiles.end()) {
      // Neither may be chosen: which one was meant is anyone's guess.
      Error twice(ErrorCode::kInvalidInput, f + ": profile name " + names::quoted(p->name) + " is also used by " +
                                                same->file + "; rename one of them");
      out.broken.push_back({same->file, p->name, twice});
      out.broken.push_back({f, p->name, twice});
      out.profiles.erase(same);
      continue;
    }
    out.profiles.push_back(std::move(*p));
  }
  return out;
}

Result<Profile> selectProfile(const ProfileDir& dir, std::string_view name, std::string_view driver) {
  const auto& profiles = dir.profiles;
  std::vector<std::string_view> profileNames;
  for (const auto& p : profiles) profileNames.push_back(p.name);
  std::string known;
  for (auto n : profileNames) known += (known.empty() ? "" : ", ") + std::string(n);
  // The broken ones are named too, so that "unknown" never hides "broken";
  // with their errors, since under "auto" one of them may be the profile
  // meant.
  // (Two files with one name share one error: say it once.)
  std::string unread;
  std::set<std::string> said;
  for (const auto& b : dir.broken)
    if (said.insert(b.error.describe()).second) unread += "; " + b.error.describe();
  if (!unread.empty()) known += "; not readable" + unread;
  if (name != "auto") {
    for (const auto& b : dir.broken)
      if (b.name == name) return Error(b.error).addContext("profile " + names::quoted(name));
    for (const auto& p : profiles)
      if (p.name == name) return p;
    std::string msg = "unknown profile " + names::quoted(name);
    if (const auto& s = detail::suggest(name, profileNames)) msg += "; did you mean \"" + *s + "\"?";
    return Error(ErrorCode::kInvalidInput, msg + " (profiles: " + known + ")");
  }
  if (driver.empty())
    return Error(ErrorCode::kInvalidInput,
                 "profile auto needs the PF's driver, which is unknown here; name a profile with "
                 "--profile (profiles: " + known + ")");
  for (const auto& p : profiles)
    if (std::find(p.drivers.begin(), p.drivers.end(), driver) != p.drivers.end()) return p;
  return Error(ErrorCode::kNotSupported,
               "no profile lists driver \"" + std::string(driver) +
                   "\"; name one with --profile or device.profile (profiles: " + known + ")");
}

}  // namespace vfsteer::policies
