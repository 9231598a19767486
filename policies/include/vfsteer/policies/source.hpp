// Where a value came from in an operator's YAML file, for error messages.
#pragma once

#include <string>

namespace vfsteer::policies {

struct SourcePos {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based

  // "file:line:column", or just "file" when the position is unknown.
  std::string str() const {
    if (line <= 0) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
  }
  bool operator==(const SourcePos&) const = default;
};

}  // namespace vfsteer::policies
