// tandem: inspect and run ONNX models from the command line.
//
//   tandem inspect MODEL [--json] [--shape NAME=1x3x224x224 ...]
//   tandem run MODEL [--input NAME=FILE.npy|FILE.pb ...] [--output-dir DIR] [--seed N] [--shape NAME=DIMS ...]
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/npy.h"
#include "core/model/onnx_reader.h"
#include "core/runtime/session.h"

namespace {

using tandem::Result;
using tandem::Shape;
using tandem::Status;
using tandem::Tensor;

int usage() {
  std::cerr << "usage:\n"
               "  tandem inspect MODEL.onnx [--json] [--shape NAME=1x3x224x224 ...]\n"
               "  tandem run MODEL.onnx [--input NAME=FILE.npy|FILE.pb ...] [--output-dir DIR] [--seed N]\n"
               "                        [--shape NAME=DIMS ...]\n";
  return 2;
}

int die(const Status& st) {
  std::cerr << "tandem: error: " << st.to_string() << "\n";
  return 1;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else o += c;
  }
  return o;
}

// Reads a model file in chunks, drawing a progress bar on stderr for big files.
Result<std::vector<uint8_t>> read_with_progress(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return tandem::not_found("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  const uint64_t total = fstat(fileno(f), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  const bool show = total > (64u << 20) && isatty(2);
  std::vector<uint8_t> bytes;
  bytes.reserve(total);
  std::vector<uint8_t> chunk(1 << 20);
  size_t n;
  int last_pct = -1;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), f)) > 0) {
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    const int pct = total ? static_cast<int>(100 * bytes.size() / total) : 0;
    if (show && pct != last_pct) {
      std::fprintf(stderr, "\rloading %s: %3d%% (%llu MiB)", path.c_str(), pct,
                   static_cast<unsigned long long>(bytes.size() >> 20));
      last_pct = pct;
    }
  }
  if (show) std::fprintf(stderr, "\n");
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) return tandem::io_error("error reading '" + path + "'");
  return bytes;
}

Result<std::unique_ptr<tandem::Session>> open_session(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_with_progress(path));
  tandem::SessionOptions options;
  const size_t slash = path.find_last_of('/');
  options.load.base_dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  auto s = tandem::Session::load(bytes, options);
  if (!s.is_ok()) return s.status().with_context("cannot load '" + path + "'");
  return s;
}

Result<Shape> parse_dims(const std::string& text) {
  Shape s;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    char* end = nullptr;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || v < 0) return tandem::invalid_argument("bad dimensions '" + text + "'");
    s.push_back(v);
  }
  return s;
}

// Concrete shape for an input: --shape override, else known dims with unknowns as 1.
Result<Shape> shape_for(const tandem::ValueInfo& in, const std::map<std::string, Shape>& overrides) {
  if (auto it = overrides.find(in.name); it != overrides.end()) return it->second;
  Shape s;
  for (const auto& d : in.type.dims) s.push_back(d.known() ? d.value : 1);
  return s;
}

Result<Tensor> random_tensor(tandem::DType dtype, const Shape& shape, std::mt19937& rng) {
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ints(0, 9);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case tandem::DType::kFloat32: t.data<float>()[i] = uni(rng); break;
      case tandem::DType::kFloat64: t.data<double>()[i] = uni(rng); break;
      case tandem::DType::kFloat16: t.data<uint16_t>()[i] = tandem::float_to_half(uni(rng)); break;
      case tandem::DType::kInt64: t.data<int64_t>()[i] = ints(rng); break;
      case tandem::DType::kInt32: t.data<int32_t>()[i] = ints(rng); break;
      case tandem::DType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(ints(rng)); break;
      case tandem::DType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(ints(rng)); break;
      case tandem::DType::kBool: t.data<bool>()[i] = ints(rng) % 2 != 0; break;
      default: return tandem::unsupported(std::string("cannot make random inputs of dtype ") + tandem::dtype_name(dtype));
    }
  }
  return t;
}

Result<Tensor> read_input_file(const std::string& path) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".npy") return tandem::model::read_npy(path);
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, tandem::model::read_file(path));
  auto t = tandem::model::decode_tensor(bytes);
  if (!t.is_ok()) return t.status().with_context("'" + path + "' is neither .npy nor a TensorProto .pb");
  return t;
}

