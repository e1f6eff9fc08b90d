// A small asynchronous HTTP/1.1 server (Boost.Beast on Asio): keep-alive, size limits, read
// timeouts, JSON access log, optional TLS (HTTPS over OpenSSL). It knows nothing of inference:
// requests go to one Handler, which answers through a Responder from any thread (the inference
// scheduler answers from its own).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/runtime/status.h"
#include "native/lib/json.h"

namespace tandem::serve {

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // as sent, query included
  std::string path;                                          // target without the query string (still percent-encoded)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // Value of the first header with this (lower-case) name, or null.
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string request_id;  // for the access log; also sent as X-Request-Id when set
  // An answer to HEAD: the Content-Length of the body a GET would get (`body` stays empty).
  int64_t head_content_length = -1;
};

// Answers one request; must be called exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&&, Responder)>;

struct HttpOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;  // 0 = any free port; HttpServer::port() says which
  int io_threads = 2;
  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 64ull << 20;
  // A request must arrive whole within this of the connection opening or the last response:
  // a stalled or slow client gets 408 (or a plain close if it sent nothing) instead of pinning
  // the connection.
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  bool access_log = true;  // one JSON line per request on stderr
  // Both set: the listener speaks only HTTPS (TLS 1.2 or later) with this PEM certificate chain
  // and PEM private key (unencrypted). A client that fails the handshake is dropped; the
  // handshake counts against read_timeout like the first request.
  std::string tls_cert_file, tls_key_file;
  // With TLS, also set: mutual TLS. Every client must present a certificate that chains to a CA
  // in this PEM file, or the handshake fails (--tls-client-ca).
  std::string tls_client_ca_file;
  // Cross-origin callers (CORS) allowed to call from pages: exact origins ("https://app.example")
  // or "*". Their preflights are answered here, and every answer to them names the origin and
  // exposes the headers a client needs (Inference-Header-Content-Length, Server-Timing, ...).
  // Empty: no CORS headers, so browsers keep pages on other origins out.
  std::vector<std::string> allow_origins;
  // Told the status of every response written, the server's own 4xx included (for metrics).
  std::function<void(int status)> on_response;
};

class HttpServer {
 public:
  HttpServer(HttpOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS certificate and key (if set), binds, listens and starts the IO threads.
  // A certificate or key that cannot be used is an invalid_argument naming the file.
  Status start();
  uint16_t port() const;
  bool tls() const;  // whether the listener speaks HTTPS
  // Closes the listening socket; connections finish their current request and close.
  void stop_accepting();
  // Waits (up to `grace`) until every handed-out request has been answered, then stops.
  void shutdown(std::chrono::milliseconds grace);

  struct Impl;  // named here so http_server.cc's connections can hold it; opaque elsewhere

 private:
  std::shared_ptr<Impl> impl_;
};

// "%2F" -> "/"; false on a malformed escape.
bool percent_decode(std::string_view in, std::string* out);
using tandem::json_escape;  // native/lib/json.h: the access log and error bodies

}  // namespace tandem::serve
