// devlink over generic netlink: eswitch mode, ports (flavour, PF/VF numbers,
// netdev), and port function rates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/message.hpp"

namespace vfsteer::netlink::devlink {

// "bus/device", e.g. "pci/0000:03:00.0" or "netdevsim/netdevsim1".
struct Handle {
  std::string bus;
  std::string dev;
  std::string str() const { return bus + "/" + dev; }
  bool operator==(const Handle&) const = default;
};
Result<Handle> parseHandle(const std::string& text);

enum class EswitchMode : uint16_t { kLegacy = 0, kSwitchdev = 1 };

enum class PortFlavour : uint16_t {
  kPhysical = 0,
  kCpu = 1,
  kDsa = 2,
  kPciPf = 3,
  kPciVf = 4,
  kVirtual = 5,
  kUnused = 6,
  kPciSf = 7,
};
std::string_view name(PortFlavour flavour);

struct Port {
  Handle device;
  uint32_t index = 0;
  PortFlavour flavour = PortFlavour::kPhysical;
  std::optional<uint16_t> pfNumber;
  std::optional<uint16_t> vfNumber;
  std::optional<uint32_t> controller;
  int netdevIfindex = 0;  // 0 when the port has no netdev
  std::string netdevName;
};

// The family id: netlink::encodeGetFamily("devlink") (message.hpp).

// devlink dev show (dump)
Message encodeDumpDevices(uint16_t family);
Result<Handle> decodeDevice(const RawMessage& msg);
// devlink dev eswitch show DEV
Message encodeGetEswitch(uint16_t family, const Handle& dev);
// devlink dev eswitch set DEV mode legacy|switchdev
Message encodeSetEswitch(uint16_t family, const Handle& dev, EswitchMode mode);
Result<EswitchMode> decodeEswitch(const RawMessage& msg);
// devlink port show (dump)
Message encodeDumpPorts(uint16_t family);
Result<Port> decodePort(const RawMessage& msg);
struct Rate {
  Handle device;
  bool leaf = true;            // a port's rate (true) or a named node
  uint32_t port = 0;           // for a leaf
  std::string node;            // for a node
  uint64_t txShare = 0;        // bytes per second
  uint64_t txMax = 0;
};

// devlink port function rate show (dump)
Message encodeDumpRates(uint16_t family);
Result<Rate> decodeRate(const RawMessage& msg);

// devlink port function rate set DEV/PORT [tx_share S] [tx_max M]
// Rates are in bytes per second, as devlink carries them.
Message encodeSetPortRate(uint16_t family, const Handle& dev, uint32_t port,
                          std::optional<uint64_t> txShare, std::optional<uint64_t> txMax);

}  // namespace vfsteer::netlink::devlink
