#include "native/serve/repository.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "core/model/onnx_reader.h"
#include "backends/remote/json.h"

namespace tandem::serve {
// The OIP v2 wire format, shared with the remote client (backends/remote).
using namespace ::tandem::oip;  // NOLINT(google-build-using-namespace)
namespace fs = std::filesystem;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void log_event(const std::string& line) {
  std::fprintf(stderr, "tandem serve: %s\n", line.c_str());
  std::fflush(stderr);
}

Status read_names(const rapidjson::Value& doc, const char* key, std::vector<std::string>* out) {
  if (!doc.HasMember(key)) return Status::ok();
  const auto& list = doc[key];
  if (!list.IsArray()) return invalid_argument(std::string("\"") + key + "\" must be an array");
  for (const auto& e : list.GetArray()) {
    // Either "name" or {"name": "..."} (Triton's config lists objects).
    if (e.IsString()) {
      out->emplace_back(e.GetString(), e.GetStringLength());
    } else if (e.IsObject() && e.HasMember("name") && e["name"].IsString()) {
      out->emplace_back(e["name"].GetString(), e["name"].GetStringLength());
    } else {
      return invalid_argument(std::string("\"") + key + "\" entries must be names or {\"name\": ...}");
    }
  }
  return Status::ok();
}

bool has_name(const std::vector<ValueInfo>& list, const std::string& name) {
  return std::any_of(list.begin(), list.end(), [&](const ValueInfo& v) { return v.name == name; });
}

Status check_names(const std::vector<std::string>& wanted, const std::vector<ValueInfo>& have, const char* what) {
  for (const std::string& n : wanted) {
    if (!has_name(have, n))
      return invalid_argument(std::string("config.json names ") + what + " '" + n + "' the model lacks");
  }
  return Status::ok();
}

// Whether requests can be batched: every input but rank-0 ones (shared) has a symbolic dimension
// at its batch axis. Axes named for tensors the model lacks, or beyond an input's rank, are errors.
Result<bool> check_batch_axes(const BatchAxes& axes, const ModelVersion& mv) {
  for (const auto& [name, axis] : axes) {
    if (!has_name(mv.inputs, name) && !has_name(mv.outputs, name))
      return invalid_argument("config.json: \"batch_axes\" names '" + name + "', which the model lacks");
  }
  bool batched_input = false;
  for (const ValueInfo& in : mv.inputs) {
    if (in.type.kind != graph::TypeInfo::Kind::kTensor || !in.type.has_shape) return false;
    if (in.type.dims.empty()) continue;  // rank 0: shared
    const auto it = axes.find(in.name);
    const size_t axis = it == axes.end() ? 0 : static_cast<size_t>(it->second);
    if (axis >= in.type.dims.size()) {
      return invalid_argument("config.json: \"batch_axes\": input '" + in.name + "' has rank " +
                              std::to_string(in.type.dims.size()) + ", so axis " + std::to_string(axis) +
                              " does not exist");
    }
    if (in.type.dims[axis].known()) return false;
    batched_input = true;
  }
  return batched_input;
}

}  // namespace

bool valid_model_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

