// Static files next to the API (tandem serve --static DIR): a web page and its package served from
// the same origin as the models it calls, so the page needs no CORS and can be cross-origin
// isolated (SharedArrayBuffer, the threads build). GET and HEAD only; paths that try to leave DIR
// (.., encoded or not, symlinks out of it) are refused.
#pragma once

#include <filesystem>
#include <string>

#include "native/serve/http_server.h"

namespace tandem::serve {

class StaticFiles {
 public:
  // `root` must be a directory; it is resolved once (symlinks included).
  static Result<StaticFiles> open(const std::string& root);

  // Whether this request is for the static tree rather than the API: GET or HEAD outside /v2
  // and /metrics.
  static bool wants(const HttpRequest& req);
  HttpResponse serve(const HttpRequest& req) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  explicit StaticFiles(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

// The Content-Type for a file name ("model.onnx" -> application/octet-stream).
std::string mime_type(const std::filesystem::path& file);

}  // namespace tandem::serve
