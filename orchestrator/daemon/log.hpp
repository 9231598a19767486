// The daemon's log: spdlog on stderr, one event per line. Under systemd
// (JOURNAL_STREAM set) each line starts with its syslog priority ("<3>")
// and carries no timestamp, so journald keeps the level and its own time.
#pragma once

#include <spdlog/common.h>

#include <optional>
#include <string>

#include "vfsteer/common/result.hpp"

namespace vfsteer::daemon {

// "trace", "debug", "info", "warning", "error", "critical", "off".
Result<spdlog::level::level_enum> parseLogLevel(const std::string& name);
void setUpLogging(spdlog::level::level_enum level);

}  // namespace vfsteer::daemon