Result<ModelConfig> parse_model_config(const std::string& text, size_t default_queue) {
  ModelConfig c;
  c.batching.max_queue_size = default_queue;
  try {
    rapidjson::Document doc;
    doc.Parse<kJsonParseFlags>(text.c_str(), text.size());
    if (doc.HasParseError()) {
      return invalid_argument(std::string("config.json: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                              " at offset " + std::to_string(doc.GetErrorOffset()));
    }
    if (!doc.IsObject()) return invalid_argument("config.json must be an object");
    auto uint_field = [&](const rapidjson::Value& obj, const char* key, uint64_t lo, uint64_t hi,
                          uint64_t* out) -> Status {
      if (!obj.HasMember(key)) return Status::ok();
      const auto& v = obj[key];
      if (!v.IsUint64() || v.GetUint64() < lo || v.GetUint64() > hi) {
        return invalid_argument(std::string("config.json: \"") + key + "\" must be an integer from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
      }
      *out = v.GetUint64();
      return Status::ok();
    };
    uint64_t v = 0;
    TANDEM_RETURN_IF_ERROR(uint_field(doc, "max_batch_size", 0, 1 << 16, &v));
    c.batching.max_batch_size = static_cast<int64_t>(v);
    v = 1;
    TANDEM_RETURN_IF_ERROR(uint_field(doc, "instance_count", 1, 64, &v));
    c.instance_count = static_cast<int>(v);
    v = default_queue;
    TANDEM_RETURN_IF_ERROR(uint_field(doc, "max_queue_size", 1, 1 << 20, &v));
    c.batching.max_queue_size = static_cast<size_t>(v);
    if (doc.HasMember("dynamic_batching")) {
      const auto& db = doc["dynamic_batching"];
      if (!db.IsObject()) return invalid_argument("config.json: \"dynamic_batching\" must be an object");
      v = 0;
      TANDEM_RETURN_IF_ERROR(uint_field(db, "max_queue_delay_us", 0, 10'000'000, &v));
      // Triton's spelling, so its configs carry over.
      TANDEM_RETURN_IF_ERROR(uint_field(db, "max_queue_delay_microseconds", 0, 10'000'000, &v));
      c.batching.max_queue_delay = std::chrono::microseconds(v);
      if (db.HasMember("batch_axes")) {
        const auto& axes = db["batch_axes"];
        if (!axes.IsObject()) return invalid_argument("config.json: \"batch_axes\" must map tensor names to axes");
        for (const auto& m : axes.GetObject()) {
          if (!m.value.IsUint() || m.value.GetUint() > 16) {
            return invalid_argument("config.json: \"batch_axes\": the axis of '" + std::string(m.name.GetString()) +
                                    "' must be an integer from 0 to 16");
          }
          c.batching.batch_axes[m.name.GetString()] = static_cast<int>(m.value.GetUint());
        }
      }
    }
    TANDEM_RETURN_IF_ERROR(read_names(doc, "inputs", &c.inputs));
    TANDEM_RETURN_IF_ERROR(read_names(doc, "outputs", &c.outputs));
  } catch (const std::exception& e) {
    return invalid_argument(std::string("config.json: ") + e.what());
  }
  return c;
}

Repository::Repository(std::string root, RepositoryOptions options, Metrics* metrics)
    : root_(std::move(root)), options_(std::move(options)), metrics_(metrics) {}

Repository::~Repository() { stop_all(); }

fs::path Repository::model_dir(const std::string& model) const {
  if (options_.single_model.empty()) return fs::path(root_) / model;
  return model == options_.single_model ? fs::path(root_) : fs::path();
}

bool Repository::exists_on_disk(const std::string& model) const {
  std::error_code ec;
  return valid_model_name(model) && !model_dir(model).empty() && fs::is_directory(model_dir(model), ec);
}

Result<std::shared_ptr<ModelVersion>> Repository::load_version(const std::string& model, int64_t version,
                                                               const std::string& path, const ModelConfig& config) {
  SessionOptions so;
  so.backends = options_.backends;
  so.threads = options_.threads;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < config.instance_count; ++i) {
    auto s = Session::load(path, so);
    if (!s.is_ok()) return s.status().with_context("loading " + path);
    sessions.push_back(std::move(s).value());
  }
  auto mv = std::make_shared<ModelVersion>();
  mv->model = model;
  mv->version = version;
  mv->version_str = std::to_string(version);
  mv->config = config;
  mv->inputs = sessions[0]->inputs();
  mv->outputs = sessions[0]->outputs();
  TANDEM_RETURN_IF_ERROR(check_names(config.inputs, mv->inputs, "input"));
  TANDEM_RETURN_IF_ERROR(check_names(config.outputs, mv->outputs, "output"));
  TANDEM_ASSIGN_OR_RETURN(const bool batchable, check_batch_axes(config.batching.batch_axes, *mv));
  Metrics* metrics = metrics_;
  const std::string vs = mv->version_str;
  mv->scheduler = std::make_unique<Scheduler>(
      "'" + model + "' version " + vs, std::move(sessions), config.batching, batchable,
      [metrics, model, vs](int64_t batch, uint64_t ns) { metrics->record_execution(model, vs, batch, ns); });
  log_event("loaded model '" + model + "' version " + vs + " (" + std::to_string(config.instance_count) +
            " instance(s), batching " +
            (mv->scheduler->batching() ? "up to " + std::to_string(config.batching.max_batch_size) : "off") + ")");
  return mv;
}

Status Repository::load(const std::string& model) {
  if (!valid_model_name(model)) return invalid_argument("invalid model name");
  std::lock_guard<std::mutex> load_lock(load_mu_);
  const fs::path dir = model_dir(model);
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return not_found("no model '" + model + "' in the repository");
  Status st = Status::ok();
  ModelConfig config;
  config.batching.max_queue_size = options_.max_queue_size;
  if (fs::exists(dir / "config.json", ec)) {
    auto bytes = tandem::model::read_file((dir / "config.json").string());
    auto parsed = bytes.is_ok() ? parse_model_config(std::string(bytes->begin(), bytes->end()), options_.max_queue_size)
                                : Result<ModelConfig>(bytes.status());
    if (parsed.is_ok())
      config = *parsed;
    else
      st = parsed.status();
  }
  std::map<int64_t, std::shared_ptr<ModelVersion>> loaded;
  if (st.is_ok()) {
    std::map<int64_t, fs::path> numbers;  // "01" and "1" are both version 1; the last listed wins
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      std::error_code ec2;
      if (e.is_directory(ec2) && all_digits(name) && fs::exists(e.path() / "model.onnx", ec2)) {
        numbers[std::stoll(name)] = e.path() / "model.onnx";
      }
    }
    // Single-model mode also takes one bare .onnx file as version 1: KServe's storage
    // initializer leaves a storageUri naming one file as /mnt/models/<its name>.
    if (!options_.single_model.empty()) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::error_code ec2;
        if (e.is_regular_file(ec2) && e.path().extension() == ".onnx") files.push_back(e.path());
      }
      if (!files.empty() && !numbers.empty()) {
        st = invalid_argument("'" + dir.string() + "' holds both " + files[0].filename().string() +
                              " and <version>/model.onnx; keep one");
      } else if (files.size() > 1) {
        st = invalid_argument("'" + dir.string() + "' holds " + std::to_string(files.size()) +
                              " .onnx files; keep one, or use <version>/model.onnx folders");
      } else if (files.size() == 1) {
        numbers[1] = files[0];
      }
    }
    if (numbers.empty() && st.is_ok()) {
      st = not_found("model '" + model + "' has no " +
                     (options_.single_model.empty() ? "<version>/model.onnx" : "*.onnx file or <version>/model.onnx") +
                     " in '" + dir.string() + "'");
    }
    for (const auto& [v, path] : numbers) {
      if (!st.is_ok()) break;
      auto mv = load_version(model, v, path.string(), config);
      if (mv.is_ok())
        loaded[v] = std::move(mv).value();
      else
        st = mv.status();
    }
  }
  std::vector<std::shared_ptr<ModelVersion>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = models_[model];
    for (auto& [v, mv] : entry.versions) old.push_back(mv);
    entry.versions.clear();
    entry.failed = !st.is_ok();
    if (st.is_ok()) {
      entry.versions = std::move(loaded);
      entry.reason.clear();
    } else {
      entry.reason = st.message();
    }
  }
  retire(std::move(old));
  if (!st.is_ok()) {
    log_event("model '" + model + "' failed to load: " + st.message());
    std::vector<std::shared_ptr<ModelVersion>> partial;
    for (auto& [v, mv] : loaded) partial.push_back(mv);
    retire(std::move(partial));
  }
  return st;
}

