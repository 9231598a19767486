#include "vfsteer/representors/driver.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vfsteer/common/names.hpp"

namespace vfsteer::representors {

Result<std::string> driverOf(const std::string& ifname) {
  if (!names::isInterfaceName(ifname))
    return Error(ErrorCode::kInvalidInput, names::quoted(ifname) + " is not an interface name");
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::fromErrno(errno, "open a socket for ethtool");
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
  req.ifr_data = reinterpret_cast<char*>(&info);
  int rc = ::ioctl(fd, SIOCETHTOOL, &req);
  int err = errno;
  ::close(fd);
  if (rc < 0) {
    if (err == ENODEV)
      return Error(ErrorCode::kNotFound, "no interface named \"" + ifname + "\" in this network "
                                         "namespace");
    return Error::fromErrno(err, "ask ethtool for the driver of " + ifname);
  }
  return std::string(info.driver);
}

}  // namespace vfsteer::representors