std::string summarize(const Tensor& t) {
  std::ostringstream os;
  os << tandem::dtype_name(t.dtype()) << tandem::shape_to_string(t.shape());
  if (t.dtype() == tandem::DType::kString || t.numel() == 0) return os.str();
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.get_as_double(i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  os << "  min " << lo << "  max " << hi << "  mean " << sum / static_cast<double>(t.numel()) << "  first [";
  for (int64_t i = 0; i < std::min<int64_t>(t.numel(), 5); ++i) os << (i ? ", " : "") << t.get_as_double(i);
  os << (t.numel() > 5 ? ", ...]" : "]");
  return os.str();
}

int cmd_inspect(const std::string& path, bool json, const std::map<std::string, Shape>& overrides) {
  auto session = open_session(path);
  if (!session.is_ok()) return die(session.status());
  tandem::Session& s = **session;
  const auto& g = s.graph();
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) ++ops[(n.domain.empty() ? "" : n.domain + ".") + n.op_type];
  std::map<std::string, Shape> shapes;
  for (const auto& in : s.inputs()) {
    auto sh = shape_for(in, overrides);
    if (!sh.is_ok()) return die(sh.status());
    shapes[in.name] = *sh;
  }
  auto facts = s.memory_facts(shapes);
  if (!facts.is_ok()) return die(facts.status());
  const auto& m = s.model();
  if (json) {
    std::cout << "{\"model\": \"" << json_escape(path) << "\", \"ir_version\": " << m.ir_version
              << ", \"producer\": \"" << json_escape(m.producer_name + " " + m.producer_version) << "\", \"opsets\": {";
    bool first = true;
    for (const auto& [d, v] : g.opsets) {
      std::cout << (first ? "" : ", ") << "\"" << json_escape(d.empty() ? "ai.onnx" : d) << "\": " << v;
      first = false;
    }
    auto io = [&](const std::vector<tandem::ValueInfo>& list) {
      std::cout << "[";
      for (size_t i = 0; i < list.size(); ++i) {
        std::cout << (i ? ", " : "") << "{\"name\": \"" << json_escape(list[i].name) << "\", \"type\": \""
                  << json_escape(list[i].type.to_string()) << "\"}";
      }
      std::cout << "]";
    };
    std::cout << "}, \"inputs\": ";
    io(s.inputs());
    std::cout << ", \"outputs\": ";
    io(s.outputs());
    std::cout << ", \"nodes\": " << g.nodes.size() << ", \"ops\": {";
    first = true;
    for (const auto& [op, c] : ops) {
      std::cout << (first ? "" : ", ") << "\"" << json_escape(op) << "\": " << c;
      first = false;
    }
    std::cout << "}, \"weight_bytes\": " << facts->weight_bytes << ", \"arena_bytes\": " << facts->arena_bytes
              << ", \"output_bytes\": " << facts->output_bytes << ", \"input_bytes\": " << facts->input_bytes
              << ", \"peak_bytes\": " << facts->peak_bytes() << ", \"dynamic_values\": " << facts->dynamic_values
              << ", \"placement\": [";
    const auto placement = s.placement();
    for (size_t i = 0; i < placement.size(); ++i) std::cout << (i ? ", " : "") << "\"" << json_escape(placement[i]) << "\"";
    std::cout << "]}\n";
    return 0;
  }
  std::cout << "model     " << path << "\n"
            << "ir        " << m.ir_version << "   producer " << m.producer_name << " " << m.producer_version << "\n"
            << "opsets   ";
  for (const auto& [d, v] : g.opsets) std::cout << " " << (d.empty() ? "ai.onnx" : d) << "=" << v;
  std::cout << "\ninputs\n";
  for (const auto& in : s.inputs()) std::cout << "  " << in.name << ": " << in.type.to_string() << "\n";
  std::cout << "outputs\n";
  for (const auto& out : s.outputs()) std::cout << "  " << out.name << ": " << out.type.to_string() << "\n";
  std::cout << "ops       " << g.nodes.size() << " nodes:";
  for (const auto& [op, c] : ops) std::cout << " " << op << "x" << c;
  std::cout << "\nmemory    for inputs";
  for (const auto& [n, sh] : shapes) std::cout << " " << n << "=" << tandem::shape_to_string(sh);
  std::cout << "\n  weights " << facts->weight_bytes << " bytes\n  arena   " << facts->arena_bytes
            << " bytes (peak intermediates)\n  outputs " << facts->output_bytes << " bytes\n  peak    "
            << facts->peak_bytes() << " bytes";
  if (facts->dynamic_values) std::cout << " (+" << facts->dynamic_values << " values sized at run time)";
  std::cout << "\nplacement";
  for (const auto& p : s.placement()) std::cout << " [" << p << "]";
  std::cout << "\n";
  return 0;
}

