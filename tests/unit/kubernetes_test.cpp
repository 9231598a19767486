// deploy/kubernetes/vfsteer.yaml and deploy/container/Containerfile, held
// against what `vfsteer run` needs: the policy it is told to read is the
// ConfigMap's (and loads), the metrics port is the one exposed and probed,
// the capabilities are those requirePrivileges asks for, and its state and
// pins are the host's.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "vfsteer/common/paths.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::testing {
namespace {

namespace fs = std::filesystem;

std::vector<YAML::Node> manifests() {
  return YAML::LoadAllFromFile(std::string(VFSTEER_SOURCE_DIR) + "/deploy/kubernetes/vfsteer.yaml");
}

YAML::Node ofKind(const std::string& kind) {
  for (const auto& m : manifests())
    if (m["kind"].as<std::string>() == kind) return m;
  ADD_FAILURE() << "no " << kind;
  return YAML::Node();
}

std::string argAfter(const YAML::Node& args, const std::string& flag) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i].as<std::string>() == flag) return args[i + 1].as<std::string>();
  return "";
}

// The mount of the container whose path is `path`, and its volume.
std::pair<YAML::Node, YAML::Node> mountAt(const YAML::Node& pod, const std::string& path) {
  for (const auto& m : pod["containers"][0]["volumeMounts"])
    if (m["mountPath"].as<std::string>() == path)
      for (const auto& v : pod["volumes"])
        if (v["name"].as<std::string>() == m["name"].as<std::string>()) return {m, v};
  ADD_FAILURE() << "nothing mounted at " << path;
  return {};
}

TEST(Kubernetes, TheDaemonSetRunsThePolicyOfItsConfigMap) {
  const YAML::Node pod = ofKind("DaemonSet")["spec"]["template"]["spec"];
  const YAML::Node c = pod["containers"][0];
  ASSERT_EQ(c["args"][0].as<std::string>(), "run");
  const fs::path policy = argAfter(c["args"], "-f");
  auto [mount, volume] = mountAt(pod, policy.parent_path().string());
  ASSERT_TRUE(volume["configMap"]) << "the policy comes from the ConfigMap";
  const YAML::Node cm = ofKind("ConfigMap");
  EXPECT_EQ(volume["configMap"]["name"].as<std::string>(), cm["metadata"]["name"].as<std::string>());
  const std::string text = cm["data"][policy.filename().string()].as<std::string>("");
  ASSERT_NE(text, "") << "the ConfigMap has no key " << policy.filename();
  auto loaded = policies::loadPolicyText(text, "configmap:" + policy.filename().string());
  EXPECT_TRUE(loaded.ok()) << loaded.error().describe();
}

TEST(Kubernetes, MetricsPortIsExposedAndProbed) {
  const YAML::Node c = ofKind("DaemonSet")["spec"]["template"]["spec"]["containers"][0];
  const std::string address = argAfter(c["args"], "--metrics");
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  EXPECT_EQ(c["ports"][0]["containerPort"].as<int>(), port);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"].as<int>(), port);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/metrics");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"].as<int>(), port);
}

TEST(Kubernetes, CapabilitiesNamespaceAndHostPathsAreWhatRunNeeds) {
  const YAML::Node pod = ofKind("DaemonSet")["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["hostNetwork"].as<bool>()) << "the PF and its representors are in the host's namespace";
  std::set<std::string> caps;
  for (const auto& cap : pod["containers"][0]["securityContext"]["capabilities"]["add"]) caps.insert(cap.as<std::string>());
  for (const char* cap : {"NET_ADMIN", "BPF", "SYS_ADMIN"}) EXPECT_TRUE(caps.contains(cap)) << cap;
  // The state must be the host's, at the same path, so a new pod takes over.
  auto [state, stateVolume] = mountAt(pod, paths::kStateRoot);
  EXPECT_EQ(stateVolume["hostPath"]["path"].as<std::string>(""), paths::kStateRoot);
  const std::string bpffs = fs::path(paths::kPinRoot).parent_path().string();
  auto [pins, pinsVolume] = mountAt(pod, bpffs);
  EXPECT_EQ(pinsVolume["hostPath"]["path"].as<std::string>(""), bpffs);
  auto [netns, netnsVolume] = mountAt(pod, "/run/netns");
  EXPECT_EQ(netns["mountPropagation"].as<std::string>(""), "HostToContainer")
      << "namespaces made after the pod started must show";
}

TEST(Kubernetes, TheContainerImageRunsTheSameCommand) {
  std::ifstream in(std::string(VFSTEER_SOURCE_DIR) + "/deploy/container/Containerfile");
  std::stringstream s;
  s << in.rdbuf();
  const std::string file = s.str();
  EXPECT_NE(file.find("ENTRYPOINT [\"/usr/bin/vfsteer\"]"), std::string::npos);
  const YAML::Node args = ofKind("DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"];
  std::string cmd = "CMD [";
  for (size_t i = 0; i < args.size(); ++i) cmd += (i ? ", \"" : "\"") + args[i].as<std::string>() + "\"";
  EXPECT_NE(file.find(cmd + "]"), std::string::npos) << cmd;
}

}  // namespace
}  // namespace vfsteer::testing
