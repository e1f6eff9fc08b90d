// Beast/Asio stay inside this file: the rest of the server sees HttpRequest and HttpResponse.
#include "native/serve/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include <pthread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace tandem::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

namespace {

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// What OpenSSL said about its first queued error ("no start line (PEM routines)"); clears the queue.
std::string openssl_error() {
  const beast::error_code ec(static_cast<int>(ERR_get_error()), net::error::get_ssl_category());
  ERR_clear_error();
  return ec.message();
}

// A server context for TLS 1.2+ with this PEM certificate chain and key; any problem is an
// invalid_argument naming the option and the file.
Status make_tls_context(const std::string& cert, const std::string& key, const std::string& client_ca,
                        std::shared_ptr<ssl::context>* out) {
  if (cert.empty() || key.empty())
    return invalid_argument("--tls-cert and --tls-key go together: give both or neither");
  auto readable = [](const char* option, const std::string& file) {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (f == nullptr)
      return invalid_argument(std::string(option) + ": cannot read '" + file + "': " + std::strerror(errno));
    const bool unreadable = std::fgetc(f) == EOF && std::ferror(f);  // a directory: EISDIR
    const int err = errno;
    std::fclose(f);
    if (unreadable)
      return invalid_argument(std::string(option) + ": cannot read '" + file + "': " + std::strerror(err));
    return Status::ok();
  };
  if (Status st = readable("--tls-cert", cert); !st.is_ok()) return st;
  if (Status st = readable("--tls-key", key); !st.is_ok()) return st;
  if (!client_ca.empty()) {
    if (Status st = readable("--tls-client-ca", client_ca); !st.is_ok()) return st;
  }
  ERR_clear_error();
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // No client-initiated renegotiation (a cheap way to make the server do expensive work).
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_RENEGOTIATION);
  // An encrypted key would make OpenSSL prompt on the terminal: fail instead.
  ctx.set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  beast::error_code ec;
  ctx.use_certificate_chain_file(cert, ec);
  if (ec) {
    ERR_clear_error();
    return invalid_argument("--tls-cert: '" + cert + "' is not a usable PEM certificate: " + ec.message());
  }
  ctx.use_private_key_file(key, ssl::context::pem, ec);
  if (ec) {
    ERR_clear_error();
    if (ec.category() == net::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
      return invalid_argument("--tls-key: '" + key + "' does not match the certificate in '" + cert + "'");
    }
    return invalid_argument("--tls-key: '" + key + "' is not a usable unencrypted PEM private key: " + ec.message());
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return invalid_argument("--tls-key: '" + key + "' does not match the certificate in '" + cert +
                            "': " + openssl_error());
  }
  if (!client_ca.empty()) {
    // Mutual TLS: no certificate, or one that does not chain to these CAs, fails the handshake.
    ctx.load_verify_file(client_ca, ec);
    if (ec) {
      ERR_clear_error();
      return invalid_argument("--tls-client-ca: '" + client_ca +
                              "' holds no usable PEM CA certificate: " + ec.message());
    }
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  *out = std::make_shared<ssl::context>(std::move(ctx));
  return Status::ok();
}

// When the certificate, key and client CA files were last changed (mtime and size each), to see
// a rotation: cert-manager and Kubernetes Secret volumes replace them in place.
using TlsStamp = std::array<std::pair<int64_t, int64_t>, 3>;

TlsStamp tls_stamp(const HttpOptions& o) {
  TlsStamp stamp{};
  const std::string* files[] = {&o.tls_cert_file, &o.tls_key_file, &o.tls_client_ca_file};
  for (size_t i = 0; i < stamp.size(); ++i) {
    std::error_code time_ec, size_ec;
    const auto t = std::filesystem::last_write_time(*files[i], time_ec);
    const auto size = std::filesystem::file_size(*files[i], size_ec);
    if (!time_ec && !size_ec)
      stamp[i] = {static_cast<int64_t>(t.time_since_epoch().count()), static_cast<int64_t>(size)};
  }
  return stamp;
}

}  // namespace

