// tandem: inspect, run and time ONNX models from the command line.
//
//   tandem inspect MODEL [--json] [--shape NAME=1x3x224x224 ...] [--backend B] [--threads N]
//   tandem run MODEL [--input NAME=FILE.npy|FILE.pb ...] [--output-dir DIR] [--seed N] [--shape NAME=DIMS ...]
//                    [--backend B] [--threads N]
//                    [--placement auto|local|remote|prefer-remote] [--remote URL] [--remote-model NAME]
//                    [--api-key-file F] [--memory-cap SIZE] [--privacy] [--deadline-ms N]
//   tandem bench MODEL [--runs R] [--warmup W] [--json] [--input ...] [--shape ...] [--seed N]
//                      [--backend B] [--threads N]
//
// Commands live in inspect.cc, run.cc and bench.cc; shared pieces in common.cc.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "core/route/router.h"
#include "native/cli/cli.h"
#include "native/lib/backends.h"
#ifdef TANDEM_HAS_SERVER
#include "native/serve/serve_command.h"
#endif

namespace {

using tandem::cli::Options;

int usage() {
  std::cerr
      << "usage:\n"
         "  tandem inspect MODEL.onnx [--json] [--shape NAME=1x3x224x224 ...] [--backend B] [--threads N]\n"
         "  tandem run MODEL.onnx [--input NAME=FILE.npy|FILE.pb ...] [--output-dir DIR] [--seed N]\n"
         "                        [--shape NAME=DIMS ...] [--backend B] [--threads N]\n"
         "       [--placement auto|local|remote|prefer-remote] [--remote URL] [--remote-model NAME]\n"
         "       [--api-key-file F] [--memory-cap 64M] [--privacy] [--deadline-ms N]   (hybrid: local or remote)\n"
         "  tandem bench MODEL.onnx [--runs R (50)] [--warmup W (5)] [--json] [--input NAME=FILE ...]\n"
         "                          [--shape NAME=DIMS ...] [--seed N] [--backend B] [--threads N]\n"
         "  tandem devices          the backends this build has, their devices, and why one is unavailable\n"
#ifdef TANDEM_HAS_SERVER
         "  tandem serve [--model-repository DIR] [--http-port N] ... (tandem serve --help)\n"
#endif
         "\n"
         "  --backend  "
      << tandem::backend_choices()
      << " (default auto: this build's backends, best first)\n"
         "  --threads  threads for backends that use a pool; 0 or absent = one per core\n";
  return 2;
}

int bad_option(const std::string& msg) {
  std::cerr << "tandem: " << msg << "\n";
  return 2;
}

// Parses a whole number in [lo, hi]; false if `text` is anything else.
bool parse_int(const std::string& text, long lo, long hi, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) return false;
  *out = v;
  return true;
}

tandem::Result<tandem::Shape> parse_dims(const std::string& text) {
  tandem::Shape s;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    long v = 0;
    if (!parse_int(part, 0, 1L << 40, &v)) {
      return tandem::invalid_argument("bad dimensions '" + text + "'; expected e.g. 1x3x224x224");
    }
    s.push_back(v);
  }
  if (s.empty()) return tandem::invalid_argument("bad dimensions '" + text + "'; expected e.g. 1x3x224x224");
  return s;
}

