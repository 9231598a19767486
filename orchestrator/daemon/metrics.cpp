#include "daemon/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <mutex>

#include "engine/report.hpp"
#include "engine/state.hpp"

namespace vfsteer::daemon {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const std::string& name, const std::string& help, MetricType type) {
  return MetricFamily{name, help, type, {}};
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

}  // namespace

class MetricsCollector : public prometheus::Collectable {
 public:
  explicit MetricsCollector(std::string stateRoot) : store_(std::move(stateRoot)) {}

  void update(const RunStats& stats) {
    std::lock_guard lock(mutex_);
    stats_ = stats;
  }

  std::vector<MetricFamily> Collect() const override {
    RunStats s;
    {
      std::lock_guard lock(mutex_);
      s = stats_;
    }
    std::vector<MetricFamily> out;
    daemonFigures(s, out);
    if (!s.instance.empty()) kernelFigures(s.instance, out);
    return out;
  }

 private:
  static void daemonFigures(const RunStats& s, std::vector<MetricFamily>& out) {
    auto gen = family("vfsteer_policy_generation", "Policies put in force since start (the first apply is 1)",
                      MetricType::Gauge);
    add(gen, static_cast<double>(s.generation));
    auto refused = family("vfsteer_policy_file_refused",
                          "1 while the policy file holds content that did not load or was refused (the last good "
                          "policy stays in force)",
                          MetricType::Gauge);
    add(refused, s.policyFileRefused ? 1 : 0);
    auto rejections = family("vfsteer_policy_rejections_total", "New policy content that was refused",
                             MetricType::Counter);
    add(rejections, static_cast<double>(s.policyRejections));
    auto reconciles = family("vfsteer_reconciles_total", "Reconciles, by what triggered them", MetricType::Counter);
    for (const char* t : {"kernel", "policy", "retry", "resync"}) {
      auto it = s.reconciles.find(t);
      add(reconciles, it == s.reconciles.end() ? 0 : static_cast<double>(it->second), {{"trigger", t}});
    }
    auto repairs = family("vfsteer_drift_repairs_total",
                          "Kernel changes written to repair drift (not for a policy change), by object kind",
                          MetricType::Counter);
    for (const auto& [kind, n] : s.repairs) add(repairs, static_cast<double>(n), {{"kind", kind}});
    auto failures = family("vfsteer_reconcile_failures_total", "Reconciles the kernel refused (each undone)",
                           MetricType::Counter);
    add(failures, static_cast<double>(s.failures));
    auto duration = family("vfsteer_reconcile_duration_seconds", "How long the last reconcile took",
                           MetricType::Gauge);
    add(duration, s.lastDurationSeconds);
    auto success = family("vfsteer_last_success_timestamp_seconds",
                          "When the kernel was last known equal to the policy (Unix time)", MetricType::Gauge);
    add(success, s.lastSuccess.time_since_epoch().count() == 0
                     ? 0
                     : std::chrono::duration<double>(s.lastSuccess.time_since_epoch()).count());
    auto notes = family("vfsteer_notifications_total", "Link and tc notifications read", MetricType::Counter);
    add(notes, static_cast<double>(s.notificationsSeen));
    for (auto* f : {&gen, &refused, &rejections, &reconciles, &repairs, &failures, &duration, &success, &notes})
      out.push_back(std::move(*f));
  }

  // As `vfsteer report` reads them; nothing when the instance has no state.
  void kernelFigures(const std::string& instance, std::vector<MetricFamily>& out) const {
    auto up = family("vfsteer_kernel_read_ok", "1 when this scrape could read the kernel's counters",
                     MetricType::Gauge);
    auto report = readReport(instance);
    add(up, report.ok() ? 1 : 0);
    out.push_back(std::move(up));
    if (!report.ok()) return;
    auto packets = family("vfsteer_chain_packets_total", "Packets the host datapath ran the chain on",
                          MetricType::Counter);
    auto bytes = family("vfsteer_chain_bytes_total", "Bytes the host datapath ran the chain on", MetricType::Counter);
    auto stagePackets = family("vfsteer_stage_packets_total", "Packets per host stage of a chain",
                               MetricType::Counter);
    auto stageBytes = family("vfsteer_stage_bytes_total", "Bytes per host stage of a chain", MetricType::Counter);
    for (const auto& chain : report->split.chains) {
      auto it = report->counters.find(chain.name);
      if (it == report->counters.end()) continue;
      const representors::ChainCounters& c = it->second;
      add(packets, static_cast<double>(c.packets), {{"chain", chain.name}});
      add(bytes, static_cast<double>(c.bytes), {{"chain", chain.name}});
      // The stages the host runs, by their index in the chain (as report numbers them).
      for (size_t i = 0; i < chain.stages.size() && i < c.stagePackets.size() && i < c.stageBytes.size(); ++i) {
        if (chain.stages[i].where != demux::Placement::kHost) continue;
        std::vector<ClientMetric::Label> labels{{"chain", chain.name}, {"stage", std::to_string(i)}};
        add(stagePackets, static_cast<double>(c.stagePackets[i]), labels);
        add(stageBytes, static_cast<double>(c.stageBytes[i]), labels);
      }
    }
    auto inHw = family("vfsteer_nic_rule_in_hw", "1 when the kernel reports the NIC rule in_hw", MetricType::Gauge);
    auto nicPackets = family("vfsteer_nic_rule_packets_total", "Packets the NIC rule's first action counted",
                             MetricType::Counter);
    auto nicBytes = family("vfsteer_nic_rule_bytes_total", "Bytes the NIC rule's first action counted",
                           MetricType::Counter);
    for (const auto& [chain, rules] : report->nicRules) {
      for (size_t i = 0; i < rules.size(); ++i) {
        std::vector<ClientMetric::Label> labels{{"chain", chain}, {"rule", std::to_string(i)}};
        add(inHw, rules[i].inHw ? 1 : 0, labels);
        add(nicPackets, static_cast<double>(rules[i].packets), labels);
        add(nicBytes, static_cast<double>(rules[i].bytes), labels);
      }
    }
    for (auto* f : {&packets, &bytes, &stagePackets, &stageBytes, &inHw, &nicPackets, &nicBytes})
      out.push_back(std::move(*f));
  }

  Result<engine::LiveReport> readReport(const std::string& instance) const {
    VFSTEER_ASSIGN_OR_RETURN(auto state, store_.load(instance));
    if (!state) return Error(ErrorCode::kNotFound, "nothing is applied for " + instance);
    VFSTEER_ASSIGN_OR_RETURN(auto split, store_.loadSplit(*state));
    auto ports = engine::makeRealPorts();
    return engine::buildReport(*state, split, *ports);
  }

  engine::StateStore store_;
  mutable std::mutex mutex_;
  RunStats stats_;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address, const std::string& stateRoot) {
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->collector_ = std::make_shared<MetricsCollector>(stateRoot);
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidInput, "--metrics " + address + ": cannot listen there (" + e.what() +
                                               "); give a free ADDRESS:PORT, e.g. 127.0.0.1:9470");
  }
  server->exposer_->RegisterCollectable(server->collector_);
  return server;
}

MetricsServer::~MetricsServer() = default;

void MetricsServer::update(const RunStats& stats) { collector_->update(stats); }

}  // namespace vfsteer::daemon
