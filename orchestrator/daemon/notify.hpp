// systemd's service notifications (sd_notify(3)): READY once the first
// policy is in force, STATUS after each reconcile, the watchdog's keep-alive
// and STOPPING. Without NOTIFY_SOCKET (not under systemd) each is a no-op.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vfsteer::daemon::notify {

void ready(const std::string& status);
void status(const std::string& status);
void stopping();
// How often to send the keep-alive (half of WatchdogSec), when systemd asks for it.
std::optional<std::chrono::milliseconds> watchdogInterval();
void watchdog();

}  // namespace vfsteer::daemon::notify
