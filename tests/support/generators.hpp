// Random policies, profiles and packets for property tests. Values come from
// small domains (two VLAN ids, a few addresses and ports) so that chains
// overlap and packets hit them often. Policies are produced as YAML and go
// through the real loader, so every generated policy is one an operator could
// write.
#pragma once

#include <random>
#include <string>

#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::testing {

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  std::string policyYaml(int maxChains, int vfCount);
  policies::Profile profile();
  demux::Packet packet(const policies::Policy& policy);
  demux::Environment environment(const policies::Policy& policy);

  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::string matchYaml(int vfCount, std::string& fromOut, bool& tunnelOut, int& tagsOut);
  std::string stagesYaml(const std::string& from, bool tunnel, int tags, int vfCount);
  demux::Frame randomFrame();
  void satisfy(const policies::Match& m, demux::Packet& p);
  void satisfyFrame(const policies::Match& m, demux::Frame& f);
  void mutate(demux::Packet& p);

  std::mt19937_64 rng_;
};

}  // namespace vfsteer::testing
