#include "native/serve/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "native/lib/backends.h"
#include "native/serve/auth.h"
#include "native/serve/http_server.h"
#include "native/serve/metrics.h"
#include "native/serve/oip.h"
#include "native/serve/repository.h"

#ifndef TANDEM_SERVE_DEFAULT_REPOSITORY
#define TANDEM_SERVE_DEFAULT_REPOSITORY ""
#endif

namespace tandem::serve {
namespace {

int usage() {
  std::cerr
      << "usage: tandem serve [--model-repository DIR] [--host ADDR (0.0.0.0)] [--http-port N (8000; 0 = any)]\n"
         "                    [--io-threads N (2)] [--max-body-bytes N (67108864)] [--max-header-bytes N (16384)]\n"
         "                    [--read-timeout-ms N (30000)] [--max-queue N (64)] [--drain-timeout-ms N (30000)]\n"
         "                    [--api-key-file FILE] [--no-access-log] [--backend B] [--threads N]\n"
         "\n"
         "  Serves DIR/<model>/<version>/model.onnx over the Open Inference Protocol v2 (REST).\n"
         "  Without --model-repository: the demo repository made at build time ("
      << (TANDEM_SERVE_DEFAULT_REPOSITORY[0] ? TANDEM_SERVE_DEFAULT_REPOSITORY : "none in this build")
      << ").\n"
         "  API keys: --api-key-file (one per line) and/or TANDEM_API_KEYS (comma-separated).\n"
         "  --backend "
      << backend_choices() << "\n";
  return 2;
}

int bad(const std::string& msg) {
  std::cerr << "tandem serve: " << msg << "\n";
  return 2;
}

bool parse_num(const std::string& text, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  HttpOptions http;
  std::string repo_dir, key_file, backend = "auto";
  long long threads = 0, max_queue = 64, drain_ms = 30000;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") return usage();
    if (a == "--no-access-log") {
      http.access_log = false;
      continue;
    }
    if (a.rfind("--", 0) != 0) return bad("unexpected argument '" + a + "'");
    if (i + 1 >= argc) return bad(a + " needs a value");
    const std::string v = argv[++i];
    long long n = 0;
    auto num = [&](long long lo, long long hi) {
      if (parse_num(v, lo, hi, &n)) return true;
      std::cerr << "tandem serve: " << a << " takes a whole number from " << lo << " to " << hi << ", got '" << v
                << "'\n";
      return false;
    };
    if (a == "--model-repository")
      repo_dir = v;
    else if (a == "--host")
      http.host = v;
    else if (a == "--api-key-file")
      key_file = v;
    else if (a == "--backend")
      backend = v;
    else if (a == "--http-port") {
      if (!num(0, 65535)) return 2;
      http.port = static_cast<uint16_t>(n);
    } else if (a == "--io-threads") {
      if (!num(1, 256)) return 2;
      http.io_threads = static_cast<int>(n);
    } else if (a == "--max-body-bytes") {
      if (!num(1, 1LL << 40)) return 2;
      http.max_body_bytes = static_cast<uint64_t>(n);
    } else if (a == "--max-header-bytes") {
      if (!num(256, 1 << 20)) return 2;
      http.max_header_bytes = static_cast<uint32_t>(n);
    } else if (a == "--read-timeout-ms") {
      if (!num(1, 3'600'000)) return 2;
      http.read_timeout = std::chrono::milliseconds(n);
    } else if (a == "--max-queue") {
      if (!num(1, 1 << 20)) return 2;
      max_queue = n;
    } else if (a == "--drain-timeout-ms") {
      if (!num(0, 3'600'000)) return 2;
      drain_ms = n;
    } else if (a == "--threads") {
      if (!num(0, 1024)) return 2;
      threads = n;
    } else if (a == "--grpc-port" || a == "--metrics-port") {
      return bad(a + " is not supported yet (REST only; /metrics is served on the HTTP port)");
    } else {
      std::cerr << "tandem serve: unknown option '" << a << "'\n";
      return usage();
    }
  }
  if (repo_dir.empty()) {
    repo_dir = TANDEM_SERVE_DEFAULT_REPOSITORY;
    if (repo_dir.empty()) return bad("no --model-repository given and this build has no default repository");
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(repo_dir, ec)) {
    return bad("model repository '" + repo_dir + "' is not a directory (layout: DIR/<model>/<version>/model.onnx)");
  }
  auto auth = Auth::load(key_file, std::getenv("TANDEM_API_KEYS"));
  if (!auth.is_ok()) return bad(auth.status().message());
  auto backends = backends_named(backend);
  if (!backends.is_ok()) return bad("--backend: " + backends.status().message());

  // Signals are taken by sigwait() below; block them before any thread starts so none of the
  // server's threads is interrupted by them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a client closing early must not kill the server

  Metrics metrics;
  http.on_response = [&metrics](int status) { metrics.record_http(status); };
  RepositoryOptions ro;
  ro.backends = std::move(backends).value();
  ro.threads = static_cast<int>(threads);
  ro.max_queue_size = static_cast<size_t>(max_queue);
  Repository repository(repo_dir, ro, &metrics);
  OipService service(&repository, &metrics, &*auth);
  HttpServer server(
      http, [&service](HttpRequest&& req, Responder respond) { service.handle(std::move(req), std::move(respond)); });
  // Listen first so /v2/health/live answers while models load; ready turns true after.
  const Status st = server.start();
  if (!st.is_ok()) return bad(st.message());
  std::fprintf(stderr, "tandem serve: repository %s, %s\n", repo_dir.c_str(),
               auth->enabled() ? (std::to_string(auth->key_count()) + " API key(s)").c_str() : "no API keys");
  repository.load_all();
  service.set_ready(true);
  // The one line on stdout: tests and scripts read the port from it (useful with --http-port 0).
  std::printf("tandem serve: listening on http://%s:%u\n", http.host.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "tandem serve: %s, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  service.set_ready(false);
  server.stop_accepting();
  repository.stop_all();  // every queued and running request finishes and is answered
  server.shutdown(std::chrono::milliseconds(drain_ms));
  std::fprintf(stderr, "tandem serve: stopped\n");
  return 0;
}

}  // namespace tandem::serve
