// The content of the host datapath's tables for one generation, in the
// datapath's own terms (datapath_abi.h). The orchestrator builds it from a
// Plan; Datapath writes it to the kernel and reads it back.
#pragma once

#include <string>
#include <vector>

#include "datapath_abi.h"

namespace vfsteer::representors {

struct HostRule {
  uint8_t tuple = 0;
  vfs_key masked{};
  vfs_rule rule{};
};

// A user program for a bpf stage: loaded from an object and placed in slot
// `slot` of the datapath's program array.
struct UserProgram {
  uint32_t slot = 0;
  std::string object;   // absolute path
  std::string program;  // function name
  bool operator==(const UserProgram&) const = default;
};

struct HostTables {
  // How the datapath picks a frame's chain with these tables: the
  // tuple-space search over the maps, or code made for this policy
  // (bpf_classifier.hpp; small tables only). Both pick the same chain.
  enum class Classifier : uint8_t { kTables, kSpecialized };
  Classifier classifier = Classifier::kTables;
  std::vector<vfs_tuple> tuples;  // at most VFS_MAX_TUPLES
  std::vector<HostRule> rules;
  std::vector<vfs_chain> chains;  // index = chain slot
  std::vector<vfs_tunnel_port> tunnelPorts;  // at most VFS_MAX_TUNNEL_PORTS
  std::vector<UserProgram> userPrograms;

  // Same tables and classifier (rules compared as a set; user programs by slot).
  bool sameAs(const HostTables& other) const;
};

}  // namespace vfsteer::representors
