#include "vfsteer/netlink/ethtool_rxnfc.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace vfsteer::netlink::rxnfc {

namespace {

// One SIOCETHTOOL request; `request` starts with the command.
int ask(int fd, const std::string& ifname, void* request) {
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), std::min(ifname.size(), sizeof req.ifr_name - 1));
  req.ifr_data = static_cast<char*>(request);
  return ::ioctl(fd, SIOCETHTOOL, &req) < 0 ? errno : 0;
}

Error failure(int err, const std::string& ifname, const char* what) {
  if (err == ENODEV) return Error(ErrorCode::kNotFound, "no interface named \"" + ifname + "\" in its namespace");
  return Error::fromErrno(err, std::string("ask ethtool for ") + what + " of " + ifname);
}

}  // namespace

Result<std::vector<uint32_t>> ruleLocations(int fd, const std::string& ifname) {
  ethtool_rxnfc count{};
  count.cmd = ETHTOOL_GRXCLSRLCNT;
  if (int err = ask(fd, ifname, &count)) {
    if (err == EOPNOTSUPP) return std::vector<uint32_t>{};
    return failure(err, ifname, "the number of flow rules");
  }
  if (count.rule_cnt == 0) return std::vector<uint32_t>{};
  // The locations follow rule_cnt (rule_locs[], before the struct's
  // padding); the driver fails with EMSGSIZE if rules were added since the
  // count.
  constexpr size_t kLocations = offsetof(ethtool_rxnfc, rule_locs);
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint32_t room = count.rule_cnt + 16;
    std::vector<uint8_t> buf(std::max(sizeof(ethtool_rxnfc), kLocations + room * sizeof(uint32_t)));
    auto* all = reinterpret_cast<ethtool_rxnfc*>(buf.data());
    all->cmd = ETHTOOL_GRXCLSRLALL;
    all->rule_cnt = room;
    if (int err = ask(fd, ifname, buf.data())) {
      if (err == EMSGSIZE) {
        count.rule_cnt = room * 2;
        continue;
      }
      return failure(err, ifname, "the flow rules");
    }
    if (all->rule_cnt > room) return Error(ErrorCode::kInternal, "ethtool listed more flow rules than it had room for");
    std::vector<uint32_t> out(all->rule_cnt);
    std::memcpy(out.data(), buf.data() + kLocations, out.size() * sizeof(uint32_t));
    return out;
  }
  return Error(ErrorCode::kRetryable, "the flow rules of " + ifname + " kept growing while ethtool listed them");
}

}  // namespace vfsteer::netlink::rxnfc
