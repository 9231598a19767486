// Where vfsteer keeps what outlives one run. Every path vfsteer uses is
// built from these two roots, here and nowhere else.
#pragma once

#include <string>

namespace vfsteer::paths {

// State, journal and lock of each instance, the lab's record, topology files.
inline constexpr const char* kStateRoot = "/run/vfsteer";
// Pinned BPF programs and maps of each instance (a directory on bpffs).
inline constexpr const char* kPinRoot = "/sys/fs/bpf/vfsteer";

inline std::string topologyDir(const std::string& stateRoot = kStateRoot) { return stateRoot + "/topology"; }
inline std::string labFile(const std::string& stateRoot = kStateRoot) { return stateRoot + "/lab.json"; }

}  // namespace vfsteer::paths
