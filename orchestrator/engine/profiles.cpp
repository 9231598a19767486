#include "engine/profiles.hpp"

#include <cstdlib>
#include <filesystem>

#include "vfsteer/common/names.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/driver.hpp"

namespace vfsteer::engine {

std::string profileDir(const std::optional<std::string>& flag) {
  if (flag) return *flag;
  if (const char* env = std::getenv("VFSTEER_PROFILES"); env && *env) return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share/vfsteer/profiles";
    if (std::filesystem::is_directory(installed, ec)) return installed.string();
  }
  return VFSTEER_SOURCE_PROFILES;
}

Result<policies::Profile> resolveProfile(const policies::Policy& policy,
                                         const std::optional<std::string>& flag,
                                         const std::string& dir,
                                         const std::optional<std::string>& driver) {
  VFSTEER_ASSIGN_OR_RETURN(auto profiles, policies::loadProfileDir(dir));
  const std::string wanted = flag ? *flag : policy.device.profile;
  const std::string where = flag ? "--profile" : policy.device.profilePos.str() + ": device.profile";
  std::string pfDriver = driver.value_or("");
  if (wanted == "auto" && !driver) {
    auto d = representors::driverOf(policy.device.pf);
    if (!d.ok())
      return Error(ErrorCode::kNotFound,
                   "profile auto: cannot find the driver of device.pf " + names::quoted(policy.device.pf) + " (" +
                       d.error().describe() + "); name a profile with --profile")
          .addContext(where);
    pfDriver = *d;
  }
  auto p = policies::selectProfile(profiles, wanted, pfDriver);
  if (!p.ok()) return std::move(p).error().addContext(where);
  return p;
}

}  // namespace vfsteer::engine
