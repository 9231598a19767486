// Strong types for numbers that are easy to mix up: a VF's index is not the
// ifindex of its representor (the engine's bindings map one to the other).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace vfsteer {

template <class Tag, class Rep>
struct Strong {
  Rep value{};
  constexpr Strong() = default;
  constexpr explicit Strong(Rep v) : value(v) {}
  constexpr auto operator<=>(const Strong&) const = default;
};

using IfIndex = Strong<struct IfIndexTag, int>;
using VfIndex = Strong<struct VfIndexTag, uint16_t>;

}  // namespace vfsteer

template <class Tag, class Rep>
struct std::hash<vfsteer::Strong<Tag, Rep>> {
  size_t operator()(const vfsteer::Strong<Tag, Rep>& s) const noexcept {
    return std::hash<Rep>{}(s.value);
  }
};
