// Where vfsteer keeps what outlives one run. Every path vfsteer uses is
// built from these two roots, here and nowhere else.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "vfsteer/common/names.hpp"
#include "vfsteer/common/result.hpp"

namespace vfsteer::paths {

// State, journal and lock of each instance, the lab's record, topology files.
inline constexpr const char* kStateRoot = "/run/vfsteer";
// Pinned BPF programs and maps of each instance (a directory on bpffs).
inline constexpr const char* kPinRoot = "/sys/fs/bpf/vfsteer";

inline std::string topologyDir(const std::string& stateRoot = kStateRoot) { return stateRoot + "/topology"; }
// The record of the lab called `name` (representors/lab.hpp checks names).
inline std::string labFile(const std::string& name, const std::string& stateRoot = kStateRoot) {
  return stateRoot + "/labs/" + name + ".json";
}

// The pid file a `vfsteer run` keeping `instance` holds locked while it runs.
inline Result<std::string> daemonFile(const std::string& instance, const std::string& stateRoot = kStateRoot) {
  VFSTEER_TRY(names::checkInstanceName(instance));
  return stateRoot + "/daemons/" + instance + ".pid";
}

// The directory of `instance` under `root` (kStateRoot, kPinRoot or a
// test's own). A name that is not an instance name is refused, so no path
// built here can leave `root`.
inline Result<std::string> instanceDir(const std::string& root, const std::string& instance) {
  VFSTEER_TRY(names::checkInstanceName(instance));
  return root + "/" + instance;
}

// Creates `path` and every missing directory above it with mode 0700:
// what vfsteer keeps is root's business. Directories that exist are left
// as they are, except `path` itself, which is made 0700.
inline Status makePrivateDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); ; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return Error::fromErrno(errno, "create " + prefix);
    if (slash == std::string::npos) break;
  }
  if (::chmod(path.c_str(), 0700) != 0) return Error::fromErrno(errno, "chmod " + path);
  return okStatus();
}

}  // namespace vfsteer::paths