// Connections and handlers point at the Impl without owning it: it owns the io_context, whose
// destruction (after the threads are joined) releases every connection; a shared_ptr back to
// the Impl would make a cycle that never frees.
struct HttpServer::Impl {
  HttpOptions options;
  Handler handler;
  // Set when the listener speaks HTTPS. Each TLS connection holds the context it started with,
  // so a reload (below) swaps this for new connections only.
  std::shared_ptr<ssl::context> tls;  // touched only at start and on the acceptor's strand
  bool https = false;                 // set at start; what tls() answers from any thread
  TlsStamp tls_files{};               // the files `tls` was made from; reloaded when they change
  Clock::time_point tls_checked{};
  // Re-reads the certificate, key and client CA when they changed (checked at most once a
  // second, as connections are accepted; on the acceptor's strand). Files that do not make a
  // usable context are reported and the previous certificate stays in use.
  void maybe_reload_tls();
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor{net::make_strand(ioc)};
  std::vector<std::thread> threads;
  std::atomic<uint16_t> bound_port{0};
  std::string keep_alive_hint;  // "timeout=<read timeout in whole seconds>"
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> next_id{1};
  // Requests handed to the handler and not yet answered on the wire.
  std::mutex mu;
  std::condition_variable idle_cv;
  size_t in_flight = 0;
  std::mutex log_mu;

  void accept();
  void request_done() {
    std::lock_guard<std::mutex> lock(mu);
    if (--in_flight == 0) idle_cv.notify_all();
  }
  void log(const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mu);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
};

namespace {

constexpr uint64_t kBodyReadChunk = 256 * 1024;  // most bytes one read of a request body asks for
constexpr size_t kIdleBufferBytes = 16 * 1024;   // read room a connection keeps between requests

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection, over plain TCP or TLS: the stream type is a template parameter, so the plain
// path carries no TLS code and neither pays a branch per read or write; the few differences
// (handshake, TLS close, error kinds) are `if constexpr`. The listener picks one per accept.
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Connection<Stream>>::shared_from_this;

