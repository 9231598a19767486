// A model of the host datapath's key extraction and tuple-space lookup
// (mirroring datapath.bpf.c's parser and classify()), for tests that check
// host tables and classifiers against the reference interpreter without
// sending frames.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "vfsteer/common/strong_types.hpp"
#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/representors/host_tables.hpp"

namespace vfsteer::testing {

// The keys vfs_parse_frame() leaves in struct vfs_parsed for a packet.
struct Keys {
  vfs_key outer{};
  vfs_key inner{};
  bool hasInner = false;
};

// `uplink` and `repIfindex(vf)` give the ports' ifindexes.
Keys keysOf(const demux::Packet& p, const representors::HostTables& t, IfIndex uplink,
            const std::function<IfIndex(uint16_t)>& repIfindex);

// classify() of datapath.bpf.c over the tables: the chain slot, or none.
std::optional<uint32_t> lookup(const representors::HostTables& t, const Keys& keys);

}  // namespace vfsteer::testing
