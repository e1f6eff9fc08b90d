// Runs ONNX's per-operator test cases (model.onnx + test_data_set_*/{input,output}_N.pb)
// through Session and compares with the expected outputs.
//
// Cases run in a forked worker process, each with a time limit, so a crash or hang is counted
// (and fails the suite) instead of ending the run; the next case gets a fresh worker.
//
//   tandem_conformance --data DIR [--filter SUBSTR] [--baseline FILE] [--report FILE] [--verbose]
//                      [--backend auto|reference|xnnpack|vulkan|vulkan-fp16]
//
// --backend picks the session's backends (native/lib/backends.h); auto = this build's
// defaults, best first (XNNPACK, then the reference kernels, when built with XNNPACK).
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/onnx_reader.h"
#include "core/runtime/session.h"
#include "native/lib/backends.h"

namespace {

using tandem::Result;
using tandem::Status;
using tandem::Tensor;
using tandem::Value;

std::vector<std::string> list_dir(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(prefix, 0) == 0) names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool file_exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

std::string compare_tensors(const Tensor& expected, const Tensor& actual, double rtol, double atol) {
  // ONNX 1.12 stores expected bfloat16 outputs as uint16 bit patterns (numpy has no bfloat16).
  if (expected.dtype() == tandem::DType::kUInt16 && actual.dtype() == tandem::DType::kBFloat16 &&
      expected.shape() == actual.shape()) {
    for (int64_t i = 0; i < expected.numel(); ++i) {
      if (expected.data<uint16_t>()[i] != actual.data<uint16_t>()[i]) {
        return "bfloat16 bits differ at " + std::to_string(i);
      }
    }
    return "";
  }
  if (expected.dtype() != actual.dtype()) {
    return std::string("dtype ") + tandem::dtype_name(actual.dtype()) + ", expected " +
           tandem::dtype_name(expected.dtype());
  }
  if (expected.shape() != actual.shape()) {
    return "shape " + tandem::shape_to_string(actual.shape()) + ", expected " +
           tandem::shape_to_string(expected.shape());
  }
  const int64_t n = expected.numel();
  if (expected.dtype() == tandem::DType::kString) {
    for (int64_t i = 0; i < n; ++i) {
      if (expected.strings()[static_cast<size_t>(i)] != actual.strings()[static_cast<size_t>(i)]) {
        return "string mismatch at " + std::to_string(i);
      }
    }
    return "";
  }
  const bool is_float = tandem::dtype_is_float(expected.dtype());
  for (int64_t i = 0; i < n; ++i) {
    const double e = expected.get_as_double(i);
    const double a = actual.get_as_double(i);
    if (is_float) {
      if (std::isnan(e) && std::isnan(a)) continue;
      if (std::isinf(e) && e == a) continue;
      if (!(std::fabs(a - e) <= atol + rtol * std::fabs(e))) {
        std::ostringstream os;
        os << "value mismatch at " << i << ": got " << a << ", expected " << e;
        return os.str();
      }
    } else if (expected.get_as_int64(i) != actual.get_as_int64(i)) {
      return "value mismatch at " + std::to_string(i) + ": got " + std::to_string(actual.get_as_int64(i)) +
             ", expected " + std::to_string(expected.get_as_int64(i));
    }
  }
  return "";
}

std::string compare_values(const Value& expected, const Value& actual, double rtol, double atol) {
  if (expected.is_none() || actual.is_none()) {
    return expected.is_none() == actual.is_none() ? "" : "optional presence differs";
  }
  if (expected.is_sequence()) {
    if (!actual.is_sequence()) return "expected a sequence";
    if (expected.items().size() != actual.items().size()) {
      return "sequence length " + std::to_string(actual.items().size()) + ", expected " +
             std::to_string(expected.items().size());
    }
    for (size_t i = 0; i < expected.items().size(); ++i) {
      std::string r = compare_tensors(expected.items()[i], actual.items()[i], rtol, atol);
      if (!r.empty()) return "item " + std::to_string(i) + ": " + r;
    }
    return "";
  }
  if (!actual.is_tensor()) return "expected a tensor";
  return compare_tensors(expected.tensor(), actual.tensor(), rtol, atol);
}

struct Outcome {
  std::string kind;  // pass, fail, error, unsupported, crash, timeout
  std::string detail;
};

// The backends every case runs on (--backend).
std::vector<std::shared_ptr<tandem::Backend>> g_backends;

Outcome run_case(const std::string& dir) {
  tandem::SessionOptions options;
  options.backends = g_backends;
  auto session = tandem::Session::load(dir + "/model.onnx", options);
  if (!session.is_ok()) {
    const bool unsupported = session.status().code() == tandem::StatusCode::kUnsupported;
    return {unsupported ? "unsupported" : "error", session.status().to_string()};
  }
  const auto& inputs = (*session)->inputs();
  const auto& outputs = (*session)->outputs();
  for (const std::string& set : list_dir(dir, "test_data_set_")) {
    const std::string sd = dir + "/" + set;
    tandem::NamedValues feeds;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string p = sd + "/input_" + std::to_string(i) + ".pb";
      if (!file_exists(p)) continue;  // optional input left out
      auto bytes = tandem::model::read_file(p);
      if (!bytes.is_ok()) return {"error", bytes.status().to_string()};
      auto v = tandem::model::decode_value(*bytes, inputs[i].type.kind);
      if (!v.is_ok()) return {"error", "input " + std::to_string(i) + ": " + v.status().to_string()};
      if (v->is_tensor() && v->tensor().dtype() == tandem::DType::kUInt16 &&
          inputs[i].type.dtype == tandem::DType::kBFloat16) {
        // ONNX 1.12 stores bfloat16 test inputs as uint16 bit patterns.
        auto retagged = Tensor::allocate(tandem::DType::kBFloat16, v->tensor().shape());
        if (!retagged.is_ok()) return {"error", retagged.status().to_string()};
        std::memcpy(retagged->raw_data(), v->tensor().raw_data(), v->tensor().byte_size());
        v = Value(std::move(retagged).value());
      }
      feeds.emplace_back(inputs[i].name, std::move(v).value());
    }
    auto result = (*session)->run(feeds);
    if (!result.is_ok()) {
      const bool unsupported = result.status().code() == tandem::StatusCode::kUnsupported;
      return {unsupported ? "unsupported" : "error", result.status().to_string()};
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string p = sd + "/output_" + std::to_string(i) + ".pb";
      auto bytes = tandem::model::read_file(p);
      if (!bytes.is_ok()) return {"error", bytes.status().to_string()};
      auto expected = tandem::model::decode_value(*bytes, outputs[i].type.kind);
      if (!expected.is_ok()) return {"error", "expected output: " + expected.status().to_string()};
      std::string diff = compare_values(*expected, (*result)[i].second, 1e-3, 1e-5);
      if (!diff.empty()) return {"fail", "output '" + outputs[i].name + "': " + diff};
    }
  }
  // Which backends ran nodes (the report shows it; the summary counts XNNPACK cases).
  std::set<std::string> used;
  for (const std::string& part : (*session)->placement()) used.insert(part.substr(0, part.find(':')));
  std::string ran_on;
  for (const std::string& b : used) ran_on += (ran_on.empty() ? "ran on " : ", ") + b;
  return {"pass", ran_on};
}

