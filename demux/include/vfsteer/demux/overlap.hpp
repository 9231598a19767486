// Whether two matches can select the same packet. Conservative: "false" is a
// proof that no packet matches both; "true" means some packet might.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

bool mayOverlap(const policies::Match& a, const policies::Match& b);

// Matches of one side, added in match order, indexed by the keys that make
// two matches disjoint when they differ (ports, protocol, VLAN ids, VNI,
// ethertype, the first 16 bits of each address), so that finding the
// earliest one that may overlap a new match looks at few candidates instead
// of all of them. Keeps pointers: the matches must outlive the index.
class OverlapIndex {
 public:
  void add(const policies::Match& m);
  // The position (in the order of `add`) of the earliest match that may
  // overlap `m`, by mayOverlap; nothing when none can.
  std::optional<size_t> firstOverlap(const policies::Match& m) const;
  // The positions of every match that may overlap `m`, ascending.
  std::vector<size_t> overlaps(const policies::Match& m) const;

  // The keys an index is kept on.
  enum Field : uint8_t {
    kDstPort, kSrcPort, kIpProto, kVlan, kCvlan, kEthertype, kDst16, kSrc16, kTunnelPort, kVni, kFieldCount
  };

 private:
  // One index per kind of match: plain ones and tunnel ones compare
  // different fields (a tunnel match's L2..L4 keys are the inner packet's).
  struct Table {
    std::vector<size_t> all;  // positions, in order
    std::array<std::unordered_map<uint64_t, std::vector<size_t>>, kFieldCount> exact;
    std::array<std::vector<size_t>, kFieldCount> wild;  // entries without the field
    void add(size_t position, const policies::Match& m);
    // Positions that may overlap a match with these field values, in order
    // (a superset; the caller checks each).
    std::vector<size_t> candidates(const std::array<std::optional<uint64_t>, kFieldCount>& query) const;
  };
  // The tables that may hold matches overlapping `m`, each with the query
  // that finds them there.
  struct Query {
    const Table* table;
    std::array<std::optional<uint64_t>, kFieldCount> fields;
  };
  std::array<Query, 2> queriesFor(const policies::Match& m) const;
  Table plain_, tunnel_;
  std::vector<const policies::Match*> matches_;
};

}  // namespace vfsteer::demux
