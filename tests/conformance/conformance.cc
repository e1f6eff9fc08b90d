// Runs ONNX's per-operator test cases (model.onnx + test_data_set_*/{input,output}_N.pb)
// through Session and compares with the expected outputs.
//
// Each case runs in a forked child with a time limit, so a crash or hang is
// counted (and fails the suite) instead of ending the run.
//
//   tandem_conformance --data DIR [--filter SUBSTR] [--baseline FILE] [--report FILE] [--verbose]
//                      [--backend auto|reference|xnnpack]
//
// --backend picks the session's backends (native/lib/backends.h); auto = this build's
// defaults, best first (XNNPACK, then the reference kernels, when built with XNNPACK).
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <set>
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

// Runs one case in a child process; the verdict comes back through a pipe.
Outcome run_isolated(const std::string& dir, int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return {"error", "pipe failed"};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(timeout_s));
    Outcome o = run_case(dir);
    std::string msg = o.kind + "\n" + o.detail;
    ssize_t unused = write(fds[1], msg.data(), msg.size());
    (void)unused;
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (WIFSIGNALED(wstatus)) {
    const int sig = WTERMSIG(wstatus);
    if (sig == SIGALRM) return {"timeout", "took longer than " + std::to_string(timeout_s) + " s"};
    return {"crash", std::string("signal ") + strsignal(sig)};
  }
  if (msg.empty()) return {"crash", "exited with status " + std::to_string(WEXITSTATUS(wstatus))};
  const size_t nl = msg.find('\n');
  return {msg.substr(0, nl), nl == std::string::npos ? "" : msg.substr(nl + 1)};
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, filter, baseline_path, report_path, backend = "auto";
  bool verbose = false;
  int timeout_s = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") data = next();
    else if (a == "--filter") filter = next();
    else if (a == "--baseline") baseline_path = next();
    else if (a == "--report") report_path = next();
    else if (a == "--timeout") timeout_s = std::atoi(next().c_str());
    else if (a == "--backend") backend = next();
    else if (a == "--verbose" || a == "-v") verbose = true;
    else {
      std::cerr << "usage: tandem_conformance --data DIR [--filter S] [--baseline F] [--report F] [--verbose]\n"
                   "                          [--backend " << tandem::backend_choices() << "]\n";
      return 2;
    }
  }
  auto backends = tandem::backends_named(backend);
  if (!backends.is_ok()) {
    std::cerr << "tandem_conformance: --backend: " << backends.status().message() << "\n";
    return 2;
  }
  g_backends = std::move(backends).value();
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
    Outcome o = run_isolated(data + "/" + c, timeout_s);
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
  std::cout << "conformance (--backend " << backend << "): " << passed << " passed, " << counts["fail"] << " failed, " << counts["error"]
            << " errors, " << counts["unsupported"] << " unsupported, " << counts["crash"] << " crashed, "
            << counts["timeout"] << " timed out, of " << results.size() << "\n";
  for (const auto& b : g_backends) {
    const std::string name(b->name());
    const auto on_backend = std::count_if(results.begin(), results.end(), [&](const auto& r) {
      return r.second.kind == "pass" && r.second.detail.find(name) != std::string::npos;
    });
    std::cout << "  " << on_backend << " passing cases ran nodes on " << name << "\n";
  }
  if (!report_path.empty()) {
    std::ofstream r(report_path);
    r << "# ONNX node conformance (--backend " << backend << ")\n\n" << passed << " of " << results.size() << " cases pass (" << counts["fail"]
      << " fail, " << counts["error"] << " error, " << counts["unsupported"] << " unsupported, " << counts["crash"]
      << " crash, " << counts["timeout"] << " timeout).\n\n| case | result | detail |\n|---|---|---|\n";
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
