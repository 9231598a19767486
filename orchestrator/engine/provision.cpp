#include "engine/provision.hpp"

#include <linux/if_ether.h>

#include "engine/requests.hpp"

namespace vfsteer::engine {

using namespace policies;
namespace dl = netlink::devlink;
namespace lk = netlink::link;

namespace {

constexpr uint64_t kBytesPerMbit = 125000;

std::string modeName(dl::EswitchMode m) { return m == dl::EswitchMode::kSwitchdev ? "switchdev" : "legacy"; }

Status setMode(ProvisionPorts& p, const dl::Handle& h, dl::EswitchMode mode) {
  return runOne(*p.devlink, dl::encodeSetEswitch(p.devlinkFamily, h, mode),
                "set the eswitch of " + h.str() + " to " + modeName(mode));
}

// The devlink port of VF `vf`'s representor (it exists in switchdev mode).
Result<uint32_t> vfPortIndex(ProvisionPorts& p, const dl::Handle& h, uint16_t vf) {
  VFSTEER_ASSIGN_OR_RETURN(auto dumped, p.devlink->dump(dl::encodeDumpPorts(p.devlinkFamily)));
  for (const auto& raw : dumped) {
    auto port = dl::decodePort(raw);
    if (port.ok() && port->device == h && port->flavour == dl::PortFlavour::kPciVf && port->vfNumber == vf)
      return port->index;
  }
  return Error(ErrorCode::kNotFound, "no devlink port for vf" + std::to_string(vf) + " on " + h.str());
}

Status setDevlinkRate(ProvisionPorts& p, const dl::Handle& h, uint16_t vf, uint64_t share, uint64_t max) {
  VFSTEER_ASSIGN_OR_RETURN(uint32_t port, vfPortIndex(p, h, vf));
  return runOne(*p.devlink, dl::encodeSetPortRate(p.devlinkFamily, h, port, share, max),
                "set the devlink rate of vf" + std::to_string(vf));
}

std::string describeVf(const lk::VfConfig& c) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (c.mac) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", (*c.mac)[0], (*c.mac)[1], (*c.mac)[2],
                  (*c.mac)[3], (*c.mac)[4], (*c.mac)[5]);
    add(std::string("mac ") + buf);
  }
  if (c.vlan) {
    add("vlan " + std::to_string(c.vlan->id) + " qos " + std::to_string(c.vlan->qos));
    if (c.vlan->protocol == ETH_P_8021AD) add("proto 802.1ad");
  }
  if (c.spoofchk) add(std::string("spoofchk ") + (*c.spoofchk ? "on" : "off"));
  if (c.trust) add(std::string("trust ") + (*c.trust ? "on" : "off"));
  if (c.linkState) add(std::string("state ") + (*c.linkState == lk::VfLinkState::kEnable ? "enable"
                                                 : *c.linkState == lk::VfLinkState::kDisable ? "disable"
                                                                                              : "auto"));
  if (c.rate) add("min_tx_rate " + std::to_string(c.rate->minMbps) + " max_tx_rate " + std::to_string(c.rate->maxMbps));
  return s;
}

bool hasSettings(const lk::VfConfig& c) {
  return c.mac || c.vlan || c.rate || c.spoofchk || c.trust || c.linkState;
}

// (setting, its undo) pairs, one setting each, in the order ip(8) sends them.
std::vector<std::pair<lk::VfConfig, lk::VfConfig>> splitVfConfig(const lk::VfConfig& set, const lk::VfConfig& undo) {
  std::vector<std::pair<lk::VfConfig, lk::VfConfig>> out;
  auto one = [&](auto member) {
    if (!(set.*member)) return;
    lk::VfConfig s{}, u{};
    s.vf = u.vf = set.vf;
    s.*member = set.*member;
    u.*member = undo.*member;
    out.emplace_back(s, u);
  };
  one(&lk::VfConfig::mac);
  one(&lk::VfConfig::vlan);
  one(&lk::VfConfig::spoofchk);
  one(&lk::VfConfig::trust);
  one(&lk::VfConfig::linkState);
  one(&lk::VfConfig::rate);
  return out;
}

