// Attribute policies: for each attribute space (tc, flower, the actions,
// links, devlink...) a table of the attributes vfsteer reads or writes,
// with their name and what their payload must be. As the kernel's own
// nla_policy, YNL's ynl_attr_validate and Open vSwitch's nl_policy_parse
// do, a decoder checks every attribute it reads against its table before it
// reads it, so no getter ever turns a payload that is too short into a 0;
// and the offset the kernel's extended ack names is turned into a path of
// names ("TCA_OPTIONS > TCA_FLOWER_KEY_IPV4_DST").
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

namespace vfsteer::netlink {

enum class AttrType : uint8_t {
  kU8,
  kU16,
  kU32,
  kU64,
  kFlag,     // no payload
  kString,   // NUL-terminated
  kBinary,   // at least `minLength` bytes (a struct, an address...)
  kNested,   // attributes of `nested` (or of the space `byKind` chooses)
};

struct AttrPolicy;

// The nested space of an attribute whose layout depends on a sibling: the
// options of a filter on its TCA_KIND, those of an action on TCA_ACT_KIND.
struct KindChoice {
  std::string_view kind;
  const AttrPolicy* policy;
};

struct AttrSpec {
  constexpr AttrSpec(uint16_t t, std::string_view n, AttrType k, uint16_t min = 0, const AttrPolicy* inner = nullptr,
                     uint16_t sibling = 0, std::span<const KindChoice> kinds = {})
      : type(t), name(n), kind(k), minLength(min), nested(inner), kindSibling(sibling), byKind(kinds) {}
  uint16_t type = 0;
  std::string_view name;
  AttrType kind = AttrType::kBinary;
  uint16_t minLength = 0;              // kBinary
  const AttrPolicy* nested = nullptr;  // kNested
  uint16_t kindSibling = 0;            // kNested: the string attribute that chooses...
  std::span<const KindChoice> byKind;  // ...the space among these
};

struct AttrPolicy {
  constexpr AttrPolicy(std::string_view n, std::span<const AttrSpec> s, const AttrSpec* any = nullptr)
      : name(n), specs(s), anyType(any) {
    for (size_t i = 0; i < s.size() && i < 255; ++i)
      if (s[i].type < kIndexedTypes && bySmallType_[s[i].type] == 0) bySmallType_[s[i].type] = static_cast<uint8_t>(i + 1);
  }
  std::string_view name;            // for messages: "tc", "flower"...
  std::span<const AttrSpec> specs;  // by type, any order
  // Attributes of any type (the slots of an action list, numbered 1..N).
  const AttrSpec* anyType = nullptr;

  const AttrSpec* find(uint16_t type) const;

 private:
  // Every attribute of every message is looked up here: for the types
  // netlink families use (all below 128 in vfsteer's spaces), the index of
  // its spec + 1 (0: none; a policy has fewer than 255 specs), built at
  // compile time; a scan above that.
  static constexpr uint16_t kIndexedTypes = 128;
  std::array<uint8_t, kIndexedTypes> bySmallType_{};
};

// The space a nested attribute's payload is in, given the string value of
// its kind sibling (when the spec depends on one); null when unknown.
const AttrPolicy* nestedPolicy(const AttrSpec& spec, std::string_view siblingKind);

// What is wrong with `payload` for `spec` ("" when nothing).
std::string_view payloadProblem(const AttrSpec& spec, std::span<const uint8_t> payload);

}  // namespace vfsteer::netlink
