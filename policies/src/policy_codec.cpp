#include "vfsteer/policies/codec.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace vfsteer::policies {

namespace {

// Each struct's fields are listed once, in fields() below, and both the
// writer and the reader walk that list: they cannot disagree on the order.
// The sizes are a tripwire: a struct that grew has a field the list may
// lack (add it there, then update the size here). They are those of x86-64
// with libstdc++, where vfsteer is built and tested; elsewhere they differ.
#if defined(__x86_64__) && defined(__GLIBCXX__)
static_assert(sizeof(SourcePos) == 40);
static_assert(sizeof(MacMatch) == 12);
static_assert(sizeof(IpPrefix) == 18);
static_assert(sizeof(VfSetting) == 88);
static_assert(sizeof(Device) == 320);
static_assert(sizeof(Port) == 8);
static_assert(sizeof(VlanMatch) == 12);
static_assert(sizeof(TunnelMatch) == 52);
static_assert(sizeof(Match) == 224);
static_assert(sizeof(Target) == 8);
static_assert(sizeof(VlanPushStage) == 8);
static_assert(sizeof(QueueStage) == 2);
static_assert(sizeof(PoliceStage) == 16);
static_assert(sizeof(MarkStage) == 4);
static_assert(sizeof(MirrorStage) == 8);
static_assert(sizeof(BpfStage) == 64);
static_assert(sizeof(DeliverStage) == 8);
static_assert(sizeof(Stage) == 112);
static_assert(sizeof(Chain) == 328);
static_assert(sizeof(Policy) == 384);
#endif

// How many values each enum has: a byte outside the range is not one this
// build wrote. An enum that gains a value and not a count here only makes
// the cache miss (the policy is parsed again), never decode wrongly.
template <class E> constexpr unsigned kValues = 0;
template <> constexpr unsigned kValues<EswitchMode> = 2;
template <> constexpr unsigned kValues<OffloadMode> = 3;
template <> constexpr unsigned kValues<LinkState> = 3;
template <> constexpr unsigned kValues<Device::BpfHook> = 2;
template <> constexpr unsigned kValues<Port::Kind> = 2;
template <> constexpr unsigned kValues<IpVersion> = 4;
template <> constexpr unsigned kValues<TunnelType> = 2;
template <> constexpr unsigned kValues<TargetKind> = 4;
template <> constexpr unsigned kValues<VlanProto> = 2;

template <class Io> void fields(Io& io, SourcePos& p) { io(p.file, p.line, p.column); }
template <class Io> void fields(Io& io, MacAddress& m) { io(m.bytes); }
template <class Io> void fields(Io& io, MacMatch& m) { io(m.addr, m.mask); }
template <class Io> void fields(Io& io, IpPrefix& p) { io(p.v6, p.addr, p.length); }
template <class Io> void fields(Io& io, VfSetting& v) {
  io(v.vf, v.mac, v.vlan, v.qos, v.vlanProto, v.trust, v.spoofchk, v.linkState, v.maxTxRateMbps, v.minTxRateMbps,
     v.pos);
}
template <class Io> void fields(Io& io, Device& d) {
  io(d.pf, d.netns, d.eswitch, d.eswitchDeclared, d.eswitchPos, d.profile, d.profilePos, d.vfCount, d.vfsDeclared,
     d.vfSettings, d.bpfOffload, d.bpfOffloadPos, d.hostXdp, d.hostSpecialize, d.pos);
}
template <class Io> void fields(Io& io, Port& p) { io(p.kind, p.vf); }
template <class Io> void fields(Io& io, VlanMatch& v) { io(v.id, v.prio, v.proto); }
template <class Io> void fields(Io& io, TunnelMatch& t) { io(t.type, t.vni, t.dstPort, t.srcIp, t.dstIp); }
template <class Io> void fields(Io& io, Match& m) {
  io(m.from, m.srcMac, m.dstMac, m.ethertype, m.vlan, m.cvlan, m.untagged, m.ipVersion, m.srcIp, m.dstIp, m.ipProto,
     m.srcPort, m.dstPort, m.tunnel, m.pos);
}
template <class Io> void fields(Io& io, Target& t) { io(t.kind, t.index); }
template <class Io> void fields(Io&, VlanPopStage&) {}
template <class Io> void fields(Io& io, VlanPushStage& s) { io(s.id, s.prio, s.proto); }
template <class Io> void fields(Io&, TunnelDecapStage&) {}
template <class Io> void fields(Io& io, QueueStage& s) { io(s.queue); }
template <class Io> void fields(Io& io, PoliceStage& s) { io(s.rateBitsPerSec, s.burstBytes); }
template <class Io> void fields(Io& io, MarkStage& s) { io(s.mark); }
template <class Io> void fields(Io& io, MirrorStage& s) { io(s.to); }
template <class Io> void fields(Io&, DropStage&) {}
template <class Io> void fields(Io& io, BpfStage& s) { io(s.object, s.program); }
template <class Io> void fields(Io& io, DeliverStage& s) { io(s.to); }
template <class Io> void fields(Io& io, Stage& s) { io(s.op, s.pos); }
template <class Io> void fields(Io& io, Chain& c) { io(c.name, c.priority, c.offload, c.match, c.stages, c.pos); }
template <class Io> void fields(Io& io, Policy& p) { io(p.version, p.file, p.device, p.chains); }

template <class T> struct IsOptional : std::false_type {};
template <class T> struct IsOptional<std::optional<T>> : std::true_type {};
template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};
template <class T> struct IsVariant : std::false_type {};
template <class... T> struct IsVariant<std::variant<T...>> : std::true_type {};
template <class T> struct IsByteArray : std::false_type {};
template <size_t N> struct IsByteArray<std::array<uint8_t, N>> : std::true_type {};