// A child process that makes the backends itself and runs cases one after another, each under
// the same time limit (alarm). A crash or a timeout ends it; the next case starts a new one. The
// parent never makes a backend: a Vulkan device must not cross a fork, and making one per case
// (instance, device, self-test) would cost ~0.5 s each.
class Worker {
 public:
  Worker(std::string backend, int timeout_s) : backend_(std::move(backend)), timeout_s_(timeout_s) {}
  ~Worker() { stop(); }

  // The outcome of one case; {"setup", why} when the backends cannot be made at all.
  Outcome run(const std::string& dir) {
    if (pid_ < 0) {
      if (Outcome o = start(); !o.kind.empty()) return o;
    }
    const std::string line = dir + "\n";
    if (std::fputs(line.c_str(), to_child_) < 0 || std::fflush(to_child_) != 0) return ended(timeout_s_);
    std::string kind, detail;
    if (!read_reply(kind, detail)) return ended(timeout_s_);
    return {kind, detail};
  }
  // Starts the child now: {} when its backends are made, else {"setup", why}.
  Outcome start_now() { return pid_ < 0 ? start() : Outcome{}; }
  // The child's backends, best first: "vulkan,xnnpack,reference".
  const std::string& backend_names() const { return backend_names_; }

 private:
  Outcome start() {
    int down[2], up[2];
    if (pipe(down) != 0) return {"error", "pipe failed"};
    if (pipe(up) != 0) {
      close(down[0]);
      close(down[1]);
      return {"error", "pipe failed"};
    }
    std::fflush(nullptr);  // nothing buffered is written twice
    pid_ = fork();
    if (pid_ < 0) return {"error", "fork failed"};
    if (pid_ == 0) {
      close(down[1]);
      close(up[0]);
      serve(down[0], up[1]);  // does not return
    }
    close(down[0]);
    close(up[1]);
    to_child_ = fdopen(down[1], "w");
    from_child_ = fdopen(up[0], "r");
    std::string kind, detail;
    if (!read_reply(kind, detail)) return ended(kSetupSeconds);
    if (kind != "ready") {
      stop();
      return {"setup", detail};
    }
    backend_names_ = detail;
    return {};
  }

