#include "native/serve/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "native/lib/backends.h"
#include "native/serve/auth.h"
#include "native/serve/http_server.h"
#include "native/serve/metrics.h"
#include "native/serve/oip.h"
#include "native/serve/repository.h"
#include "native/serve/static_files.h"
#ifdef TANDEM_HAS_GRPC
#include "native/serve/grpc/grpc_service.h"
#endif

#ifndef TANDEM_SERVE_DEFAULT_REPOSITORY
#define TANDEM_SERVE_DEFAULT_REPOSITORY ""
#endif

namespace tandem::serve {
namespace {

int usage() {
  std::cerr
      << "usage: tandem serve [--model-repository DIR | --model-dir DIR --model-name NAME] [--host ADDR (0.0.0.0)]\n"
         "                    [--http-port N (8000; 0 = any)]\n"
         "                    [--io-threads N (2)] [--max-body-bytes N (67108864)] [--max-header-bytes N (16384)]\n"
         "                    [--read-timeout-ms N (30000)] [--max-queue N (64)] [--drain-timeout-ms N (30000)]\n"
         "                    [--api-key-file FILE] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n"
         "                    [--metrics-port N]\n"
         "                    [--grpc-port N] [--no-access-log] [--strict-readiness true|false (true)]\n"
         "                    [--backend B] [--threads N] [--static DIR] [--allow-origin ORIGIN|*]...\n"
         "\n"
         "  Serves DIR/<model>/<version>/model.onnx over the Open Inference Protocol v2 (REST).\n"
         "  --model-dir DIR --model-name NAME: one model, the one .onnx file in DIR (as version 1) or\n"
         "  DIR/<version>/model.onnx, plus an optional DIR/config.json, served as NAME (KServe's\n"
         "  /mnt/models; its runtime passes --model-name {{.Name}}).\n"
         "  Options also take the form --option=value.\n"
         "  --tls-cert/--tls-key: PEM certificate (chain) and unencrypted PEM key; the HTTP port then\n"
         "  speaks only HTTPS (TLS 1.2+). --tls-client-ca: mutual TLS, clients (REST and gRPC) must\n"
         "  present a certificate issued by a CA in this PEM file.\n"
         "  --metrics-port: also serve GET /metrics, without an API key,\n"
         "  over plain HTTP on this port of the same host (0 = any free port).\n"
         "  --grpc-port: also serve inference.GRPCInferenceService (OIP v2 over gRPC) on this port of the\n"
         "  same host (0 = any free port), same models, API keys (metadata authorization: Bearer <key>)\n"
         "  and --max-body-bytes.\n"
         "  Without --model-repository: the demo repository made at build time ("
      << (TANDEM_SERVE_DEFAULT_REPOSITORY[0] ? TANDEM_SERVE_DEFAULT_REPOSITORY : "none in this build")
      << ").\n"
         "  API keys: --api-key-file (one per line) and/or TANDEM_API_KEYS (comma-separated).\n"
         "  --static DIR: also serve the files under DIR (GET/HEAD outside /v2 and /metrics, no API key,\n"
         "  cross-origin isolated): a web page and the package it imports, on the models' origin.\n"
         "  --allow-origin: pages on this origin (repeatable, or '*') may call the API (CORS).\n"
         "  --strict-readiness: /v2/health/ready (and gRPC ServerReady) is false while a model's last\n"
         "  load failed, as Triton's default; false: ready once the server has tried every model.\n"
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
  std::string repo_dir, model_dir, model_name, key_file, static_dir, backend = "auto";
  long long threads = 0, max_queue = 64, drain_ms = 30000;
  int metrics_port = -1;  // -1: no metrics listener
  bool strict_readiness = true;
  // -1: no gRPC listener (never read in a build without gRPC)
  [[maybe_unused]] int grpc_port = -1;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return usage();
    if (a == "--no-access-log") {
      http.access_log = false;
      continue;
    }
    if (a.rfind("--", 0) != 0) return bad("unexpected argument '" + a + "'");
    // --option=value (KServe's runtimes write their args so) or --option value.
    std::string v;
    if (const size_t eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a.resize(eq);
    } else {
      if (i + 1 >= argc) return bad(a + " needs a value");
      v = argv[++i];
    }
    long long n = 0;
    auto num = [&](long long lo, long long hi) {
      if (parse_num(v, lo, hi, &n)) return true;
      std::cerr << "tandem serve: " << a << " takes a whole number from " << lo << " to " << hi << ", got '" << v
                << "'\n";
      return false;
    };
    if (a == "--model-repository")
      repo_dir = v;
    else if (a == "--model-dir")
      model_dir = v;
    else if (a == "--model-name")
      model_name = v;
    else if (a == "--host")
      http.host = v;
    else if (a == "--api-key-file")
      key_file = v;
    else if (a == "--backend")
      backend = v;
    else if (a == "--static")
      static_dir = v;
    else if (a == "--allow-origin") {
      if (v.empty() || (v != "*" && v.find("://") == std::string::npos)) {
        return bad("--allow-origin takes an origin such as http://localhost:5173, or '*', got '" + v + "'");
      }
      http.allow_origins.push_back(v);
    } else if (a == "--strict-readiness") {
      if (v != "true" && v != "false") return bad("--strict-readiness takes true or false, got '" + v + "'");
      strict_readiness = v == "true";
    } else if (a == "--tls-cert")
      http.tls_cert_file = v;
    else if (a == "--tls-key")
      http.tls_key_file = v;
    else if (a == "--tls-client-ca")
      http.tls_client_ca_file = v;
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
    } else if (a == "--metrics-port") {
      if (!num(0, 65535)) return 2;
      metrics_port = static_cast<int>(n);
    } else if (a == "--grpc-port") {
#ifdef TANDEM_HAS_GRPC
      if (!num(0, 65535)) return 2;
      grpc_port = static_cast<int>(n);
#else
      return bad(a + ": this build has no gRPC (needs libgrpc++-dev, libprotobuf-dev, protobuf-compiler-grpc)");
#endif
    } else {
      std::cerr << "tandem serve: unknown option '" << a << "'\n";
      return usage();
    }
  }
  if (!model_dir.empty() || !model_name.empty()) {
    if (model_dir.empty() || model_name.empty()) return bad("--model-dir and --model-name go together");
    if (!repo_dir.empty()) return bad("give either --model-repository or --model-dir/--model-name, not both");
    if (!valid_model_name(model_name)) {
      return bad("--model-name '" + model_name + "': use letters, digits, '_', '-' and '.' (not first), at most 128");
    }
    if (!std::filesystem::is_directory(model_dir)) {
      return bad("--model-dir '" + model_dir +
                 "' is not a directory (layout: DIR/model.onnx or DIR/<version>/model.onnx)");
    }
  } else if (repo_dir.empty()) {
    repo_dir = TANDEM_SERVE_DEFAULT_REPOSITORY;
    if (repo_dir.empty()) return bad("no --model-repository given and this build has no default repository");
  }
  std::error_code ec;
  if (model_dir.empty() && !std::filesystem::is_directory(repo_dir, ec)) {
    return bad("model repository '" + repo_dir + "' is not a directory (layout: DIR/<model>/<version>/model.onnx)");
  }
  auto auth = Auth::load(key_file, std::getenv("TANDEM_API_KEYS"));
  if (!auth.is_ok()) return bad(auth.status().message());
  auto backends = backends_named(backend);
  if (!backends.is_ok()) return bad("--backend: " + backends.status().message());
  std::optional<StaticFiles> static_files;
  if (!static_dir.empty()) {
    auto sf = StaticFiles::open(static_dir);
    if (!sf.is_ok()) return bad(sf.status().message());
    static_files.emplace(std::move(sf).value());
  }

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
  ro.strict_readiness = strict_readiness;
  ro.single_model = model_name;
  const std::string& root = model_dir.empty() ? repo_dir : model_dir;
  Repository repository(root, ro, &metrics);
  OipService service(&repository, &metrics, &*auth);
  HttpServer server(http, [&service, &static_files](HttpRequest&& req, Responder respond) {
    if (static_files && StaticFiles::wants(req)) return respond(static_files->serve(req));
    service.handle(std::move(req), std::move(respond));
  });
  // Listen first so /v2/health/live answers while models load; ready turns true after.
  const Status st = server.start();
  if (!st.is_ok()) return bad(st.message());
  // The metrics listener: same host, plain HTTP, one IO thread, small bodies; its scrapes are
  // not counted in tandem_http_responses_total (that counts the API port's traffic).
  std::optional<HttpServer> metrics_server;
  if (metrics_port >= 0) {
    HttpOptions mo;
    mo.host = http.host;
    mo.port = static_cast<uint16_t>(metrics_port);
    mo.io_threads = 1;
    mo.max_header_bytes = http.max_header_bytes;
    mo.max_body_bytes = 1 << 16;
    mo.read_timeout = http.read_timeout;
    mo.access_log = http.access_log;
    metrics_server.emplace(mo, [&service](HttpRequest&& req, Responder respond) {
      service.handle_metrics_port(std::move(req), std::move(respond));
    });
    const Status mst = metrics_server->start();
    if (!mst.is_ok()) return bad("--metrics-port: " + mst.message());
  }
#ifdef TANDEM_HAS_GRPC
  // The gRPC listener: same host, repository, metrics and keys; messages bounded like bodies.
  std::unique_ptr<GrpcServer> grpc_server;
  if (grpc_port >= 0) {
    GrpcOptions go;
    go.host = http.host;
    go.port = static_cast<uint16_t>(grpc_port);
    go.max_message_bytes = http.max_body_bytes;
    go.tls_cert_file = http.tls_cert_file;  // with --tls-cert/--tls-key, gRPC is TLS too
    go.tls_key_file = http.tls_key_file;
    go.tls_client_ca_file = http.tls_client_ca_file;
    grpc_server = std::make_unique<GrpcServer>(go, &repository, &metrics, &*auth);
    const Status gst = grpc_server->start();
    if (!gst.is_ok()) return bad("--grpc-port: " + gst.message());
  }
#endif
  const std::string serving = model_dir.empty() ? "repository " + root : "model '" + model_name + "' in " + root;
  std::fprintf(stderr, "tandem serve: %s, %s\n", serving.c_str(),
               auth->enabled() ? (std::to_string(auth->key_count()) + " API key(s)").c_str() : "no API keys");
  repository.load_all();
  service.set_ready(true);
#ifdef TANDEM_HAS_GRPC
  if (grpc_server) grpc_server->set_ready(true);
#endif
  // The one line on stdout: tests and scripts read the port from it (useful with --http-port 0).
  std::string line = std::string("tandem serve: listening on ") + (server.tls() ? "https" : "http") + "://" +
                     http.host + ":" + std::to_string(server.port());
  if (metrics_server) line += ", metrics on http://" + http.host + ":" + std::to_string(metrics_server->port());
#ifdef TANDEM_HAS_GRPC
  if (grpc_server) {
    line += ", grpc on " + http.host + ":" + std::to_string(grpc_server->port()) + (server.tls() ? " (TLS)" : "");
  }
#endif
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "tandem serve: %s, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  service.set_ready(false);
  server.stop_accepting();
#ifdef TANDEM_HAS_GRPC
  // No new calls from here; those in flight are answered by the drain below.
  if (grpc_server) {
    grpc_server->set_ready(false);
    grpc_server->begin_shutdown(std::chrono::milliseconds(drain_ms));
  }
#endif
  repository.stop_all();  // every queued and running request finishes and is answered
  server.shutdown(std::chrono::milliseconds(drain_ms));
#ifdef TANDEM_HAS_GRPC
  if (grpc_server) grpc_server->wait();
#endif
  // Scrapes are answered through the drain; the metrics listener goes last.
  if (metrics_server) metrics_server->shutdown(std::chrono::milliseconds(1000));
  std::fprintf(stderr, "tandem serve: stopped\n");
  return 0;
}

}  // namespace tandem::serve
