#include "vfsteer/netlink/message.hpp"

#include <linux/genetlink.h>

#include <libmnl/libmnl.h>

#include <algorithm>
#include <cstring>

namespace vfsteer::netlink {

void NestGuard::close() {
  if (!msg_) return;
  if (msg_->overflowed_) {
    msg_ = nullptr;
    return;
  }
  auto* start = reinterpret_cast<nlattr*>(msg_->buf_.data() + offset_);
  mnl_attr_nest_end(msg_->nlh(), start);
  msg_ = nullptr;
}

Message::Message(uint16_t type, uint16_t flags) : buf_(256, 0) {
  nlmsghdr* h = mnl_nlmsg_put_header(buf_.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = flags;
}

Message::Message(const Message& other)
    : buf_(other.buf_), overflowed_(other.overflowed_), policy_(other.policy_) {}

Message& Message::operator=(const Message& other) {
  buf_ = other.buf_;
  overflowed_ = other.overflowed_;
  policy_ = other.policy_;
  return *this;
}

bool Message::reserve(size_t extra) {
  size_t need = nlh()->nlmsg_len + MNL_ALIGN(extra);
  if (need > kMaxSize) {
    overflowed_ = true;
    return false;
  }
  if (need > buf_.size()) buf_.resize(std::max(need, buf_.size() * 2), 0);
  return true;
}

void* Message::putExtraHeader(size_t len) {
  if (!reserve(len)) return nullptr;
  return mnl_nlmsg_put_extra_header(nlh(), len);
}

void Message::put(uint16_t type, const void* data, size_t len) {
  if (!reserve(MNL_ATTR_HDRLEN + len)) return;
  mnl_attr_put(nlh(), type, len, data);
}

void Message::putRaw(const void* data, size_t len) {
  if (!reserve(len)) return;
  auto* tail = static_cast<uint8_t*>(mnl_nlmsg_get_payload_tail(nlh()));
  std::memcpy(tail, data, len);
  std::memset(tail + len, 0, MNL_ALIGN(len) - len);
  nlh()->nlmsg_len += MNL_ALIGN(len);
}

void Message::putStrz(uint16_t type, std::string_view s) {
  std::string copy(s);
  put(type, copy.c_str(), copy.size() + 1);
}

NestGuard Message::nest(uint16_t type, bool nestedFlag) {
  if (!reserve(MNL_ATTR_HDRLEN)) return NestGuard(*this, 0);
  nlattr* start = mnl_attr_nest_start(nlh(), type);
  // libmnl always marks nests NLA_F_NESTED; iproute2 (and so our golden
  // fixtures) marks only some. The kernel accepts both.
  start->nla_type = static_cast<uint16_t>(type | (nestedFlag ? NLA_F_NESTED : 0));
  return NestGuard(*this, static_cast<uint32_t>(reinterpret_cast<uint8_t*>(start) - buf_.data()));
}

uint16_t Attr::type() const { return mnl_attr_get_type(nla); }

std::span<const uint8_t> Attr::payload() const {
  return {static_cast<const uint8_t*>(mnl_attr_get_payload(nla)), mnl_attr_get_payload_len(nla)};
}

uint8_t Attr::u8() const { return as<uint8_t>().value_or(0); }
uint16_t Attr::u16() const { return as<uint16_t>().value_or(0); }
uint32_t Attr::u32() const { return as<uint32_t>().value_or(0); }
uint64_t Attr::u64() const { return as<uint64_t>().value_or(0); }

std::string Attr::str() const {
  auto p = payload();
  std::string s(reinterpret_cast<const char*>(p.data()), p.size());
  if (auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  return s;
}

namespace {

// Counts the attributes in [begin, end) and finds their largest type,
// rejecting any that run past the end, so that a table is sized once: a
// dump of thousands of filters decodes tens of thousands of tables.
struct AttrCensus {
  size_t count = 0;
  uint16_t maxType = 0;
};
Result<AttrCensus> census(const uint8_t* begin, const uint8_t* end) {
  AttrCensus c;
  const uint8_t* p = begin;
  while (p + sizeof(nlattr) <= end) {
    const auto* nla = reinterpret_cast<const nlattr*>(p);
    if (nla->nla_len < sizeof(nlattr) || p + nla->nla_len > end)
      return Error(ErrorCode::kInternal, "malformed netlink attribute (length " +
                                             std::to_string(nla->nla_len) + ")");
    ++c.count;
    c.maxType = std::max<uint16_t>(c.maxType, nla->nla_type & NLA_TYPE_MASK);
    p += MNL_ALIGN(nla->nla_len);
  }
  return c;
}

}  // namespace

Result<const nlmsghdr*> checkedHeader(const RawMessage& raw, size_t headerLen) {
  const size_t fixed = NLMSG_HDRLEN + MNL_ALIGN(headerLen);
  if (raw.size() < fixed) return Error(ErrorCode::kInternal, "netlink message shorter than its fixed header");
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(raw.data());
  if (nlh->nlmsg_len < fixed || nlh->nlmsg_len > raw.size())
    return Error(ErrorCode::kInternal, "netlink message length " + std::to_string(nlh->nlmsg_len) +
                                           " does not fit its " + std::to_string(raw.size()) + " bytes");
  return nlh;
}

const AttrSpec* AttrPolicy::find(uint16_t type) const {
  if (type < kIndexedTypes) return bySmallType_[type] ? &specs[bySmallType_[type] - 1] : anyType;
  for (const auto& spec : specs)
    if (spec.type == type) return &spec;
  return anyType;
}

const AttrPolicy* nestedPolicy(const AttrSpec& spec, std::string_view siblingKind) {
  if (spec.nested) return spec.nested;
  for (const auto& choice : spec.byKind)
    if (choice.kind == siblingKind) return choice.policy;
  return nullptr;
}

std::string_view payloadProblem(const AttrSpec& spec, std::span<const uint8_t> payload) {
  const size_t n = payload.size();
  switch (spec.kind) {
    case AttrType::kU8: return n < 1 ? "shorter than a u8" : "";
    case AttrType::kU16: return n < 2 ? "shorter than a u16" : "";
    case AttrType::kU32: return n < 4 ? "shorter than a u32" : "";
    case AttrType::kU64: return n < 8 ? "shorter than a u64" : "";
    case AttrType::kFlag: return "";
    case AttrType::kString:
      return n == 0 || std::find(payload.begin(), payload.end(), uint8_t{0}) == payload.end()
                 ? "a string without its terminating NUL"
                 : "";
    case AttrType::kBinary: return n < spec.minLength ? "shorter than its structure" : "";
    case AttrType::kNested: return "";  // its own table checks it
  }
  return "";
}

Result<AttrTable> AttrTable::of(const uint8_t* begin, const uint8_t* end, const AttrPolicy& policy) {
  VFSTEER_ASSIGN_OR_RETURN(const AttrCensus c, census(begin, end));
  AttrTable t;
  t.all_.reserve(c.count);
  t.byType_.resize(c.count ? c.maxType + 1 : 0);
  for (const uint8_t* p = begin; p + sizeof(nlattr) <= end;) {
    const Attr a{reinterpret_cast<const nlattr*>(p)};
    p += MNL_ALIGN(a.nla->nla_len);
    const AttrSpec* spec = policy.find(a.type());
    if (!spec) continue;  // not read: not checked
    if (auto problem = payloadProblem(*spec, a.payload()); !problem.empty())
      return Error(ErrorCode::kInternal, "attribute " + std::string(spec->name) + " of " + std::string(policy.name) +
                                             " is " + std::string(problem) + " (" +
                                             std::to_string(a.payload().size()) + " bytes)");
    t.byType_[a.type()] = a;
    t.all_.push_back(a);
  }
  return t;
}

Result<AttrTable> AttrTable::ofMessage(const RawMessage& raw, size_t headerLen, const AttrPolicy& policy) {
  VFSTEER_ASSIGN_OR_RETURN(const nlmsghdr* nlh, checkedHeader(raw, headerLen));
  const auto* base = reinterpret_cast<const uint8_t*>(nlh);
  return of(base + NLMSG_HDRLEN + MNL_ALIGN(headerLen), base + nlh->nlmsg_len, policy);
}

Result<AttrTable> AttrTable::ofNest(const Attr& nest, const AttrPolicy& policy) {
  auto p = nest.payload();
  return of(p.data(), p.data() + p.size(), policy);
}

std::string attributePath(std::span<const uint8_t> request, size_t headerLen, uint32_t offset,
                          const AttrPolicy* policy) {
  std::string path;
  const uint8_t* begin = request.data() + NLMSG_HDRLEN + MNL_ALIGN(headerLen);
  const uint8_t* end = request.data() + request.size();
  const uint8_t* target = request.data() + offset;
  const std::string at = " (offset " + std::to_string(offset) + ")";
  while (begin + sizeof(nlattr) <= end) {
    // The string attributes of this level, for a nest whose space one of
    // them chooses.
    auto siblingString = [&](uint16_t type) -> std::string_view {
      for (const uint8_t* p = begin; p + sizeof(nlattr) <= end;) {
        const auto* nla = reinterpret_cast<const nlattr*>(p);
        if (nla->nla_len < sizeof(nlattr) || p + nla->nla_len > end) break;
        if ((nla->nla_type & NLA_TYPE_MASK) == type) {
          const char* text = reinterpret_cast<const char*>(p + sizeof(nlattr));
          return std::string_view(text, strnlen(text, nla->nla_len - sizeof(nlattr)));
        }
        p += MNL_ALIGN(nla->nla_len);
      }
      return {};
    };
    const uint8_t* p = begin;
    bool descended = false;
    while (p + sizeof(nlattr) <= end) {
      const auto* nla = reinterpret_cast<const nlattr*>(p);
      // A length past its parent's end is not followed (a request we
      // built never has one; a fuzzer's does).
      if (nla->nla_len < sizeof(nlattr) || p + nla->nla_len > end) break;
      const uint8_t* next = p + MNL_ALIGN(nla->nla_len);
      if (target >= p && target < next) {
        const uint16_t type = nla->nla_type & NLA_TYPE_MASK;
        const AttrSpec* spec = policy ? policy->find(type) : nullptr;
        if (!path.empty()) path += " > ";
        path += spec ? std::string(spec->name) : "attr " + std::to_string(type);
        // The attribute itself, or bytes of a payload that holds no attributes.
        if (target == p || (spec && spec->kind != AttrType::kNested)) return path + at;
        policy = spec ? nestedPolicy(*spec, siblingString(spec->kindSibling)) : nullptr;
        begin = p + sizeof(nlattr);
        end = p + nla->nla_len;
        descended = true;
        break;
      }
      p = next;
    }
    if (!descended) break;
  }
  return path.empty() ? "offset " + std::to_string(offset) : path + at;
}

namespace {

constexpr AttrSpec kCtrlSpecs[] = {
    {CTRL_ATTR_FAMILY_ID, "CTRL_ATTR_FAMILY_ID", AttrType::kU16},
    {CTRL_ATTR_FAMILY_NAME, "CTRL_ATTR_FAMILY_NAME", AttrType::kString},
};
constexpr AttrPolicy kCtrlPolicy{"the generic netlink controller", kCtrlSpecs};

}  // namespace

Message genlMessage(uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags) {
  Message m(family, flags);
  genlmsghdr g{};
  g.cmd = cmd;
  g.version = version;
  m.putHeader(g);
  return m;
}

Message encodeGetFamily(const std::string& familyName) {
  Message m = genlMessage(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kCtrlPolicy);
  m.putStrz(CTRL_ATTR_FAMILY_NAME, familyName);
  return m;
}

Result<uint16_t> decodeFamilyId(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, AttrTable::ofMessage(raw, GENL_HDRLEN, kCtrlPolicy));
  auto id = t.get(CTRL_ATTR_FAMILY_ID);
  if (!id) return Error(ErrorCode::kInternal, "family reply without an id");
  return id->u16();
}

}  // namespace vfsteer::netlink