int cmd_run(const std::string& path, const std::map<std::string, std::string>& input_files,
            const std::map<std::string, Shape>& overrides, const std::string& output_dir, unsigned seed) {
  auto session = open_session(path);
  if (!session.is_ok()) return die(session.status());
  tandem::Session& s = **session;
  std::mt19937 rng(seed);
  tandem::NamedValues feeds;
  std::set<std::string> used;
  for (const auto& in : s.inputs()) {
    if (auto it = input_files.find(in.name); it != input_files.end()) {
      auto t = read_input_file(it->second);
      if (!t.is_ok()) return die(t.status().with_context("input '" + in.name + "'"));
      feeds.emplace_back(in.name, std::move(t).value());
      used.insert(in.name);
      continue;
    }
    if (in.type.kind != tandem::graph::TypeInfo::Kind::kTensor) {
      return die(tandem::invalid_argument("input '" + in.name + "' is " + in.type.to_string() + "; give it with --input"));
    }
    auto sh = shape_for(in, overrides);
    if (!sh.is_ok()) return die(sh.status());
    auto t = random_tensor(in.type.dtype, *sh, rng);
    if (!t.is_ok()) return die(t.status().with_context("input '" + in.name + "'"));
    std::cout << "input  " << in.name << ": random " << tandem::dtype_name(in.type.dtype)
              << tandem::shape_to_string(*sh) << " (seed " << seed << ")\n";
    feeds.emplace_back(in.name, std::move(t).value());
  }
  for (const auto& [name, file] : input_files) {
    if (!used.count(name)) return die(tandem::invalid_argument("the model has no input named '" + name + "'"));
  }
  tandem::RunStats stats;
  auto out = s.run(feeds, &stats);
  if (!out.is_ok()) return die(out.status());
  for (const auto& [name, v] : *out) {
    if (v.is_tensor()) std::cout << "output " << name << ": " << summarize(v.tensor()) << "\n";
    else std::cout << "output " << name << ": " << (v.is_sequence() ? "sequence of " + std::to_string(v.items().size()) : "none") << "\n";
  }
  std::printf("time   %.3f ms (arena %llu bytes, %zu allocations outside the plan)\n", stats.milliseconds,
              static_cast<unsigned long long>(stats.arena_bytes), stats.unplanned_allocations);
  if (!output_dir.empty()) {
    mkdir(output_dir.c_str(), 0755);
    for (const auto& [name, v] : *out) {
      if (!v.is_tensor()) continue;
      std::string file = name;
      for (char& c : file) {
        if (c == '/' || c == '\\' || c == ':') c = '_';
      }
      Status st = tandem::model::write_npy(output_dir + "/" + file + ".npy", v.tensor());
      if (!st.is_ok()) return die(st);
    }
    std::cout << "wrote  " << out->size() << " outputs to " << output_dir << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string cmd = argv[1];
  const std::string model = argv[2];
  bool json = false;
  std::string output_dir;
  unsigned seed = 0;
  std::map<std::string, std::string> inputs;
  std::map<std::string, Shape> shapes;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "tandem: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    auto split = [&](const std::string& kv) -> std::pair<std::string, std::string> {
      const size_t eq = kv.rfind('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "tandem: expected NAME=VALUE, got '" << kv << "'\n";
        std::exit(2);
      }
      return {kv.substr(0, eq), kv.substr(eq + 1)};
    };
    if (a == "--json") json = true;
    else if (a == "--output-dir") output_dir = value();
    else if (a == "--seed") seed = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
    else if (a == "--input") inputs.insert(split(value()));
    else if (a == "--shape") {
      auto [n, d] = split(value());
      auto dims = parse_dims(d);
      if (!dims.is_ok()) return die(dims.status());
      shapes[n] = *dims;
    } else {
      std::cerr << "tandem: unknown option '" << a << "'\n";
      return usage();
    }
  }
  if (cmd == "inspect") return cmd_inspect(model, json, shapes);
  if (cmd == "run") return cmd_run(model, inputs, shapes, output_dir, seed);
  return usage();
}