std::string Repository::not_ready_reason() const {
  if (!options_.strict_readiness) return {};
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, e] : models_) {
    if (e.failed) out += (out.empty() ? "" : "; ") + ("model '" + name + "' failed to load: " + e.reason);
  }
  return out;
}

Status Repository::unload(const std::string& model) {
  if (!valid_model_name(model)) return invalid_argument("invalid model name");
  std::lock_guard<std::mutex> load_lock(load_mu_);
  std::vector<std::shared_ptr<ModelVersion>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(model);
    if (it == models_.end()) {
      if (!exists_on_disk(model)) return not_found("no model '" + model + "' in the repository");
      models_[model].reason = "unloaded";
      return Status::ok();
    }
    for (auto& [v, mv] : it->second.versions) old.push_back(mv);
    it->second.versions.clear();
    it->second.reason = "unloaded";
    it->second.failed = false;
  }
  log_event("unloading model '" + model + "' (" + std::to_string(old.size()) + " version(s) drain first)");
  retire(std::move(old));
  return Status::ok();
}

void Repository::retire(std::vector<std::shared_ptr<ModelVersion>> old) {
  if (old.empty()) return;
  std::lock_guard<std::mutex> lock(reaper_mu_);
  // Draining waits for queued requests; do it off the caller's (an IO) thread. The shared_ptrs
  // also keep the version alive for handlers that looked it up just before the swap.
  for (auto it = reapers_.begin(); it != reapers_.end();) {  // collect the ones done by now
    if (it->finished->load()) {
      it->thread.join();
      it = reapers_.erase(it);
    } else {
      ++it;
    }
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread t([old = std::move(old), finished]() mutable {
    for (auto& mv : old) mv->scheduler->stop_and_join();
    old.clear();
    *finished = true;
  });
  reapers_.push_back({std::move(t), std::move(finished)});
}

void Repository::load_all() {
  if (!options_.single_model.empty()) {
    (void)load(options_.single_model);
    return;
  }
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code ec2;
    if (!e.is_directory(ec2)) continue;
    if (!valid_model_name(name)) {
      log_event("skipping '" + name + "': not a valid model name");
      continue;
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) (void)load(n);
}

Result<std::shared_ptr<ModelVersion>> Repository::find(const std::string& model, const std::string& version) const {
  if (!valid_model_name(model)) return invalid_argument("invalid model name");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) {
    if (exists_on_disk(model)) return Status(StatusCode::kUnavailable, "model '" + model + "' is not loaded");
    return not_found("unknown model '" + model + "'");
  }
  const Entry& e = it->second;
  if (e.versions.empty()) {
    return Status(StatusCode::kUnavailable, "model '" + model + "' is not ready: " + e.reason);
  }
  if (version.empty()) return e.versions.rbegin()->second;
  if (!all_digits(version)) return not_found("model '" + model + "' has no version '" + version + "'");
  auto v = e.versions.find(std::stoll(version));
  if (v == e.versions.end()) return not_found("model '" + model + "' has no version '" + version + "'");
  return v->second;
}

