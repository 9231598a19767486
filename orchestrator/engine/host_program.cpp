#include "engine/host_program.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <filesystem>

#include "engine/encoded_match.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::engine {

using namespace policies;
namespace fs = std::filesystem;

namespace {

struct KeyMask {
  vfs_key key{};
  vfs_key mask{};
  bool inner = false;
};

// A shape whose mask is zero past the compact part is looked up with the
// short key.
bool compactMask(const vfs_key& mask) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&mask);
  for (size_t i = VFS_KEY_COMPACT; i < sizeof mask; ++i)
    if (bytes[i]) return false;
  return true;
}

template <size_t N>
void copyMasked(uint8_t (&key)[N], uint8_t (&mask)[N], const MaskedBytes<N>& m) {
  std::memcpy(key, m.value.data(), N);
  std::memcpy(mask, m.mask.data(), N);
}

// An IPv4 prefix fills the 4-byte field, an IPv6 prefix the 16-byte one
// (both as the packet holds them).
void copyPrefix(uint32_t& key4, uint32_t& mask4, uint8_t (&key6)[16], uint8_t (&mask6)[16], const EncodedPrefix& p) {
  if (p.v6) {
    copyMasked(key6, mask6, p.bits);
  } else {
    std::memcpy(&key4, p.bits.value.data(), 4);
    std::memcpy(&mask4, p.bits.mask.data(), 4);
  }
}

void copyTag(uint16_t& tpid, uint16_t& tci, uint16_t& tpidMask, uint16_t& tciMask, const EncodedTag& t) {
  tpid = htons(t.tpid);
  tpidMask = 0xffff;
  tci = htons(t.tci());
  tciMask = htons(t.tciMask());
}

template <class T>
void exact(T& key, T& mask, T value) {
  key = value;
  mask = static_cast<T>(~T{});
}

// The datapath's key for one encoded match entering on `ifindex`. With a
// tunnel, the L2..L4 keys describe the inner frame.
KeyMask hostKey(const EncodedMatch& e, int ifindex) {
  KeyMask km;
  km.inner = e.tunnel.has_value();
  exact(km.key.ifindex, km.mask.ifindex, static_cast<uint32_t>(ifindex));
  if (e.dstMac) copyMasked(km.key.dmac, km.mask.dmac, *e.dstMac);
  if (e.srcMac) copyMasked(km.key.smac, km.mask.smac, *e.srcMac);
  if (e.outer) copyTag(km.key.tpid0, km.key.tci0, km.mask.tpid0, km.mask.tci0, *e.outer);
  if (e.untagged) exact(km.key.tpid0, km.mask.tpid0, uint16_t{0});  // the datapath's key of an untagged frame
  if (e.inner) copyTag(km.key.tpid1, km.key.tci1, km.mask.tpid1, km.mask.tci1, *e.inner);
  if (e.ethertype) exact(km.key.ethertype, km.mask.ethertype, htons(*e.ethertype));
  if (e.srcIp) copyPrefix(km.key.src4, km.mask.src4, km.key.src6, km.mask.src6, *e.srcIp);
  if (e.dstIp) copyPrefix(km.key.dst4, km.mask.dst4, km.key.dst6, km.mask.dst6, *e.dstIp);
  if (e.ipProto) exact(km.key.ip_proto, km.mask.ip_proto, *e.ipProto);
  if (e.srcPort) exact(km.key.sport, km.mask.sport, htons(*e.srcPort));
  if (e.dstPort) exact(km.key.dport, km.mask.dport, htons(*e.dstPort));
  if (e.tunnel) {
    const EncodedTunnel& t = *e.tunnel;
    exact(km.key.tun_type, km.mask.tun_type,
          static_cast<uint8_t>(t.type == TunnelType::kVxlan ? VFS_TUN_VXLAN : VFS_TUN_GENEVE));
    exact(km.key.tun_port, km.mask.tun_port, htons(t.dstPort));
    if (t.vni) exact(km.key.vni, km.mask.vni, htonl(*t.vni));
    if (t.outerL3) exact(km.key.tun_l3, km.mask.tun_l3, t.outerL3);
    if (t.srcIp) copyPrefix(km.key.tun_src4, km.mask.tun_src4, km.key.tun_src6, km.mask.tun_src6, *t.srcIp);
    if (t.dstIp) copyPrefix(km.key.tun_dst4, km.mask.tun_dst4, km.key.tun_dst6, km.mask.tun_dst6, *t.dstIp);
  }
  return km;
}

