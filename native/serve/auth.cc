#include "native/serve/auth.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace tandem::serve {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Constant time in the contents (the length may leak; keys should be long and random anyway).
bool same(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<Auth> Auth::load(const std::string& file, const char* env) {
  Auth auth;
  if (!file.empty()) {
    std::ifstream f(file);
    if (!f) return not_found("--api-key-file: cannot open '" + file + "'");
    std::string line;
    while (std::getline(f, line)) {
      line = trim(line);
      if (!line.empty() && line[0] != '#') auth.keys_.push_back(line);
    }
    if (auth.keys_.empty()) return invalid_argument("--api-key-file: '" + file + "' holds no keys");
  }
  if (env != nullptr) {
    std::stringstream ss(env);
    std::string key;
    while (std::getline(ss, key, ',')) {
      key = trim(key);
      if (!key.empty()) auth.keys_.push_back(key);
    }
  }
  return auth;
}

bool Auth::allows(const std::string* authorization) const {
  if (keys_.empty()) return true;
  if (authorization == nullptr) return false;
  static const std::string kBearer = "bearer ";
  if (authorization->size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>((*authorization)[i])) != kBearer[i]) return false;
  }
  const std::string token = trim(authorization->substr(kBearer.size()));
  bool ok = false;
  for (const std::string& k : keys_) ok = same(token, k) || ok;  // check every key: no early exit
  return ok;
}

}  // namespace tandem::serve