lk::VfLinkState linkStateOf(LinkState s) {
  switch (s) {
    case LinkState::kEnable: return lk::VfLinkState::kEnable;
    case LinkState::kDisable: return lk::VfLinkState::kDisable;
    default: return lk::VfLinkState::kAuto;
  }
}

}  // namespace

Result<uint16_t> resolveDevlinkFamily(NetlinkPort& genl) {
  auto replies = requestOne(genl, netlink::encodeGetFamily("devlink"));
  if (!replies.ok() || replies->empty())
    return Error(ErrorCode::kNotSupported, "this kernel has no devlink");
  return netlink::decodeFamilyId(replies->front());
}

Result<DeviceState> observeDevice(const representors::Topology& t, ProvisionPorts& p) {
  DeviceState s;
  auto n = p.device.numVfs(t.pf);
  s.sriov = n.ok();
  if (n.ok()) s.numVfs = *n;
  VFSTEER_ASSIGN_OR_RETURN(auto replies, requestOne(p.route, lk::encodeGetLink(t.pf)));
  if (!replies.empty()) {
    VFSTEER_ASSIGN_OR_RETURN(auto info, lk::decodeLink(replies.front()));
    for (const auto& vf : info.vfs) s.vfs[static_cast<uint16_t>(vf.vf)] = vf;
  }
  if (p.devlink && !t.devlink.empty()) {
    VFSTEER_ASSIGN_OR_RETURN(auto h, dl::parseHandle(t.devlink));
    auto es = requestOne(*p.devlink, dl::encodeGetEswitch(p.devlinkFamily, h));
    if (es.ok() && !es->empty()) {
      auto mode = dl::decodeEswitch(es->front());
      if (mode.ok()) s.eswitch = *mode;
    }
    auto rates = p.devlink->dump(dl::encodeDumpRates(p.devlinkFamily));
    auto ports = p.devlink->dump(dl::encodeDumpPorts(p.devlinkFamily));
    if (rates.ok() && ports.ok()) {
      std::map<uint32_t, uint16_t> vfOfPort;
      for (const auto& raw : *ports) {
        auto port = dl::decodePort(raw);
        if (port.ok() && port->device == h && port->vfNumber) vfOfPort[port->index] = *port->vfNumber;
      }
      for (const auto& raw : *rates) {
        auto r = dl::decodeRate(raw);
        if (r.ok() && r->leaf && r->device == h && vfOfPort.contains(r->port))
          s.vfRates[vfOfPort.at(r->port)] = *r;
      }
    }
  }
  return s;
}

std::string describe(const DeviceChange& change) {
  struct Describe {
    std::string operator()(const SetNumVfs& c) const {
      return "set " + c.pf + " sriov_numvfs to " + std::to_string(c.to) + " (from " + std::to_string(c.from) + ")";
    }
    std::string operator()(const SetEswitch& c) const {
      return "set the eswitch of " + c.handle.str() + " to " + modeName(c.to);
    }
    std::string operator()(const SetVf& c) const {
      return "set vf" + std::to_string(c.to.vf) + " of " + c.pf + ": " + describeVf(c.to);
    }
    std::string operator()(const SetVfRate& c) const {
      return "set the devlink rate of vf" + std::to_string(c.vf) + ": tx_share " + std::to_string(c.share / kBytesPerMbit) +
             "mbit tx_max " + std::to_string(c.max / kBytesPerMbit) + "mbit";
    }
  };
  return std::visit(Describe{}, change);
}

