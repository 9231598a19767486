#include "engine/policy_cache.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <fstream>

#include "vfsteer/policies/codec.hpp"

namespace vfsteer::engine {

namespace {

// An entry: the magic line, then the binary, the path and the text it was
// made from (sizes first, in host byte order), then the encoded policy.
constexpr std::string_view kMagic = "vfsteer policy cache\n";

// The running binary as a file: a rebuild or an upgrade changes it, and
// with it what the policy loader may make of the same text.
std::string binaryIdentity() {
  struct stat st {};
  if (::stat("/proc/self/exe", &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

template <class Size> void putSized(std::string& out, std::string_view bytes) {
  const Size n = static_cast<Size>(bytes.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(bytes);
}

template <class Size> std::optional<Size> readSize(std::istream& in) {
  Size n{};
  if (!in.read(reinterpret_cast<char*>(&n), sizeof n)) return std::nullopt;
  return n;
}

// Reads `n` bytes when they are there (a size past the end of a damaged
// entry must not become an allocation of that size).
bool readExactly(std::istream& in, size_t n, size_t left, std::string& out) {
  if (n > left) return false;
  out.resize(n);
  return static_cast<bool>(in.read(out.data(), static_cast<std::streamsize>(n)));
}

// The entry's policy if it was made by this binary from this text at this
// path. The path and the text's size are compared before the text is read.
std::optional<policies::Policy> readEntry(const std::string& path, const std::string& binary, const std::string& file,
                                          std::string_view text) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  const std::streamoff end = in.tellg();
  if (end < 0 || !in.seekg(0)) return std::nullopt;
  const auto total = static_cast<size_t>(end);
  std::string field;
  if (!readExactly(in, kMagic.size(), total, field) || field != kMagic) return std::nullopt;
  for (const std::string* expected : {&binary, &file}) {
    auto n = readSize<uint32_t>(in);
    if (!n || *n != expected->size() || !readExactly(in, *n, total, field) || field != *expected) return std::nullopt;
  }
  auto textSize = readSize<uint64_t>(in);
  if (!textSize || *textSize != text.size() || !readExactly(in, text.size(), total, field) || field != text)
    return std::nullopt;
  const auto at = static_cast<size_t>(in.tellg());
  if (!readExactly(in, total - at, total, field)) return std::nullopt;
  return policies::decodePolicy(field);
}

}  // namespace

std::optional<CachedPolicy> findCachedPolicy(const StateStore& store, const std::string& file, std::string_view text) {
  const std::string binary = binaryIdentity();
  if (binary.empty()) return std::nullopt;
  for (const auto& instance : store.instances()) {
    auto dir = store.dir(instance);
    if (!dir.ok()) continue;
    if (auto policy = readEntry(*dir + "/" + kPolicyCacheFile, binary, file, text))
      return CachedPolicy{std::move(*policy), instance};
  }
  return std::nullopt;
}

Status cachePolicy(const StateStore& store, const std::string& instance, const std::string& file,
                   std::string_view text, const policies::Policy& policy) {
  const std::string binary = binaryIdentity();
  if (binary.empty()) return okStatus();  // nothing to key an entry by: none is kept
  VFSTEER_ASSIGN_OR_RETURN(auto dir, store.dir(instance));
  std::string entry(kMagic);
  putSized<uint32_t>(entry, binary);
  putSized<uint32_t>(entry, file);
  putSized<uint64_t>(entry, text);
  entry += policies::encodePolicy(policy);
  return writeAtomically(dir + "/" + kPolicyCacheFile, entry);
}

}  // namespace vfsteer::engine
