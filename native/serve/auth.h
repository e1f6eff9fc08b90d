// API keys: bearer tokens from a file (one per line, '#' comments) and/or the TANDEM_API_KEYS
// environment variable (comma-separated). No keys configured = no authentication.
// Keys are never logged or echoed; comparison takes the same time wherever a mismatch is.
#pragma once

#include <string>
#include <vector>

#include "core/runtime/status.h"

namespace tandem::serve {

class Auth {
 public:
  // `file` may be empty; `env` is the variable's value (may be null).
  static Result<Auth> load(const std::string& file, const char* env);
  bool enabled() const { return !keys_.empty(); }
  // True when auth is off or `authorization` is "Bearer <a configured key>".
  bool allows(const std::string* authorization) const;
  size_t key_count() const { return keys_.size(); }

 private:
  std::vector<std::string> keys_;
};

}  // namespace tandem::serve
