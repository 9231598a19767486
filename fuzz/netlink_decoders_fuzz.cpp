// libFuzzer target: every netlink decoder (tc qdiscs and filters with their
// actions, links with VF info, devlink devices, eswitch, ports, rates, the
// generic netlink family reply) on arbitrary kernel replies, and a decoded
// filter encoded again. No crash, no read past the message, no hang.
//
// Input: one selector byte, then the message. Unless the selector's top bit
// is set, the header's length and type are made consistent first, so most
// inputs reach the attribute parsers instead of the first sanity check.
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>

#include "vfsteer/netlink/devlink.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/netdev.hpp"
#include "vfsteer/netlink/tc.hpp"

using namespace vfsteer::netlink;

namespace {

enum Decoder : uint8_t { kQdisc, kFilter, kLink, kFamily, kDevice, kEswitch, kPort, kRate, kNetdev, kDecoders };

uint16_t typeFor(Decoder d) {
  switch (d) {
    case kQdisc: return RTM_NEWQDISC;
    case kFilter: return RTM_NEWTFILTER;
    case kLink: return RTM_NEWLINK;
    case kFamily: return GENL_ID_CTRL;
    default: return 0x15;  // a devlink or netdev family id as the kernel hands them out
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto decoder = static_cast<Decoder>((data[0] & 0x7f) % kDecoders);
  const bool raw = data[0] & 0x80;
  RawMessage msg(data + 1, data + size);
  if (!raw && msg.size() >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, msg.data(), sizeof h);
    h.nlmsg_len = static_cast<uint32_t>(msg.size());
    h.nlmsg_type = typeFor(decoder);
    std::memcpy(msg.data(), &h, sizeof h);
  }
  switch (decoder) {
    case kQdisc: {
      (void)tc::decodeQdisc(msg);
      // The path to an offset an extended ack could name, walked through
      // untrusted nests (the last byte picks the offset).
      if (msg.size() > NLMSG_HDRLEN + sizeof(tcmsg))
        (void)attributePath(msg, sizeof(tcmsg), static_cast<uint32_t>(data[size - 1] * msg.size() / 256),
                            &tc::attrPolicy());
      break;
    }
    case kFilter: {
      (void)tc::isFilterHead(msg);
      auto f = tc::decodeFilter(msg);
      if (f.ok()) {
        (void)f->kind();
        auto again = tc::encodeAddFilter(*f);
        (void)again.size();
      }
      // Read once, as observe reads a dump: the same place, and a filter
      // exactly when it is no head and decodes on its own.
      auto placed = tc::decodePlacedFilter(msg);
      auto place = tc::decodeFilterPlace(msg);
      if (placed.ok() != place.ok()) std::abort();
      if (placed.ok() && (placed->place.head != place->head || placed->place.chain != place->chain ||
                          placed->place.priority != place->priority ||
                          placed->filter.has_value() != (!place->head && f.ok())))
        std::abort();
      break;
    }
    case kLink: (void)link::decodeLink(msg); break;
    case kFamily: (void)decodeFamilyId(msg); break;
    case kDevice: (void)devlink::decodeDevice(msg); break;
    case kEswitch: (void)devlink::decodeEswitch(msg); break;
    case kPort: (void)devlink::decodePort(msg); break;
    case kRate: (void)devlink::decodeRate(msg); break;
    case kNetdev: (void)netdev::decodeDevice(msg); break;
    default: break;
  }
  return 0;
}
