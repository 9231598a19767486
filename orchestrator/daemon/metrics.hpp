// `vfsteer run --metrics ADDRESS:PORT`: Prometheus text over HTTP
// (prometheus-cpp's exposer). Two sources, read at each scrape:
//   - what the daemon did (RunStats, handed over after every reconcile);
//   - what the kernel counts now: per chain and stage packets and bytes of
//     the host datapath, and per NIC rule in_hw and its stats, read as
//     `vfsteer report` reads them (on the scrape's thread, with its own
//     netlink sockets; the state files it reads are replaced atomically).
#pragma once

#include <memory>
#include <string>

#include "daemon/run.hpp"
#include "vfsteer/common/result.hpp"

namespace prometheus {
class Exposer;
}

namespace vfsteer::daemon {

class MetricsCollector;

class MetricsServer {
 public:
  // Listens on ADDRESS:PORT ("127.0.0.1:9470", "[::]:9470"). Start it after
  // SignalWatch::open(): its threads must inherit the blocked signals.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address, const std::string& stateRoot);
  ~MetricsServer();
  // The daemon's own figures, after each reconcile (any thread).
  void update(const RunStats& stats);

 private:
  MetricsServer() = default;
  std::shared_ptr<MetricsCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace vfsteer::daemon
