// A model of the host datapath's key extraction and tuple-space lookup
// (mirroring datapath.bpf.c's parser and classify()), for tests that check
// host tables and classifiers against the reference interpreter without
// sending frames; and the one-shape tables and frames the datapath bench
// and tests run.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/host_program.hpp"
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

// The model's ports: the uplink and each VF's representor.
inline const IfIndex kModelUplink{2};
IfIndex modelRepIfindex(uint16_t vf);
engine::HostBindings modelBindings(int vfs);

Keys keysOf(const demux::Packet& p, const representors::HostTables& t);

// classify() of datapath.bpf.c over the tables: the chain slot, or none.
std::optional<uint32_t> lookup(const representors::HostTables& t, const Keys& keys);

// Tables of one match shape (ingress port, UDP, destination port 5000, IPv4
// destination): `rules` rules, rule i for udpRuleAddress(i), all priority 1,
// whose one chain (slot 0) redirects out of `target` (drops, for target 0);
// in XDP unless `tcOnly`.
inline uint32_t udpRuleAddress(int i) { return 0x0a000000u + static_cast<uint32_t>(i); }
representors::HostTables udpTables(int rules, uint32_t ingress, uint32_t target, bool tcOnly = false);
// A 64-byte UDP/IPv4 frame to port 5000 of udpRuleAddress(i).
std::vector<uint8_t> udpFrame(int i);

}  // namespace vfsteer::testing
