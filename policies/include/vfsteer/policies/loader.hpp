// YAML → validated Policy / Profile. Every error names file:line:column, the
// field, what was expected and what was found.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::policies {

// One problem of a file that does not load: where (line 0 when the file as
// a whole is the problem), the field path ("chains[2].match.dst_port", or
// empty), and what is wrong and what to do.
struct LoadProblem {
  SourcePos pos;
  std::string path;
  std::string message;
  // "file:line:column: path: message", as in the error's text.
  std::string str() const;
};

// Reads and validates a policy file. The error message lists every problem
// found (one per line), each starting with "file:line:column: "; with
// `problems`, a failure also gives them one by one (for programs: `plan -o
// json`).
Result<Policy> loadPolicyFile(const std::string& path, std::vector<LoadProblem>* problems = nullptr);
// The checks loadPolicyFile makes (a regular file of at most 64 MiB), then
// the file's whole text: for a caller that keeps it (`vfsteer run` keeps
// the last good policy while the file holds a broken one).
Result<std::string> readPolicyFileText(const std::string& path);
// Same, from text already in memory; `file` only names it in messages.
Result<Policy> loadPolicyText(std::string_view text, const std::string& file,
                              std::vector<LoadProblem>* problems = nullptr);

Result<Profile> loadProfileFile(const std::string& path);
Result<Profile> loadProfileText(std::string_view text, const std::string& file);

// A profile file that did not load, or that reuses another's name; `name`
// is the reused name, else the file's stem (profiles are named after their
// files).
struct BrokenProfile {
  std::string file;
  std::string name;
  Error error;
};

struct ProfileDir {
  std::vector<Profile> profiles;  // sorted by file name
  std::vector<BrokenProfile> broken;
};

// All profiles in a directory (files ending in .yaml). One broken file does
// not take the others down: only choosing it fails, with its error.
Result<ProfileDir> loadProfileDir(const std::string& dir);

// The profile named `name`, or the one that lists `driver` when name is "auto".
Result<Profile> selectProfile(const ProfileDir& dir, std::string_view name, std::string_view driver);

}  // namespace vfsteer::policies