std::vector<std::shared_ptr<ModelVersion>> Repository::versions(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ModelVersion>> out;
  auto it = models_.find(model);
  if (it != models_.end()) {
    for (const auto& [v, mv] : it->second.versions) out.push_back(mv);
  }
  return out;
}

std::vector<Repository::IndexEntry> Repository::index() const {
  std::vector<IndexEntry> out;
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  std::map<std::string, bool> seen;
  for (const auto& [name, e] : models_) {
    seen[name] = true;
    if (e.versions.empty()) out.push_back({name, "", "UNAVAILABLE", e.reason});
    for (const auto& [v, mv] : e.versions) out.push_back({name, mv->version_str, "READY", ""});
  }
  // Models on disk that were never loaded (added after start).
  for (const auto& d : fs::directory_iterator(root_, ec)) {
    const std::string name = d.path().filename().string();
    std::error_code ec2;
    if (d.is_directory(ec2) && valid_model_name(name) && !seen.count(name)) {
      out.push_back({name, "", "UNAVAILABLE", "not loaded"});
    }
  }
  return out;
}

void Repository::stop_all() {
  std::vector<std::shared_ptr<ModelVersion>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, e] : models_) {
      for (auto& [v, mv] : e.versions) all.push_back(mv);
    }
  }
  for (auto& mv : all) mv->scheduler->stop_and_join();
  std::lock_guard<std::mutex> lock(reaper_mu_);
  for (auto& r : reapers_) {
    if (r.thread.joinable()) r.thread.join();
  }
  reapers_.clear();
}

}  // namespace tandem::serve
