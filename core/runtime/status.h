// Status and Result<T>: errors are values in the core and across the C API.
// No exceptions cross a Tandem boundary; code that calls throwing libraries
// (protozero, std::bad_alloc) catches at the boundary and returns a Status.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tandem {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,   // the caller passed something wrong (names, shapes, dtypes)
  kInvalidModel = 2,      // the model file is malformed or inconsistent
  kUnsupported = 3,       // valid, but this build cannot run it (unknown op, dtype)
  kOutOfMemory = 4,       // an allocation or a size limit was exceeded
  kNotFound = 5,          // a file or a named thing does not exist
  kIoError = 6,           // reading or writing a file failed
  kInternal = 7,          // a bug in Tandem
  kUnavailable = 8,       // a remote endpoint or device cannot be reached
  kDeadlineExceeded = 9,  // the caller's deadline passed before an answer came
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidModel: node 'conv1' (Conv): ..." -- what a user sees.
  std::string to_string() const;

  // Adds context in front of the message: "while loading x: <old message>".
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status invalid_model(std::string m) { return {StatusCode::kInvalidModel, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status out_of_memory(std::string m) { return {StatusCode::kOutOfMemory, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.is_ok() && "Result constructed from an ok Status");
    if (status_.is_ok()) status_ = internal_error("Result constructed from an ok Status");
  }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }

  T& value() & { assert(is_ok()); return *value_; }
  const T& value() const& { assert(is_ok()); return *value_; }
  T&& value() && { assert(is_ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace tandem

#define TANDEM_CONCAT_INNER_(a, b) a##b
#define TANDEM_CONCAT_(a, b) TANDEM_CONCAT_INNER_(a, b)

#define TANDEM_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    ::tandem::Status tandem_status_ = (expr);         \
    if (!tandem_status_.is_ok()) return tandem_status_; \
  } while (0)

#define TANDEM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.is_ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

// Declares or assigns `lhs` from a Result, returning its Status on error. It
// expands to several statements: put it in braces under an `if`.
#define TANDEM_ASSIGN_OR_RETURN(lhs, expr) \
  TANDEM_ASSIGN_OR_RETURN_IMPL_(TANDEM_CONCAT_(tandem_result_, __LINE__), lhs, expr)