// One line per backend of this build: the device it runs on (for Vulkan: the GPU, its memory
// and features) or why it cannot run here; then what `auto` picks.
int cmd_devices() {
  std::stringstream names(tandem::backend_choices());
  std::string name;
  while (std::getline(names, name, ',')) {
    name.erase(0, name.find_first_not_of(' '));
    if (name == "auto") continue;
    auto backends = tandem::backends_named(name);
    if (!backends.is_ok()) {
      std::printf("%-12s unavailable: %s\n", name.c_str(), backends.status().message().c_str());
      continue;
    }
    const tandem::DeviceFacts d = backends->front()->device();
    std::string budget;
    if (d.memory_budget > 0) budget = ", " + std::to_string(d.memory_budget >> 20) + " MiB available";
    std::printf("%-12s %s%s\n", name.c_str(), d.name.c_str(), budget.c_str());
  }
  std::string order;
  for (const auto& b : tandem::default_backends()) order += (order.empty() ? "" : ", ") + std::string(b->name());
  std::printf("%-12s %s\n", "auto", order.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "devices") return cmd_devices();
#ifdef TANDEM_HAS_SERVER
  if (argc >= 2 && std::string(argv[1]) == "serve") return tandem::serve::cmd_serve(argc - 2, argv + 2);
#endif
  if (argc < 3) return usage();
  const std::string cmd = argv[1];
  const std::string model = argv[2];
  if (cmd != "inspect" && cmd != "run" && cmd != "bench") return usage();
  // Options each command takes besides --shape, --backend and --threads.
  const std::set<std::string> only =
      cmd == "inspect" ? std::set<std::string>{"--json"}
      : cmd == "run"
          ? std::set<std::string>{"--input",        "--output-dir",   "--seed",       "--placement", "--remote",
                                  "--remote-model", "--api-key-file", "--memory-cap", "--privacy",   "--deadline-ms"}
          : std::set<std::string>{"--json", "--input", "--seed", "--runs", "--warmup"};
  Options opts;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a != "--shape" && a != "--backend" && a != "--threads" && !only.count(a)) {
      static const std::set<std::string> known = {"--json", "--input", "--output-dir", "--seed", "--runs", "--warmup"};
      if (known.count(a)) return bad_option("'" + a + "' does not apply to '" + cmd + "'");
      std::cerr << "tandem: unknown option '" << a << "'\n";
      return usage();
    }
    if (a == "--json") {
      opts.json = true;
      continue;
    }
    if (a == "--privacy") {
      opts.privacy = opts.hybrid = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return bad_option("unexpected argument '" + a + "' (one model per command)");
    if (i + 1 >= argc) return bad_option(a + " needs a value");
    const std::string v = argv[++i];
    long n = 0;
    auto split = [&](std::string* name, std::string* value) {
      const size_t eq = v.rfind('=');
      if (eq == std::string::npos || eq == 0) return false;
      *name = v.substr(0, eq);
      *value = v.substr(eq + 1);
      return true;
    };
    std::string name, value;
    if (a == "--output-dir")
      opts.output_dir = v;
    else if (a == "--seed") {
      if (!parse_int(v, 0, 4294967295L, &n)) return bad_option("--seed takes a whole number >= 0, got '" + v + "'");
      opts.seed = static_cast<unsigned>(n);
    } else if (a == "--runs") {
      if (!parse_int(v, 1, 1000000, &n)) return bad_option("--runs takes a whole number >= 1, got '" + v + "'");
      opts.runs = static_cast<int>(n);
    } else if (a == "--warmup") {
      if (!parse_int(v, 0, 1000000, &n)) return bad_option("--warmup takes a whole number >= 0, got '" + v + "'");
      opts.warmup = static_cast<int>(n);
    } else if (a == "--threads") {
      if (!parse_int(v, 0, 1024, &n)) {
        return bad_option("--threads takes a whole number from 0 to 1024 (0 = one per core), got '" + v + "'");
      }
      opts.threads = static_cast<int>(n);
    } else if (a == "--backend") {
      opts.backend = v;
    } else if (a == "--placement") {
      if (!tandem::route::parse_mode(v).is_ok())
        return bad_option("--placement: " + tandem::route::parse_mode(v).status().message());
      opts.placement = v;
      opts.hybrid = true;
    } else if (a == "--remote") {
      opts.remote_url = v;
      opts.hybrid = true;
    } else if (a == "--remote-model") {
      opts.remote_model = v;
    } else if (a == "--api-key-file") {
      opts.api_key_file = v;
    } else if (a == "--deadline-ms") {
      if (!parse_int(v, 1, 3600000, &n))
        return bad_option("--deadline-ms takes a whole number of milliseconds >= 1, got '" + v + "'");
      opts.deadline_ms = static_cast<int>(n);
    } else if (a == "--memory-cap") {
      auto bytes = tandem::route::parse_bytes(v);
      if (!bytes.is_ok()) return bad_option(bytes.status().message());
      opts.memory_cap = *bytes;
      opts.hybrid = true;
    } else if (a == "--input") {
      if (!split(&name, &value)) return bad_option("--input expects NAME=FILE, got '" + v + "'");
      opts.inputs[name] = value;
    } else if (a == "--shape") {
      if (!split(&name, &value))
        return bad_option("--shape expects NAME=DIMS (e.g. input=1x3x224x224), got '" + v + "'");
      auto dims = parse_dims(value);
      if (!dims.is_ok()) return bad_option(dims.status().message());
      opts.shapes[name] = *dims;
    }
  }
  auto backends = tandem::backends_named(opts.backend);
  if (!backends.is_ok()) return bad_option("--backend: " + backends.status().message());
  opts.backends = std::move(backends).value();

  if (cmd == "inspect") return tandem::cli::cmd_inspect(model, opts);
  if (cmd == "run") return tandem::cli::cmd_run(model, opts);
  return tandem::cli::cmd_bench(model, opts);
}