 public:
  // `tls`: the context of a TLS connection (kept alive while the connection lives), else null.
  Connection(tcp::socket socket, HttpServer::Impl* server, std::shared_ptr<ssl::context> tls = nullptr)
      : tls_(std::move(tls)),
        stream_(make_stream(std::move(socket), tls_.get())),
        timer_(stream_.get_executor()),
        server_(server) {
    // Room for a small request whole: from 512 bytes Beast would read the header and the
    // body of a 3 KB request in two recv calls.
    buffer_.reserve(kIdleBufferBytes);
    beast::error_code ec;
    const auto ep = socket_().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void start() {
    if constexpr (kTls) {
      net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
    } else {
      net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
    }
  }

 private:
  beast::tcp_stream& tcp_() { return beast::get_lowest_layer(stream_); }
  tcp::socket& socket_() { return tcp_().socket(); }

  // TLS: the handshake runs under the read timer, whose deadline then also covers the first
  // request (a request must arrive whole within read_timeout of the connection opening), so a
  // client that connects and stalls, mid-handshake or after it, cannot pin the connection.
  void handshake() {
    tcp_().expires_never();
    arm_read_timer();
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Connection::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec) {
    // Plain HTTP, garbage, a protocol or cipher the server refuses, a certificate the client
    // rejects, or the timeout: nobody to answer in HTTP; drop the connection, others go on.
    if (ec || timed_out_) return close();
    read_header(/*arm_timer=*/false);
  }

  // Our own timer rather than tcp_stream's expiry: that one closes the socket, and a client
  // that sent half a request should still be told 408.
  void arm_read_timer() {
    reading_ = true;
    timed_out_ = false;
    timer_.expires_after(server_->options.read_timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->reading_) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->socket_().cancel(ignored);
    });
  }

  void read_header(bool arm_timer = true) {
    parser_.emplace();
    parser_->header_limit(server_->options.max_header_bytes);
    parser_->body_limit(server_->options.max_body_bytes);
    tcp_().expires_never();
    if (arm_timer) arm_read_timer();
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    started_ = Clock::now();
    const auto& req = parser_->get();
    const auto expect = req[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      // curl asks before sending large bodies; answer so it does not wait a second for nothing.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code wec, size_t) {
        if (wec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    // The timer may have fired between two reads (nothing pending to cancel then).
    if (timed_out_) return on_read_error(net::error::operation_aborted);
    // Beast reads at most the buffer's free capacity per call (512 bytes at least) and the parser
    // empties the buffer as it goes, so without room reserved a 600 KB body took ~1000 recv calls.
    if (const auto length = parser_->content_length(); length && *length > buffer_.capacity())
      buffer_.reserve(static_cast<size_t>(std::min<uint64_t>(*length, kBodyReadChunk)));
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    reading_ = false;
    timer_.cancel();
    if (started_ == Clock::time_point{}) started_ = Clock::now();
    const bool partial = parser_ && (parser_->got_some() || buffer_.size() > 0);
    if (timed_out_) {
      if (!partial) return close();  // an idle keep-alive connection: nothing to answer
      return fail(408, "the request did not arrive within the read timeout");
    }
    if (ec == http::error::body_limit) {
      return fail(413, "request body exceeds " + std::to_string(server_->options.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return fail(431, "request header exceeds " + std::to_string(server_->options.max_header_bytes) + " bytes");
    }
    if constexpr (kTls) {
      // A TLS failure mid-stream (bad record, no close_notify): the stream cannot carry an answer.
      if (ec == ssl::error::stream_truncated || ec.category() == net::error::get_ssl_category()) return close();
    }
    // The peer went away (between requests or mid-body): nobody is left to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted || ec == net::error::broken_pipe) {
      return close();
    }
    fail(400, "malformed HTTP request: " + ec.message());
  }

  // An error found before the handler ran: answer, then close (the rest of the request is unread).
  void fail(int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\": \"" + json_escape(message) + "\"}";
    keep_alive_ = false;
    if (parser_ && parser_->is_header_done()) {
      method_ = std::string(parser_->get().method_string());
      set_path(std::string(parser_->get().target()));
    }
    handed_out_ = false;
    write(std::move(r));
  }

  bool origin_allowed(const std::string& origin) const {
    const auto& allowed = server_->options.allow_origins;
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return a == "*" || a == origin; });
  }

  void set_path(const std::string& target) {
    const size_t q = target.find('?');
    path_ = q == std::string::npos ? target : target.substr(0, q);
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    reading_ = false;
    timer_.cancel();
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    // An idle keep-alive connection keeps only a small buffer.
    if (buffer_.size() == 0 && buffer_.capacity() > kIdleBufferBytes) buffer_.shrink_to_fit();
    keep_alive_ = req.keep_alive();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    set_path(r.target);
    r.path = path_;
    method_ = r.method;
    bytes_in_ = req.body().size();
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    r.body = std::move(req.body());
    cors_origin_.clear();
    if (const std::string* origin = r.header("origin"); origin != nullptr && origin_allowed(*origin)) {
      cors_origin_ = *origin;
      // A preflight (OPTIONS with Access-Control-Request-Method) is answered here: the API
      // itself has no OPTIONS routes.
      if (r.method == "OPTIONS" && r.header("access-control-request-method") != nullptr) {
        HttpResponse pre;
        pre.status = 204;
        pre.content_type.clear();
        pre.headers.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
        const std::string* asked = r.header("access-control-request-headers");
        pre.headers.emplace_back("Access-Control-Allow-Headers",
                                 asked != nullptr ? *asked : std::string("content-type"));
        pre.headers.emplace_back("Access-Control-Max-Age", "600");
        handed_out_ = false;
        return write(std::move(pre));
      }
    }
    {
      std::lock_guard<std::mutex> lock(server_->mu);
      ++server_->in_flight;
    }
    handed_out_ = true;
    auto self = shared_from_this();
    Responder respond = [self](HttpResponse resp) {
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->write(std::move(resp)); });
    };
    try {
      server_->handler(std::move(r), std::move(respond));
    } catch (const std::exception& e) {
      // The handler never throws on purpose; a bug must not take the connection thread down.
      HttpResponse err;
      err.status = 500;
      err.body = "{\"error\": \"internal error: " + json_escape(e.what()) + "\"}";
      write(std::move(err));
    }
  }

  void write(HttpResponse resp) {
    if (written_for_current_) return;  // a second answer to one request is a bug; drop it
    written_for_current_ = true;
    status_ = resp.status;
    if (!resp.request_id.empty()) request_id_ = resp.request_id;
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(resp.status));
    res_.set(http::field::server, "tandem");
    if (!resp.content_type.empty()) res_.set(http::field::content_type, resp.content_type);
    for (const auto& [k, v] : resp.headers) res_.set(k, v);
    if (!cors_origin_.empty()) {
      res_.set(http::field::access_control_allow_origin, cors_origin_);
      res_.set(http::field::vary, "Origin");
      res_.set(http::field::access_control_expose_headers,
               "Inference-Header-Content-Length, Server-Timing, X-Request-Id, Retry-After, Content-Length");
      res_.set("Timing-Allow-Origin", cors_origin_);
    }
    // The id may come from the request body ("id"): echo it only when it cannot split the header.
    const bool header_safe = std::none_of(resp.request_id.begin(), resp.request_id.end(),
                                          [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    if (!resp.request_id.empty() && header_safe) res_.set("X-Request-Id", resp.request_id);
    const bool keep = keep_alive_ && !server_->draining.load();
    res_.keep_alive(keep);
    // Tells clients when an idle connection will be closed, so that they do not reuse one just
    // as the server closes it (Node's fetch keeps idle sockets 4 s otherwise).
    if (keep) res_.set(http::field::keep_alive, server_->keep_alive_hint);
    res_.body() = std::move(resp.body);
    if (resp.head_content_length >= 0)
      res_.content_length(static_cast<uint64_t>(resp.head_content_length));
    else
      res_.prepare_payload();
    bytes_out_ = res_.body().size();
    tcp_().expires_after(server_->options.write_timeout);
    http::async_write(stream_, res_, beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    if (server_->options.on_response) server_->options.on_response(status_);
    log_access();
    if (handed_out_) server_->request_done();
    handed_out_ = false;
    written_for_current_ = false;
    request_id_.clear();
    cors_origin_.clear();
    started_ = {};
    if (ec) return close();
    if (!res_.keep_alive()) return linger_close();
    read_header();
  }

  // Half-close and discard what the client still sends (briefly), so it reads our answer
  // instead of a reset from closing with unread data. TLS: send close_notify and wait (as
  // briefly) for the client's, then close.
  void linger_close() {
    tcp_().expires_after(std::chrono::seconds(2));
    if constexpr (kTls) {
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close(); });
    } else {
      beast::error_code ignored;
      socket_().shutdown(tcp::socket::shutdown_send, ignored);
      drain_ = std::make_shared<std::array<char, 8192>>();
      drain_some();
    }
  }

  void drain_some() {
    stream_.async_read_some(net::buffer(*drain_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->drain_some();
    });
  }

  void close() {
    reading_ = false;
    timer_.cancel();
    beast::error_code ignored;
    socket_().shutdown(tcp::socket::shutdown_both, ignored);
    socket_().close(ignored);
  }

  void log_access() {
    if (!server_->options.access_log) return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    char dur[32];
    std::snprintf(dur, sizeof dur, "%.3f", ms);
    std::string line = "{\"time\": \"" + utc_now() + "\", \"remote\": \"" + json_escape(remote_) +
                       "\", \"method\": \"" + json_escape(method_) + "\", \"path\": \"" + json_escape(path_) +
                       "\", \"status\": " + std::to_string(status_) + ", \"bytes_in\": " + std::to_string(bytes_in_) +
                       ", \"bytes_out\": " + std::to_string(bytes_out_) + ", \"duration_ms\": " + dur +
                       ", \"request_id\": \"" + json_escape(request_id_) + "\"}\n";
    server_->log(line);
    method_.clear();
    path_.clear();
    bytes_in_ = bytes_out_ = 0;
  }

  static Stream make_stream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<ssl::context> tls_;  // before stream_: the stream is made from it
  Stream stream_;
  net::steady_timer timer_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::shared_ptr<std::array<char, 8192>> drain_;
  bool reading_ = false, timed_out_ = false, keep_alive_ = false;
  bool handed_out_ = false, written_for_current_ = false;
  Clock::time_point started_{};
  std::string remote_, method_, path_, request_id_;
  std::string cors_origin_;  // the current request's Origin, when allowed (answers carry CORS headers)
  int status_ = 0;
  size_t bytes_in_ = 0, bytes_out_ = 0;
};

}  // namespace

