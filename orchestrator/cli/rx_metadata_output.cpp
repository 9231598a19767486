#include "cli/rx_metadata_output.hpp"

#include <algorithm>
#include <map>
#include <string>

namespace vfsteer::cli {

using nlohmann::ordered_json;

ordered_json rxMetadataJson(const std::vector<engine::PortRxMetadata>& ports) {
  ordered_json out = ordered_json::array();
  for (const auto& p : ports) {
    ordered_json fields = ordered_json::object();
    for (const auto& f : p.fields)
      fields[std::string(engine::name(f.field))] = {{"supplied", std::string(engine::name(f.supply))},
                                                    {"reason", f.reason}};
    out.push_back({{"port", p.port}, {"role", p.role}, {"ifindex", p.ifindex}, {"fields", fields}});
  }
  return out;
}

ordered_json rxDisagreementsJson(const std::vector<engine::RxDisagreement>& disagreements) {
  ordered_json out = ordered_json::array();
  for (const auto& d : disagreements)
    out.push_back({{"port", d.port},
                   {"field", std::string(engine::name(d.field))},
                   {"claimed", d.claimed},
                   {"supplied", std::string(engine::name(d.found))},
                   {"message", d.message}});
  return out;
}

void printRxMetadata(std::ostream& out, const std::vector<engine::PortRxMetadata>& ports, const std::string& indent) {
  size_t portWidth = 4, roleWidth = 4;
  for (const auto& p : ports) {
    portWidth = std::max(portWidth, p.port.size());
    roleWidth = std::max(roleWidth, p.role.size());
  }
  auto pad = [](const std::string& s, size_t width) { return s + std::string(width + 2 - std::min(width, s.size()), ' '); };
  auto line = [&](std::string text) {
    text.erase(text.find_last_not_of(' ') + 1);
    out << indent << text << "\n";
  };
  std::string head = pad("PORT", portWidth) + pad("ROLE", roleWidth);
  for (engine::RxField f : engine::kRxFields) head += pad(std::string(engine::name(f)), 12);
  line(head);
  for (const auto& p : ports) {
    std::string row = pad(p.port, portWidth) + pad(p.role, roleWidth);
    for (const auto& f : p.fields) row += pad(std::string(engine::name(f.supply)), 12);
    line(row);
  }
  // Why not: the fields of a port that share a reason on one line.
  for (const auto& p : ports) {
    std::map<std::string, std::string> fieldsByReason;
    for (const auto& f : p.fields) {
      if (f.supply == engine::Supply::kYes) continue;
      auto& fields = fieldsByReason[f.reason];
      fields += (fields.empty() ? "" : ", ") + std::string(engine::name(f.field));
    }
    for (const auto& [reason, fields] : fieldsByReason) out << indent << p.port << " " << fields << ": " << reason << "\n";
  }
}

}  // namespace vfsteer::cli
