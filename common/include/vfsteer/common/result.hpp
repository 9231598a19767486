// Result<T>: a value or an Error. Returned across every module boundary;
// nothing throws across modules and nothing below main() exits.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vfsteer {

// What the caller can do about an error (modelled on abseil's status codes).
enum class ErrorCode {
  kInvalidInput,   // the operator's input is wrong: fix it and retry
  kNotSupported,   // the kernel/NIC cannot do it: move it to the host, or fail under skip-sw
  kNotFound,       // a device, file or object does not exist
  kExists,         // the object is already there
  kRetryable,      // EBUSY/EAGAIN and friends: try again later
  kPermission,     // needs root or a capability
  kConflict,       // another owner holds it (lock, foreign object)
  kInternal,       // a bug or an unexpected kernel answer
};

inline const char* toString(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput: return "invalid input";
    case ErrorCode::kNotSupported: return "not supported";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kExists: return "exists";
    case ErrorCode::kRetryable: return "retryable";
    case ErrorCode::kPermission: return "permission denied";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown";
}

inline ErrorCode errorCodeFromErrno(int errnum) {
  switch (errnum) {
    case EOPNOTSUPP: return ErrorCode::kNotSupported;
    case ENOENT:
    case ENODEV:
    case ESRCH: return ErrorCode::kNotFound;
    case EEXIST: return ErrorCode::kExists;
    case EBUSY:
    case EAGAIN:
    case EINTR:
    case ENOBUFS: return ErrorCode::kRetryable;
    case EPERM:
    case EACCES: return ErrorCode::kPermission;
    case EINVAL:
    case ERANGE:
    case E2BIG: return ErrorCode::kInvalidInput;
    default: return ErrorCode::kInternal;
  }
}

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  // An error reported by the kernel: errno plus, when the kernel gave one,
  // its extended-ack text and the offset of the offending attribute.
  static Error fromErrno(int errnum, std::string message, std::string kernelText = {},
                         std::string attribute = {}) {
    Error e(errorCodeFromErrno(errnum), std::move(message));
    e.errno_ = errnum;
    e.kernelText_ = std::move(kernelText);
    e.attribute_ = std::move(attribute);
    return e;
  }

  ErrorCode code() const { return code_; }
  int errnum() const { return errno_; }
  const std::string& message() const { return message_; }
  const std::string& kernelText() const { return kernelText_; }
  const std::string& attribute() const { return attribute_; }
  const std::vector<std::string>& context() const { return context_; }

  // Adds an outer layer of context ("add flower prio 10 on pf0vf3").
  Error& addContext(std::string what) & {
    context_.push_back(std::move(what));
    return *this;
  }
  Error&& addContext(std::string what) && {
    context_.push_back(std::move(what));
    return std::move(*this);
  }

  // One line for people: outermost context first, then the message, then the
  // kernel's own words.
  std::string describe() const {
    std::string out;
    for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
      out += *it;
      out += ": ";
    }
    out += message_;
    if (errno_ != 0) {
      out += " (";
      out += std::strerror(errno_);
      out += ")";
    }
    if (!kernelText_.empty()) {
      out += ": kernel says \"";
      out += kernelText_;
      out += "\"";
    }
    if (!attribute_.empty()) {
      out += " [attribute ";
      out += attribute_;
      out += "]";
    }
    return out;
  }

 private:
  ErrorCode code_;
  int errno_ = 0;
  std::string message_;
  std::string kernelText_;
  std::string attribute_;
  std::vector<std::string> context_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return {}; }

}  // namespace vfsteer

// Propagates an error from an expression returning Result<...>.
#define VFSTEER_TRY(expr)                             \
  do {                                                \
    auto&& vfsteer_try_result_ = (expr);              \
    if (!vfsteer_try_result_.ok())                    \
      return std::move(vfsteer_try_result_).error();  \
  } while (0)

#define VFSTEER_CONCAT_INNER(a, b) a##b
#define VFSTEER_CONCAT(a, b) VFSTEER_CONCAT_INNER(a, b)
// Binds the value of a Result<T> expression or returns its error.
#define VFSTEER_ASSIGN_OR_RETURN(lhs, expr) \
  VFSTEER_ASSIGN_OR_RETURN_IMPL(VFSTEER_CONCAT(vfsteer_result_, __LINE__), lhs, expr)
#define VFSTEER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).error();       \
  lhs = std::move(tmp).value()