void HttpServer::Impl::maybe_reload_tls() {
  const Clock::time_point now = Clock::now();
  if (now - tls_checked < std::chrono::seconds(1)) return;
  tls_checked = now;
  const TlsStamp stamp = tls_stamp(options);
  if (stamp == tls_files) return;
  tls_files = stamp;  // tried once per change: a half-written pair is retried when it changes again
  std::shared_ptr<ssl::context> fresh;
  const Status st = make_tls_context(options.tls_cert_file, options.tls_key_file, options.tls_client_ca_file, &fresh);
  if (!st.is_ok()) {
    std::fprintf(stderr,
                 "tandem serve: the TLS files changed but cannot be used, keeping the previous certificate: %s\n",
                 st.message().c_str());
    return;
  }
  tls = std::move(fresh);
  std::fprintf(stderr, "tandem serve: reloaded the TLS certificate from '%s'\n", options.tls_cert_file.c_str());
}

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;  // stop_accepting()
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (tls) {
        maybe_reload_tls();
        std::make_shared<Connection<TlsStream>>(std::move(socket), this, tls)->start();
      } else {
        std::make_shared<Connection<PlainStream>>(std::move(socket), this)->start();
      }
    }
    accept();
  });
}

HttpServer::HttpServer(HttpOptions options, Handler handler) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->keep_alive_hint =
      "timeout=" +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(impl_->options.read_timeout).count());
}