  // The child: the backends, then one case directory per line, one reply per case.
  [[noreturn]] void serve(int in_fd, int out_fd) {
    FILE* in = fdopen(in_fd, "r");
    FILE* out = fdopen(out_fd, "w");
    auto reply = [&](const std::string& kind, const std::string& detail) {
      std::fprintf(out, "%s\t%zu\n", kind.c_str(), detail.size());
      std::fwrite(detail.data(), 1, detail.size(), out);
      std::fflush(out);
    };
    alarm(kSetupSeconds);  // a driver that hangs while the device is made ends the worker, not the run
    auto backends = tandem::backends_named(backend_);
    alarm(0);
    if (!backends.is_ok()) {
      reply("setup", backends.status().message());
      _exit(0);
    }
    g_backends = std::move(backends).value();
    std::string names;
    for (const auto& b : g_backends) names += (names.empty() ? "" : ",") + std::string(b->name());
    reply("ready", names);
    char* line = nullptr;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
      std::string dir(line);
      if (!dir.empty() && dir.back() == '\n') dir.pop_back();
      alarm(static_cast<unsigned>(timeout_s_));
      const Outcome o = run_case(dir);
      alarm(0);
      reply(o.kind, o.detail);
    }
    _exit(0);
  }

  bool read_reply(std::string& kind, std::string& detail) {
    char header[128];
    if (std::fgets(header, sizeof header, from_child_) == nullptr) return false;
    std::string h(header);
    const size_t tab = h.find('\t');
    if (tab == std::string::npos) return false;
    kind = h.substr(0, tab);
    detail.assign(static_cast<size_t>(std::strtoull(h.c_str() + tab + 1, nullptr, 10)), '\0');
    return detail.empty() || std::fread(detail.data(), 1, detail.size(), from_child_) == detail.size();
  }

  // The child died (its time limit was `limit_s`): how, and a fresh child for the next case.
  Outcome ended(int limit_s) {
    int wstatus = 0;
    const pid_t pid = pid_;
    close_pipes();
    waitpid(pid, &wstatus, 0);
    pid_ = -1;
    if (WIFSIGNALED(wstatus)) {
      const int sig = WTERMSIG(wstatus);
      if (sig == SIGALRM) return {"timeout", "took longer than " + std::to_string(limit_s) + " s"};
      return {"crash", std::string("signal ") + strsignal(sig)};
    }
    return {"crash", "exited with status " + std::to_string(WEXITSTATUS(wstatus))};
  }

  void close_pipes() {
    if (to_child_ != nullptr) std::fclose(to_child_);
    if (from_child_ != nullptr) std::fclose(from_child_);
    to_child_ = from_child_ = nullptr;
  }

  void stop() {
    if (pid_ < 0) return;
    close_pipes();  // the child's getline sees EOF and exits
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  static constexpr unsigned kSetupSeconds = 120;

  std::string backend_, backend_names_;
  int timeout_s_;
  pid_t pid_ = -1;
  FILE* to_child_ = nullptr;
  FILE* from_child_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  std::string data, filter, baseline_path, report_path, backend = "auto";
  bool verbose = false;
  int timeout_s = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data")
      data = next();
    else if (a == "--filter")
      filter = next();
    else if (a == "--baseline")
      baseline_path = next();
    else if (a == "--report")
      report_path = next();
    else if (a == "--timeout")
      timeout_s = std::atoi(next().c_str());
    else if (a == "--backend")
      backend = next();
    else if (a == "--verbose" || a == "-v")
      verbose = true;
    else {
      std::cerr << "usage: tandem_conformance --data DIR [--filter S] [--baseline F] [--report F] [--verbose]\n"
                   "                          [--backend "
                << tandem::backend_choices() << "]\n";
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);  // a worker that died mid-case is a write error, not the end of this process
  Worker worker(backend, timeout_s);
  if (const Outcome o = worker.start_now(); !o.kind.empty()) {
    std::cerr << "tandem_conformance: --backend " << backend << ": "
              << (o.kind == "setup" ? o.detail : "the worker could not start (" + o.kind + ": " + o.detail + ")")
              << "\n";
    return 2;
  }
  const std::string backend_names = worker.backend_names();
  if (data.empty()) data = "/usr/share/libonnx-testdata/data/node";
  std::vector<std::string> cases = list_dir(data, "test_");
  if (cases.empty()) {
    std::cerr << "no test cases under " << data << "; install Debian's libonnx-testdata (scripts/setup does)\n";
    return 2;
  }
  std::map<std::string, int> counts;
  std::vector<std::pair<std::string, Outcome>> results;
  size_t done = 0;
  for (const std::string& c : cases) {
    if (!filter.empty() && c.find(filter) == std::string::npos) continue;
    Outcome o = worker.run(data + "/" + c);
    ++counts[o.kind];
    ++done;
    if (verbose || o.kind == "crash" || o.kind == "timeout") {
      std::cout << o.kind << "  " << c << (o.detail.empty() ? "" : "  -- " + o.detail) << "\n";
    } else if (done % 100 == 0) {
      std::cout << "... " << done << " cases\n" << std::flush;
    }
    results.emplace_back(c, o);
  }
  const int passed = counts["pass"];
  std::cout << "conformance (--backend " << backend << "): " << passed << " passed, " << counts["fail"] << " failed, "
            << counts["error"] << " errors, " << counts["unsupported"] << " unsupported, " << counts["crash"]
            << " crashed, " << counts["timeout"] << " timed out, of " << results.size() << "\n";
  std::stringstream names(backend_names);
  for (std::string name; std::getline(names, name, ',');) {
    const auto on_backend = std::count_if(results.begin(), results.end(), [&](const auto& r) {
      return r.second.kind == "pass" && r.second.detail.find(name) != std::string::npos;
    });
    std::cout << "  " << on_backend << " passing cases ran nodes on " << name << "\n";
  }
  if (!report_path.empty()) {
    std::ofstream r(report_path);
    r << "# ONNX node conformance (--backend " << backend << ")\n\n"
      << passed << " of " << results.size() << " cases pass (" << counts["fail"] << " fail, " << counts["error"]
      << " error, " << counts["unsupported"] << " unsupported, " << counts["crash"] << " crash, " << counts["timeout"]
      << " timeout).\n\n| case | result | detail |\n|---|---|---|\n";
    for (const auto& [name, o] : results) {
      std::string d = o.detail;
      std::replace(d.begin(), d.end(), '|', '/');
      std::replace(d.begin(), d.end(), '\n', ' ');
      if (d.size() > 200) d = d.substr(0, 200) + "...";
      r << "| " << name << " | " << o.kind << " | " << d << " |\n";
    }
  }
  int status = 0;
  if (counts["crash"] > 0 || counts["timeout"] > 0) {
    std::cerr << "FAIL: " << counts["crash"] << " crashes, " << counts["timeout"] << " timeouts\n";
    status = 1;
  }
  if (!baseline_path.empty()) {
    std::ifstream b(baseline_path);
    int baseline = 0;
    b >> baseline;
    if (passed < baseline) {
      std::cerr << "FAIL: " << passed << " cases pass, below the committed baseline of " << baseline << " ("
                << baseline_path << ")\n";
      status = 1;
    } else {
      std::cout << "baseline " << baseline << " held (" << passed << " pass)\n";
    }
  }
  return status;
}