Status applyDeviceChange(const DeviceChange& change, ProvisionPorts& p, bool undo) {
  struct Apply {
    ProvisionPorts& p;
    bool undo;
    Status operator()(const SetNumVfs& c) const { return p.device.setNumVfs(c.pf, undo ? c.from : c.to); }
    Status operator()(const SetEswitch& c) const { return setMode(p, c.handle, undo ? c.from : c.to); }
    Status operator()(const SetVf& c) const {
      const lk::VfConfig& vf = undo ? *c.from : c.to;
      return runOne(p.route, lk::encodeSetVf(c.pfIfindex, vf), (undo ? "restore vf" : "set vf") + std::to_string(vf.vf));
    }
    Status operator()(const SetVfRate& c) const {
      return setDevlinkRate(p, c.handle, c.vf, undo ? c.fromShare : c.share, undo ? c.fromMax : c.max);
    }
  };
  if (undo)
    if (const auto* vf = std::get_if<SetVf>(&change); vf && !vf->from) return okStatus();  // nothing to restore
  return std::visit(Apply{p, undo}, change);
}

Result<std::vector<DeviceChange>> provisioningChanges(const Policy& policy, const Profile& profile,
                                                      const representors::Topology& t, const DeviceState& now,
                                                      bool devlinkAvailable) {
  std::vector<DeviceChange> out;
  const Device& want = policy.device;
  const bool fileTopology = t.source.rfind("file:", 0) == 0;
  if (fileTopology) {
    // A described topology (the lab, or hand-written) has no VFs to set up.
    if (!want.vfSettings.empty())
      return Error(ErrorCode::kInvalidInput,
                   policy.file + ": device.vfs.settings need a PF whose VFs the kernel manages; " +
                       t.pf + " comes from " + t.source.substr(5));
    if (want.vfsDeclared && want.vfCount != t.numVfs)
      return Error(ErrorCode::kInvalidInput,
                   policy.file + ": device.vfs.count is " + std::to_string(want.vfCount) + ", but " + t.pf +
                       " has " + std::to_string(t.numVfs) + " VFs, fixed by " + t.source.substr(5) +
                       "; set the count to " + std::to_string(t.numVfs) +
                       " (for the lab: or bring it up again with vfsteer lab up --vfs N)");
    return out;
  }
  std::optional<dl::Handle> handle;
  if (!t.devlink.empty()) {
    VFSTEER_ASSIGN_OR_RETURN(auto h, dl::parseHandle(t.devlink));
    handle = h;
  }

  const bool modeWanted = want.eswitchDeclared;
  const dl::EswitchMode wantMode =
      want.eswitch == EswitchMode::kSwitchdev ? dl::EswitchMode::kSwitchdev : dl::EswitchMode::kLegacy;
  if (modeWanted && (!handle || !devlinkAvailable || !now.eswitch))
    return Error(ErrorCode::kNotSupported,
                 policy.file + ": device.eswitch is " + std::string(name(want.eswitch)) + ", but " + t.pf +
                     " has no devlink eswitch to set; remove device.eswitch or use a switchdev-capable PF");
  if (want.vfsDeclared && !now.sriov && want.vfCount > 0)
    return Error(ErrorCode::kNotSupported,
                 policy.file + ": device.vfs.count is " + std::to_string(want.vfCount) + ", but " + t.pf +
                     " cannot have VFs (no sriov_numvfs)");
  const bool modeChange = modeWanted && *now.eswitch != wantMode;
  const uint16_t wantVfs = want.vfsDeclared ? want.vfCount : now.numVfs;
  const bool vfChange = want.vfsDeclared && wantVfs != now.numVfs;

  auto setVfs = [&](uint16_t from, uint16_t to) {
    // The kernel only goes between zero and a count, never count to count.
    if (from > 0 && to > 0) {
      out.push_back(SetNumVfs{t.pf, 0, from});
      from = 0;
    }
    out.push_back(SetNumVfs{t.pf, to, from});
  };
  auto changeMode = [&] { out.push_back(SetEswitch{*handle, wantMode, *now.eswitch}); };
  if (modeChange && now.numVfs > 0 && !profile.eswitchChangeWithVfs) {
    // This driver changes mode only without VFs: remove them, switch, recreate.
    setVfs(now.numVfs, 0);
    changeMode();
    if (wantVfs > 0) setVfs(0, wantVfs);
  } else if (profile.provisionOrder == ProvisionOrder::kVfsFirst) {
    if (vfChange) setVfs(now.numVfs, wantVfs);
    if (modeChange) changeMode();
  } else {
    if (modeChange) changeMode();
    if (vfChange) setVfs(now.numVfs, wantVfs);
  }

  // Per-VF settings. VFs that are (re)created start from the driver's
  // defaults; settings of existing VFs are changed only where they differ.
  const dl::EswitchMode finalMode = modeWanted ? wantMode : now.eswitch.value_or(dl::EswitchMode::kLegacy);
  const bool vfsRecreated = vfChange || (modeChange && now.numVfs > 0 && !profile.eswitchChangeWithVfs);
  const RateApi rateApi =
      finalMode == dl::EswitchMode::kSwitchdev ? profile.rateApiSwitchdev : profile.rateApiLegacy;
  for (const VfSetting& s : want.vfSettings) {
    const lk::VfInfo* cur = nullptr;
    if (!vfsRecreated)
      if (auto it = now.vfs.find(s.vf); it != now.vfs.end()) cur = &it->second;
    lk::VfConfig set, undo;
    set.vf = undo.vf = s.vf;
    if (s.mac && (!cur || cur->mac != s.mac->bytes)) {
      set.mac = s.mac->bytes;
      if (cur) undo.mac = cur->mac;
    }
    if (s.vlan) {
      lk::VfVlan v{*s.vlan, s.qos, static_cast<uint16_t>(s.vlanProto == VlanProto::k8021AD ? ETH_P_8021AD : ETH_P_8021Q)};
      if (!cur || !(cur->vlan == v)) {
        set.vlan = v;
        if (cur) undo.vlan = cur->vlan;
      }
    }
    if (s.trust && (!cur || cur->trust != *s.trust)) {
      set.trust = *s.trust;
      if (cur) undo.trust = cur->trust;
    }
    if (s.spoofchk && (!cur || cur->spoofchk != *s.spoofchk)) {
      set.spoofchk = *s.spoofchk;
      if (cur) undo.spoofchk = cur->spoofchk;
    }
    if (s.linkState && (!cur || cur->linkState != linkStateOf(*s.linkState))) {
      set.linkState = linkStateOf(*s.linkState);
      if (cur) undo.linkState = cur->linkState;
    }
    const bool rateWanted = s.maxTxRateMbps || s.minTxRateMbps;
    if (rateWanted && rateApi == RateApi::kRtnetlink) {
      lk::VfRate r{s.minTxRateMbps.value_or(0), s.maxTxRateMbps.value_or(0)};
      if (!cur || !(cur->rate == r)) {
        set.rate = r;
        if (cur) undo.rate = cur->rate;
      }
    }
    for (const auto& [one, previous] : splitVfConfig(set, undo))
      out.push_back(SetVf{t.pf, t.pfIfindex, one,
                          hasSettings(previous) ? std::optional<lk::VfConfig>(previous) : std::nullopt});
    if (rateWanted && rateApi == RateApi::kDevlink) {
      if (!handle || !devlinkAvailable)
        return Error(ErrorCode::kNotSupported, "vf" + std::to_string(s.vf) + " rates need devlink on " + t.pf);
      const uint64_t share = uint64_t{s.minTxRateMbps.value_or(0)} * kBytesPerMbit;
      const uint64_t max = uint64_t{s.maxTxRateMbps.value_or(0)} * kBytesPerMbit;
      const dl::Rate* curRate = nullptr;
      if (!vfsRecreated && !modeChange)
        if (auto it = now.vfRates.find(s.vf); it != now.vfRates.end()) curRate = &it->second;
      if (!curRate || curRate->txShare != share || curRate->txMax != max)
        out.push_back(SetVfRate{*handle, s.vf, share, max, curRate ? curRate->txShare : 0,
                                curRate ? curRate->txMax : 0});
    } else if (rateWanted && rateApi == RateApi::kNone) {
      return Error(ErrorCode::kNotSupported,
                   "profile " + profile.name + " has no interface for VF rates in " + modeName(finalMode) +
                       " mode (vf" + std::to_string(s.vf) + " asks for one)");
    }
  }
  return out;
}

}  // namespace vfsteer::engine