// Numbers in host byte order, their own width; sizes as 32 bits.
class Writer {
 public:
  std::string out;

  template <class... T> void operator()(T&... values) { (put(values), ...); }

 private:
  template <class T> void put(T& v) {
    if constexpr (std::is_enum_v<T>) {
      static_assert(kValues<T> > 0, "an enum the codec has no count for");
      raw(static_cast<uint8_t>(v));
    } else if constexpr (std::is_arithmetic_v<T>) {
      raw(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      raw(static_cast<uint32_t>(v.size()));
      out.append(v);
    } else if constexpr (IsByteArray<T>::value) {
      out.append(reinterpret_cast<const char*>(v.data()), v.size());
    } else if constexpr (IsOptional<T>::value) {
      raw(static_cast<uint8_t>(v.has_value()));
      if (v) put(*v);
    } else if constexpr (IsVector<T>::value) {
      raw(static_cast<uint32_t>(v.size()));
      for (auto& item : v) put(item);
    } else if constexpr (IsVariant<T>::value) {
      raw(static_cast<uint8_t>(v.index()));
      std::visit([&](auto& alternative) { put(alternative); }, v);
    } else {
      fields(*this, v);
    }
  }
  template <class T> void raw(T v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
};

// Reads what Writer wrote; the first thing out of place makes it bad, and
// everything after reads as zero.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool good() const { return good_; }
  bool done() const { return good_ && in_.empty(); }

  template <class... T> void operator()(T&... values) { (get(values), ...); }

 private:
  template <class T> void get(T& v) {
    if constexpr (std::is_enum_v<T>) {
      const uint8_t n = raw<uint8_t>();
      if (n >= kValues<T>) good_ = false;
      v = good_ ? static_cast<T>(n) : T{};
    } else if constexpr (std::is_arithmetic_v<T>) {
      v = raw<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      const uint32_t n = raw<uint32_t>();
      v.assign(take(n));
    } else if constexpr (IsByteArray<T>::value) {
      const std::string_view bytes = take(v.size());
      if (good_) std::memcpy(v.data(), bytes.data(), v.size());
    } else if constexpr (IsOptional<T>::value) {
      if (raw<uint8_t>() == 1) get(v.emplace());
    } else if constexpr (IsVector<T>::value) {
      const uint32_t n = raw<uint32_t>();
      if (n > in_.size()) good_ = false;  // every item takes a byte at least
      if (!good_) return;
      v.resize(n);
      for (auto& item : v) get(item);
    } else if constexpr (IsVariant<T>::value) {
      const uint8_t index = raw<uint8_t>();
      if (index >= std::variant_size_v<T>) good_ = false;
      if (good_) emplace(v, index, std::make_index_sequence<std::variant_size_v<T>>());
    } else {
      fields(*this, v);
    }
  }

  template <class V, size_t... I> void emplace(V& v, size_t index, std::index_sequence<I...>) {
    ((index == I ? (get(v.template emplace<I>()), 0) : 0), ...);
  }

  template <class T> T raw() {
    T v{};
    const std::string_view bytes = take(sizeof v);
    if (good_) std::memcpy(&v, bytes.data(), sizeof v);
    return v;
  }

  std::string_view take(size_t n) {
    if (!good_ || n > in_.size()) {
      good_ = false;
      return {};
    }
    const std::string_view head = in_.substr(0, n);
    in_.remove_prefix(n);
    return head;
  }

  std::string_view in_;
  bool good_ = true;
};

}  // namespace

std::string encodePolicy(const Policy& policy) {
  Writer w;
  // The writer only reads; fields() takes non-const references so that one
  // list serves the reader too.
  w(const_cast<Policy&>(policy));
  return std::move(w.out);
}

std::optional<Policy> decodePolicy(std::string_view bytes) {
  Policy policy;
  Reader r(bytes);
  r(policy);
  if (!r.done()) return std::nullopt;
  return policy;
}

}  // namespace vfsteer::policies