// One key per IP version the match covers.
std::vector<KeyMask> keysFor(const Match& m, IfIndex ifindex) {
  std::vector<KeyMask> out;
  for (IpVersion l3 : ipVersionsOf(m)) out.push_back(hostKey(encodeMatch(m, l3), ifindex.value));
  return out;
}

std::string tupleIdentity(const KeyMask& km) {
  std::string id(reinterpret_cast<const char*>(&km.mask), sizeof km.mask);
  id += km.inner ? '1' : '0';
  return id;
}

Result<IfIndex> targetIfindex(const Target& t, const HostBindings& b, const std::string& where) {
  if (t.kind == TargetKind::kUplink) return b.uplinkIfindex;
  auto it = b.repIfindex.find(VfIndex{t.index});
  if (it == b.repIfindex.end())
    return Error(ErrorCode::kNotFound, where + " sends to vf" + std::to_string(t.index) +
                                           ", but the device has no representor for VF " +
                                           std::to_string(t.index));
  return it->second;
}

// Why the chain cannot run in the XDP entry on `ingress` (nothing: it can).
// vfs_xdp has no skb (no mark, no queue, no clone for a mirror), cannot
// tail-call a tc program, and a packet it hands to the stack meets the tc
// entry, which would run the chain again (from XDP's verdict, or after
// classifying it where the driver keeps no XDP metadata).
std::optional<std::string> whyNotXdp(const Chain& chain, IfIndex ingress, const HostBindings& b) {
  if (b.xdpMode == HostXdp::kNone) return b.xdpOff;
  if (auto it = b.noXdpEntry.find(ingress); it != b.noXdpEntry.end()) return it->second;
  for (size_t i = 0; i < chain.stages.size(); ++i) {
    const Stage& s = chain.stages[i];
    const std::string stage = "stage " + std::to_string(i) + " (" + s.describe() + ")";
    switch (s.kind()) {
      case StageKind::kMark: return stage + " sets the skb mark; XDP runs before there is an skb";
      case StageKind::kQueue: return stage + " sets the skb queue; XDP runs before there is an skb";
      case StageKind::kMirror: return stage + " clones the packet, which XDP cannot";
      case StageKind::kBpf: return stage + " tail-calls a tc program";
      case StageKind::kDeliver: {
        const Target& to = std::get<DeliverStage>(s.op).to;
        if (to.kind == TargetKind::kHost || to.kind == TargetKind::kQueue)
          return stage + " ends in the host stack, where the tc entry would run the chain again";
        if (b.xdpMode != HostXdp::kNative) break;  // generic XDP redirects through the stack
        auto target = targetIfindex(to, b, stage);
        if (!target.ok()) return target.error().message();
        if (auto it = b.noXdpTarget.find(*target); it != b.noXdpTarget.end()) return stage + ": " + it->second;
        break;
      }
      default: break;
    }
  }
  return std::nullopt;
}

}  // namespace