HttpServer::~HttpServer() { shutdown(std::chrono::milliseconds(0)); }

Status HttpServer::start() {
  Impl& s = *impl_;
  if (!s.options.tls_client_ca_file.empty() && s.options.tls_cert_file.empty() && s.options.tls_key_file.empty())
    return invalid_argument("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)");
  if (!s.options.tls_cert_file.empty() || !s.options.tls_key_file.empty()) {
    s.tls_files = tls_stamp(s.options);
    s.tls_checked = Clock::now();
    const Status st =
        make_tls_context(s.options.tls_cert_file, s.options.tls_key_file, s.options.tls_client_ca_file, &s.tls);
    if (!st.is_ok()) return st;
    s.https = true;
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(s.options.host, ec);
  if (ec) return invalid_argument("--host: '" + s.options.host + "' is not an IP address");
  const tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) + ": " + ec.message());
  }
  s.bound_port = s.acceptor.local_endpoint(ec).port();
  s.work.emplace(net::make_work_guard(s.ioc));
  s.accept();
  const int n = s.options.io_threads < 1 ? 1 : s.options.io_threads;
  for (int i = 0; i < n; ++i) {
    s.threads.emplace_back([impl = impl_.get()] {
      pthread_setname_np(pthread_self(), "tandem-io");
      impl->ioc.run();
    });
  }
  return Status::ok();
}

uint16_t HttpServer::port() const { return impl_->bound_port.load(); }

bool HttpServer::tls() const { return impl_->https; }

void HttpServer::stop_accepting() {
  impl_->draining = true;
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (s.threads.empty()) return;
  stop_accepting();
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.idle_cv.wait_for(lock, grace, [&] { return s.in_flight == 0; });
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
}

}  // namespace tandem::serve
