#include "native/serve/static_files.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <system_error>

namespace tandem::serve {
namespace {

namespace fs = std::filesystem;

HttpResponse plain(int status, const std::string& text) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::to_string(status) + " " + text + "\n";
  return r;
}

// Every static answer: never cached stale while a demo's files change, never sniffed, and
// cross-origin isolated so a page may use SharedArrayBuffer (the threads build of the package).
void add_page_headers(HttpResponse* r) {
  r->headers.emplace_back("Cache-Control", "no-cache");
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  r->headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r->headers.emplace_back("Cross-Origin-Embedder-Policy", "require-corp");
  r->headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
}

bool inside(const fs::path& root, const fs::path& p) {
  const auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

}  // namespace

std::string mime_type(const fs::path& file) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".cjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json; charset=utf-8"},
      {".map", "application/json; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wav", "audio/wav"},
      {".onnx", "application/octet-stream"},
  };
  std::string ext = file.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto it = kTypes.find(ext);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

Result<StaticFiles> StaticFiles::open(const std::string& root) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(root, ec);
  if (ec || !fs::is_directory(canonical)) {
    return invalid_argument("--static '" + root + "' is not a directory: give the folder that holds the page");
  }
  return StaticFiles(canonical);
}

bool StaticFiles::wants(const HttpRequest& req) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  return req.path.rfind("/v2", 0) != 0 && req.path != "/metrics";
}

HttpResponse StaticFiles::serve(const HttpRequest& req) const {
  HttpResponse r = [&]() -> HttpResponse {
    std::string rel;
    if (!percent_decode(req.path, &rel) || rel.empty() || rel[0] != '/') return plain(400, "bad request path");
    // Refuse rather than fold: a '..' segment (also one written with a backslash) or a NUL byte.
    if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos) return plain(403, "forbidden");
    fs::path p = root_;
    for (const fs::path& seg : fs::path(rel).relative_path()) {
      if (seg == "..") return plain(403, "forbidden");
      if (seg != "." && !seg.empty()) p /= seg;
    }
    std::error_code ec;
    if (fs::is_directory(p, ec)) p /= "index.html";
    const fs::path real = fs::canonical(p, ec);
    if (ec || !fs::is_regular_file(real, ec)) return plain(404, "not found");
    if (!inside(root_, real)) return plain(403, "forbidden");  // a symlink out of the tree
    const uintmax_t size = fs::file_size(real, ec);
    if (ec) return plain(404, "not found");
    HttpResponse ok;
    ok.content_type = mime_type(real);
    if (req.method == "HEAD") {
      ok.head_content_length = static_cast<int64_t>(size);
      return ok;
    }
    std::ifstream in(real, std::ios::binary);
    ok.body.resize(static_cast<size_t>(size));
    if (!in.read(ok.body.data(), static_cast<std::streamsize>(size))) return plain(500, "cannot read the file");
    return ok;
  }();
  add_page_headers(&r);
  return r;
}

}  // namespace tandem::serve