Result<HostProgram> buildHostProgram(const Policy& policy, const demux::Plan& plan,
                                     const HostBindings& b, const InstanceState* previous) {
  HostProgram out;
  out.attach[b.uplinkIfindex] = b.uplinkName;
  out.xdpMode = b.xdpMode;

  // Counter ids: a chain keeps its id while it exists; new chains take the
  // lowest free ones.
  std::set<uint32_t> usedIds;
  for (const auto& h : plan.hostRules) {
    const std::string& chainName = policy.chains[h.chain].name;
    if (previous) {
      auto it = previous->chainIds.find(chainName);
      if (it != previous->chainIds.end() && it->second != 0 && !usedIds.contains(it->second)) {
        out.chainIds[chainName] = it->second;
        usedIds.insert(it->second);
      }
    }
  }
  // New chains take the lowest free ids, in order: the search goes on from
  // where the last one stopped. Ids start at 1: 0 would make a
  // continuation's classid minor 0.
  uint32_t nextId = 1;
  for (const auto& h : plan.hostRules) {
    const std::string& chainName = policy.chains[h.chain].name;
    if (out.chainIds.contains(chainName)) continue;
    while (usedIds.contains(nextId)) ++nextId;
    if (nextId >= VFS_MAX_CHAINS)
      return Error(ErrorCode::kNotSupported, "more than " + std::to_string(VFS_MAX_CHAINS) +
                                                 " chains on the host");
    out.chainIds[chainName] = nextId;
    usedIds.insert(nextId);
  }

  // Program slots: an unchanged program keeps its slot; a new one takes a
  // slot that the running generation does not use.
  std::set<uint32_t> usedSlots;
  if (previous)
    for (const auto& p : previous->programs) usedSlots.insert(p.slot);

  std::map<std::string, uint8_t> tupleIndex;
  std::map<std::pair<uint8_t, std::string>, size_t> ruleIndex;  // (tuple, key bytes) → rule
  std::map<uint16_t, uint8_t> tunnelPorts;

  for (const auto& h : plan.hostRules) {
    const Chain& chain = policy.chains[h.chain];
    const std::string where = "chain " + chain.name;
    if (chain.stages.size() > VFS_MAX_STAGES)
      return Error(ErrorCode::kNotSupported, where + " has " + std::to_string(chain.stages.size()) +
                                                 " stages; the host datapath runs at most " +
                                                 std::to_string(VFS_MAX_STAGES));
    IfIndex ingress = b.uplinkIfindex;
    if (chain.match.from.kind == Port::Kind::kVf) {
      auto it = b.repIfindex.find(VfIndex{chain.match.from.vf});
      if (it == b.repIfindex.end())
        return Error(ErrorCode::kNotFound, where + " matches traffic from vf" +
                                               std::to_string(chain.match.from.vf) +
                                               ", but the device has no representor for it");
      ingress = it->second;
      out.attach[ingress] = b.repName.at(VfIndex{chain.match.from.vf});
    }

    auto portName = [&](IfIndex port) {
      return port == b.uplinkIfindex ? b.uplinkName : b.repName.at(VfIndex{chain.match.from.vf});
    };
    bool readsMetadata = false;  // a bpf stage reads vfsteer's XDP metadata

    vfs_chain c{};
    c.id = out.chainIds.at(chain.name);
    c.nstages = static_cast<uint16_t>(chain.stages.size());
    for (size_t i = 0; i < chain.stages.size(); ++i) {
      const Stage& s = chain.stages[i];
      vfs_stage& st = c.stages[i];
      const std::string stageWhere = where + " stage " + std::to_string(i);
      struct Visitor {
        vfs_stage& st;
        const HostBindings& b;
        const std::string& stageWhere;
        Status operator()(const VlanPopStage&) {
          st.kind = VFS_ST_VLAN_POP;
          return okStatus();
        }
        Status operator()(const VlanPushStage& p) {
          st.kind = VFS_ST_VLAN_PUSH;
          st.u16 = static_cast<uint16_t>((p.prio << 13) | p.id);
          st.u32 = htons(p.proto == VlanProto::k8021AD ? 0x88a8 : 0x8100);
          return okStatus();
        }
        Status operator()(const TunnelDecapStage&) {
          st.kind = VFS_ST_TUNNEL_DECAP;
          return okStatus();
        }
        Status operator()(const QueueStage& q) {
          st.kind = VFS_ST_QUEUE;
          st.u16 = q.queue;
          return okStatus();
        }
        Status operator()(const PoliceStage& p) {
          st.kind = VFS_ST_POLICE;
          st.u64 = p.rateBitsPerSec / 8;
          st.u32 = p.burstBytes;
          return okStatus();
        }
        Status operator()(const MarkStage& m) {
          st.kind = VFS_ST_MARK;
          st.u32 = m.mark;
          return okStatus();
        }
        Status operator()(const MirrorStage& m) {
          st.kind = VFS_ST_MIRROR;
          VFSTEER_ASSIGN_OR_RETURN(IfIndex ifindex, targetIfindex(m.to, b, stageWhere));
          st.u32 = static_cast<uint32_t>(ifindex.value);
          return okStatus();
        }
        Status operator()(const DropStage&) {
          st.kind = VFS_ST_DROP;
          return okStatus();
        }
        Status operator()(const BpfStage&) {
          st.kind = VFS_ST_BPF;  // slot filled in below
          return okStatus();
        }
        Status operator()(const DeliverStage& d) {
          switch (d.to.kind) {
            case TargetKind::kHost: st.kind = VFS_ST_HOST; return okStatus();
            case TargetKind::kQueue:
              st.kind = VFS_ST_HOST_QUEUE;
              st.u16 = d.to.index;
              return okStatus();
            default: {
              st.kind = VFS_ST_REDIRECT;
              VFSTEER_ASSIGN_OR_RETURN(IfIndex ifindex, targetIfindex(d.to, b, stageWhere));
              st.u32 = static_cast<uint32_t>(ifindex.value);
              return okStatus();
            }
          }
        }
      };
      VFSTEER_TRY(std::visit(Visitor{st, b, stageWhere}, s.op));
      if (const auto* bpf = std::get_if<BpfStage>(&s.op)) {
        std::error_code ec;
        const std::string object = fs::absolute(bpf->object, ec).lexically_normal().string();
        auto fp = fileFingerprint(object);
        if (!fp.ok())
          return Error(ErrorCode::kNotFound,
                       s.pos.str() + ": " + stageWhere + " (bpf): BPF object \"" + bpf->object +
                           "\" cannot be read; build it or fix the path (relative paths start in "
                           "the current directory)");
        if (Status ok = representors::checkUserProgram(object, bpf->program); !ok.ok())
          return Error(ErrorCode::kInvalidInput, s.pos.str() + ": " + stageWhere + " (bpf): " + ok.error().message());
        auto reads = representors::readsVfsteerMeta(object);
        if (!reads.ok())
          return Error(ErrorCode::kInvalidInput, s.pos.str() + ": " + stageWhere + " (bpf): " + reads.error().message());
        readsMetadata |= *reads;
        UserProgram lp{0, object, bpf->program, *fp};
        bool reused = false;
        if (previous) {
          for (const auto& p : previous->programs) {
            if (p.object == lp.object && p.program == lp.program && p.fingerprint == lp.fingerprint) {
              lp.slot = p.slot;
              reused = true;
            }
          }
        }
        for (const auto& p : out.programs)
          if (!reused && p.object == lp.object && p.program == lp.program && p.fingerprint == lp.fingerprint) {
            lp.slot = p.slot;
            reused = true;
          }
        if (!reused) {
          uint32_t slot = 1;
          while (usedSlots.contains(slot)) ++slot;
          if (slot > VFS_MAX_USER_PROGS)
            return Error(ErrorCode::kNotSupported, "more than " + std::to_string(VFS_MAX_USER_PROGS) +
                                                       " bpf stage programs");
          lp.slot = slot;
          usedSlots.insert(slot);
        }
        st.u32 = lp.slot;
        bool listed = false;
        for (const auto& p : out.programs) listed |= p.slot == lp.slot;
        if (!listed) out.programs.push_back(lp);
      }
    }
    // A chain's slot is its id, so that an entry naming a chain (a NIC
    // continuation) finds it in either generation.
    const uint32_t slot = c.id;
    if (out.tables.chains.size() <= slot) out.tables.chains.resize(slot + 1, vfs_chain{});
    out.tables.chains[slot] = c;
    if (h.entry == demux::HostEntry::kContinuation) {
      out.continuations[h.tcChain] = HostProgram::Continuation{c.id, static_cast<uint32_t>(h.startStage)};
      out.hooks[chain.name] = {"tc", "enters from the NIC in tc chain " + std::to_string(h.tcChain), ""};
    } else if (auto why = whyNotXdp(chain, ingress, b)) {
      out.hooks[chain.name] = {"tc", *why, ""};
    } else {
      out.hooks[chain.name] = {"xdp", "", ""};
      out.tables.chains[slot].flags |= VFS_CHAIN_XDP;
      out.xdpAttach[ingress] = portName(ingress);
    }
    // Only the XDP entry writes vfsteer's metadata: a chain whose stages
    // read it brings the entry to its port, and is told what it will get.
    if (readsMetadata) {
      auto& said = out.hooks[chain.name].rxMetadata;
      if (b.xdpMode == HostXdp::kNone) {
        said = "not supplied: " + b.xdpOff;
      } else if (auto it = b.noXdpEntry.find(ingress); it != b.noXdpEntry.end()) {
        said = "not supplied: " + it->second;
      } else {
        out.xdpAttach[ingress] = portName(ingress);
        if (auto no = b.noRxMetadata.find(ingress); no != b.noRxMetadata.end())
          said = "not supplied: " + no->second;
        else if (auto f = b.rxFields.find(ingress); f != b.rxFields.end())
          said = "supplied by " + portName(ingress) + "'s XDP entry: " + f->second;
        else
          said = "not supplied: the kernel did not say what " + portName(ingress) + "'s driver reads";
      }
    }

    if (chain.match.tunnel) {
      const uint8_t type = chain.match.tunnel->type == TunnelType::kVxlan ? VFS_TUN_VXLAN : VFS_TUN_GENEVE;
      tunnelPorts[htons(chain.match.tunnel->dstPort)] = type;
    }
    // Continuations enter through skb->cb, not through classification.
    if (h.entry != demux::HostEntry::kClassify) continue;
    for (const KeyMask& km : keysFor(chain.match, ingress)) {
      const std::string id = tupleIdentity(km);
      auto [tit, fresh] = tupleIndex.emplace(id, static_cast<uint8_t>(tupleIndex.size()));
      if (fresh) {
        if (tupleIndex.size() > VFS_MAX_TUPLES)
          return Error(ErrorCode::kNotSupported,
                       "the host chains use more than " + std::to_string(VFS_MAX_TUPLES) +
                           " distinct match shapes (which keys, which prefix lengths); the host "
                           "datapath searches at most that many");
        vfs_tuple t{};
        t.mask = km.mask;
        t.inner = km.inner ? 1 : 0;
        t.compact = compactMask(km.mask) ? 1 : 0;
        out.tables.tuples.push_back(t);
      }
      representors::HostRule r;
      r.tuple = tit->second;
      r.masked = km.key;
      r.rule.priority = chain.priority;
      r.rule.chain = slot;
      const std::string keyBytes(reinterpret_cast<const char*>(&r.masked), sizeof r.masked);
      auto [rit, freshRule] = ruleIndex.emplace(std::pair{r.tuple, keyBytes}, out.tables.rules.size());
      if (freshRule) {
        out.tables.rules.push_back(r);
      } else if (out.tables.rules[rit->second].rule.priority > r.rule.priority) {
        out.tables.rules[rit->second] = r;  // identical match: the higher priority shadows
      }
    }
  }
  if (tunnelPorts.size() > VFS_MAX_TUNNEL_PORTS)
    return Error(ErrorCode::kNotSupported, "the host datapath parses at most " +
                                               std::to_string(VFS_MAX_TUNNEL_PORTS) +
                                               " tunnel UDP ports");
  for (const auto& [port, type] : tunnelPorts)
    out.tables.tunnelPorts.push_back(vfs_tunnel_port{port, type, 0});
  for (const auto& p : out.programs)
    out.tables.userPrograms.push_back(representors::UserProgram{p.slot, p.object, p.program});
  return out;
}

}  // namespace vfsteer::engine
