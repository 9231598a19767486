#include "daemon/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace vfsteer::daemon {

namespace {

// sd-daemon(3) priority prefixes: journald reads them off stderr lines.
class SyslogPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char* p = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: p = "<7>"; break;
      case spdlog::level::info: p = "<6>"; break;
      case spdlog::level::warn: p = "<4>"; break;
      case spdlog::level::err: p = "<3>"; break;
      case spdlog::level::critical: p = "<2>"; break;
      default: break;
    }
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriority>(); }
};

}  // namespace

Result<spdlog::level::level_enum> parseLogLevel(const std::string& name) {
  for (auto level : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                     spdlog::level::err, spdlog::level::critical, spdlog::level::off}) {
    const auto sv = spdlog::level::to_string_view(level);
    if (name == std::string(sv.data(), sv.size())) return level;
  }
  if (name == "warn") return spdlog::level::warn;
  if (name == "err") return spdlog::level::err;
  return Error(ErrorCode::kInvalidInput, "--log-level " + name +
                                             ": not a level (trace, debug, info, warning, error, critical, off)");
}

void setUpLogging(spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("vfsteer", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (std::getenv("JOURNAL_STREAM")) {
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // one event, one line, at once
  spdlog::set_default_logger(logger);
}

}  // namespace vfsteer::daemon
