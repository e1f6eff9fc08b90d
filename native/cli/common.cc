// Session loading, inputs and placement helpers shared by inspect, run and bench.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <set>

#include "core/model/npy.h"
#include "core/model/onnx_reader.h"
#include "native/cli/cli.h"

namespace tandem::cli {
namespace {

// Reads a model file in chunks, drawing a progress bar on stderr for big files.
Result<std::vector<uint8_t>> read_with_progress(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return not_found("cannot open '" + path + "': " + std::strerror(errno));
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
  if (err) return io_error("error reading '" + path + "'");
  return bytes;
}

Result<Tensor> random_tensor(DType dtype, const Shape& shape, std::mt19937& rng) {
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ints(0, 9);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::kFloat32:
        t.data<float>()[i] = uni(rng);
        break;
      case DType::kFloat64:
        t.data<double>()[i] = uni(rng);
        break;
      case DType::kFloat16:
        t.data<uint16_t>()[i] = float_to_half(uni(rng));
        break;
      case DType::kInt64:
        t.data<int64_t>()[i] = ints(rng);
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = ints(rng);
        break;
      case DType::kInt8:
        t.data<int8_t>()[i] = static_cast<int8_t>(ints(rng));
        break;
      case DType::kUInt8:
        t.data<uint8_t>()[i] = static_cast<uint8_t>(ints(rng));
        break;
      case DType::kBool:
        t.data<bool>()[i] = ints(rng) % 2 != 0;
        break;
      default:
        return unsupported(std::string("cannot make random inputs of dtype ") + dtype_name(dtype));
    }
  }
  return t;
}

Result<Tensor> read_input_file(const std::string& path) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".npy") return model::read_npy(path);
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, model::read_file(path));
  auto t = model::decode_tensor(bytes);
  if (!t.is_ok()) return t.status().with_context("'" + path + "' is neither .npy nor a TensorProto .pb");
  return t;
}

}  // namespace

int die(const Status& st) {
  std::cerr << "tandem: error: " << st.to_string() << "\n";
  return 1;
}

Result<std::unique_ptr<Session>> open_session(const std::string& path, const Options& opts) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_with_progress(path));
  SessionOptions options;
  options.backends = opts.backends;
  options.threads = opts.threads;
  const size_t slash = path.find_last_of('/');
  options.load.base_dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  auto s = Session::load(bytes, options);
  if (!s.is_ok()) return s.status().with_context("cannot load '" + path + "'");
  return s;
}

Shape shape_for(const ValueInfo& in, const std::map<std::string, Shape>& overrides) {
  if (auto it = overrides.find(in.name); it != overrides.end()) return it->second;
  return in.type.smallest_shape();
}

Result<NamedValues> make_feeds(const std::vector<ValueInfo>& inputs, const Options& opts, std::ostream* log) {
  std::mt19937 rng(opts.seed);
  NamedValues feeds;
  std::set<std::string> used;
  for (const auto& in : inputs) {
    if (auto it = opts.inputs.find(in.name); it != opts.inputs.end()) {
      auto t = read_input_file(it->second);
      if (!t.is_ok()) return t.status().with_context("input '" + in.name + "'");
      feeds.emplace_back(in.name, std::move(t).value());
      used.insert(in.name);
      continue;
    }
    if (in.type.kind != graph::TypeInfo::Kind::kTensor) {
      return invalid_argument("input '" + in.name + "' is " + in.type.to_string() + "; give it with --input");
    }
    const Shape sh = shape_for(in, opts.shapes);
    auto t = random_tensor(in.type.dtype, sh, rng);
    if (!t.is_ok()) return t.status().with_context("input '" + in.name + "'");
    if (log != nullptr) {
      *log << "input  " << in.name << ": random " << dtype_name(in.type.dtype) << shape_to_string(sh) << " (seed "
           << opts.seed << ")\n";
    }
    feeds.emplace_back(in.name, std::move(t).value());
  }
  for (const auto& [name, file] : opts.inputs) {
    if (!used.count(name)) return invalid_argument("the model has no input named '" + name + "'");
  }
  return feeds;
}

std::vector<BackendShare> placement_by_backend(const std::vector<std::string>& placement) {
  std::vector<BackendShare> out;
  for (const std::string& p : placement) {  // "xnnpack: 12 nodes"
    const size_t colon = p.find(": ");
    const std::string name = p.substr(0, colon);
    const long nodes = colon == std::string::npos ? 0 : std::strtol(p.c_str() + colon + 2, nullptr, 10);
    auto it = std::find_if(out.begin(), out.end(), [&](const BackendShare& b) { return b.backend == name; });
    if (it == out.end()) it = out.insert(out.end(), BackendShare{name, 0, 0});
    it->nodes += nodes;
    ++it->partitions;
  }
  return out;
}

std::string placement_json(const std::vector<std::string>& placement) {
  std::string o = "[";
  for (size_t i = 0; i < placement.size(); ++i) o += (i ? ", \"" : "\"") + json_escape(placement[i]) + "\"";
  return o + "]";
}

std::string placement_by_backend_json(const std::vector<std::string>& placement) {
  std::string o = "{";
  bool first = true;
  for (const BackendShare& b : placement_by_backend(placement)) {
    o += (first ? "\"" : ", \"") + json_escape(b.backend) + "\": {\"nodes\": " + std::to_string(b.nodes) +
         ", \"partitions\": " + std::to_string(b.partitions) + "}";
    first = false;
  }
  return o + "}";
}

}  // namespace tandem::cli
