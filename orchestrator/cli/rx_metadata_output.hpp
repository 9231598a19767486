// The XDP RX metadata each port supplies, as `vfsteer metadata show` and
// `vfsteer discover` print it (table and JSON).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "engine/rx_metadata.hpp"

namespace vfsteer::cli {

nlohmann::ordered_json rxMetadataJson(const std::vector<engine::PortRxMetadata>& ports);
nlohmann::ordered_json rxDisagreementsJson(const std::vector<engine::RxDisagreement>& disagreements);
// A table of ports × fields, then why a field is not supplied (one line per
// port and reason). Every line starts with `indent`.
void printRxMetadata(std::ostream& out, const std::vector<engine::PortRxMetadata>& ports, const std::string& indent);

}  // namespace vfsteer::cli
