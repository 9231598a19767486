// Runs the vfsteer binary with arguments (no shell) and captures its output.
#pragma once

#include <string>
#include <vector>

namespace vfsteer::testing {

struct CliResult {
  int status = -1;  // exit status, or -1 if it did not exit normally
  std::string out;
  std::string err;
};

// `env` entries ("NAME=value") are added to the child's environment.
CliResult runProgram(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
CliResult runVfsteer(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

}  // namespace vfsteer::testing
