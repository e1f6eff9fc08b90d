#include "native/serve/oip.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "backends/remote/json.h"
#include "backends/remote/oip_codec.h"

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "0.0.0"
#endif

namespace tandem::serve {
// The OIP v2 wire format, shared with the remote client (backends/remote).
using namespace ::tandem::oip;  // NOLINT(google-build-using-namespace)
namespace {

HttpResponse error_response(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\": \"" + json_escape(message) + "\"}";
  return r;
}

HttpResponse json_response(int status, rapidjson::StringBuffer& sb) {
  HttpResponse r;
  r.status = status;
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

// Status codes from the core to HTTP: the caller's fault is 4xx, the server's 5xx.
int http_status(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kOutOfMemory:
      return 413;
    default:
      return 500;
  }
}

HttpResponse status_response(const Status& st) {
  HttpResponse r = error_response(http_status(st), st.message());
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

void write_string(JsonWriter& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_tensor_meta(JsonWriter& w, const ValueInfo& v) {
  w.StartObject();
  w.Key("name");
  write_string(w, v.name);
  w.Key("datatype");
  const char* dt = oip_datatype(v.type.dtype);
  w.String(dt != nullptr ? dt : "");
  w.Key("shape");
  w.StartArray();
  if (v.type.has_shape) {
    for (const auto& d : v.type.dims) w.Int64(d.known() ? d.value : -1);  // -1: symbolic or unknown
  }
  w.EndArray();
  w.EndObject();
}

void write_duration(JsonWriter& w, const char* key, const Duration& d) {
  w.Key(key);
  w.StartObject();
  w.Key("count");
  w.Uint64(d.count);
  w.Key("ns");
  w.Uint64(d.ns);
  w.EndObject();
}

// Whole number from a header or parameter; false if not one in [0, max].
bool parse_u64(const std::string& s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const uint64_t v = std::strtoull(s.c_str(), nullptr, 10);
  if (v > max) return false;
  *out = v;
  return true;
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool bool_param(const rapidjson::Value& obj, const char* key, bool fallback) {
  const rapidjson::Value* params = member(obj, "parameters");
  const rapidjson::Value* v = params != nullptr ? member(*params, key) : nullptr;
  return v != nullptr && v->IsBool() ? v->GetBool() : fallback;
}

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferContext {
  std::string model, version, id;
  std::vector<RequestedOutput> outputs;  // in answer order
  Clock::time_point received;
};

HttpResponse encode_outputs(const InferContext& ctx, const NamedValues& values) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  std::string binary;
  w.StartObject();
  w.Key("model_name");
  write_string(w, ctx.model);
  w.Key("model_version");
  write_string(w, ctx.version);
  if (!ctx.id.empty()) {
    w.Key("id");
    write_string(w, ctx.id);
  }
  w.Key("outputs");
  w.StartArray();
  for (const RequestedOutput& o : ctx.outputs) {
    auto it = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == o.name; });
    if (it == values.end() || !it->second.is_tensor()) {
      return error_response(500, "output '" + o.name + "' was not produced as a tensor");
    }
    const Tensor& t = it->second.tensor();
    const char* dt = oip_datatype(t.dtype());
    if (dt == nullptr) return error_response(500, "output '" + o.name + "' has a datatype OIP cannot carry");
    w.StartObject();
    w.Key("name");
    write_string(w, o.name);
    w.Key("datatype");
    w.String(dt);
    w.Key("shape");
    w.StartArray();
    for (int64_t d : t.shape()) w.Int64(d);
    w.EndArray();
    if (o.binary) {
      const std::string bytes = to_binary(t);
      w.Key("parameters");
      w.StartObject();
      w.Key("binary_data_size");
      w.Uint64(bytes.size());
      w.EndObject();
      binary += bytes;
    } else {
      w.Key("data");
      write_json_data(t, w);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  HttpResponse r;
  r.body.assign(sb.GetString(), sb.GetSize());
  if (!binary.empty() || std::any_of(ctx.outputs.begin(), ctx.outputs.end(), [](const auto& o) { return o.binary; })) {
    r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(r.body.size()));
    r.content_type = "application/octet-stream";
    r.body += binary;
  }
  return r;
}

// Splits "/v2/models/a%2Fb/infer" into decoded segments; false on a bad escape.
bool split_path(const std::string& path, std::vector<std::string>* segs) {
  size_t pos = 0;
  while (pos < path.size()) {
    if (path[pos] == '/') {
      ++pos;
      continue;
    }
    const size_t end = std::min(path.find('/', pos), path.size());
    std::string decoded;
    if (!percent_decode(std::string_view(path).substr(pos, end - pos), &decoded)) return false;
    segs->push_back(std::move(decoded));
    pos = end;
  }
  return true;
}

}  // namespace

Status check_input(const ModelVersion& mv, const std::string& name, std::string_view datatype, DType* dtype) {
  auto decl = std::find_if(mv.inputs.begin(), mv.inputs.end(), [&](const ValueInfo& v) { return v.name == name; });
  if (decl == mv.inputs.end()) {
    std::string names;
    for (const auto& v : mv.inputs) names += (names.empty() ? "'" : ", '") + v.name + "'";
    return invalid_argument("model '" + mv.model + "' has no input '" + name + "'; its inputs are " + names);
  }
  const auto dt = dtype_from_oip(datatype);
  if (!dt) return invalid_argument("input '" + name + "': unknown datatype '" + std::string(datatype) + "'");
  if (decl->type.dtype != DType::kUndefined && *dt != decl->type.dtype) {
    const char* want = oip_datatype(decl->type.dtype);
    return invalid_argument("input '" + name + "' expects datatype " + (want ? want : dtype_name(decl->type.dtype)) +
                            ", got " + std::string(datatype));
  }
  *dtype = *dt;
  return Status::ok();
}

Status check_input_shape(const ModelVersion& mv, const std::string& name, const Shape& shape) {
  auto decl = std::find_if(mv.inputs.begin(), mv.inputs.end(), [&](const ValueInfo& v) { return v.name == name; });
  if (decl == mv.inputs.end() || !decl->type.has_shape) return Status::ok();
  bool ok = shape.size() == decl->type.dims.size();
  for (size_t d = 0; ok && d < shape.size(); ++d) {
    ok = !decl->type.dims[d].known() || decl->type.dims[d].value == shape[d];
  }
  if (ok) return Status::ok();
  return invalid_argument("input '" + name + "' expects shape " + decl->type.to_string() + ", got " +
                          shape_to_string(shape));
}

void OipService::handle(HttpRequest&& req, Responder respond) {
  std::string request_id;
  if (const std::string* h = req.header("x-request-id"); h != nullptr && !h->empty() && h->size() <= 128) {
    request_id = *h;
  } else {
    request_id = "req-" + std::to_string(next_request_++);
  }
  Responder reply = [respond = std::move(respond), request_id](HttpResponse r) {
    if (r.request_id.empty()) r.request_id = request_id;
    respond(std::move(r));
  };
  try {
    route(req, reply);
  } catch (const std::exception& e) {
    // Only reached before a request is queued (parsing); the queued path answers from the job.
    reply(error_response(500, std::string("internal error: ") + e.what()));
  }
}

void OipService::handle_metrics_port(HttpRequest&& req, Responder respond) {
  if (req.path != "/metrics") return respond(error_response(404, "this port serves only GET /metrics"));
  if (req.method != "GET") {
    HttpResponse r = error_response(405, "use GET for /metrics");
    r.headers.emplace_back("Allow", "GET");
    return respond(std::move(r));
  }
  respond({200, "text/plain; version=0.0.4", {}, metrics_->prometheus(), ""});
}

void OipService::route(HttpRequest& req, const Responder& reply) {
  std::vector<std::string> segs;
  if (!split_path(req.path, &segs)) return reply(error_response(400, "malformed percent-escape in the path"));
  for (const std::string& s : segs) {
    if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return reply(error_response(400, "control characters in the path"));
    }
  }
  const std::string& method = req.method;
  auto only = [&](const char* allowed) {
    if (method == allowed) return true;
    HttpResponse r = error_response(405, "use " + std::string(allowed) + " for " + req.path);
    r.headers.emplace_back("Allow", allowed);
    reply(std::move(r));
    return false;
  };
  const size_t n = segs.size();
  // Health stays open without a key: load balancers and kubelets probe it.
  if (n == 3 && segs[0] == "v2" && segs[1] == "health" && (segs[2] == "live" || segs[2] == "ready")) {
    if (!only("GET")) return;
    if (segs[2] == "live") return reply({200, "application/json", {}, "{\"live\": true}", ""});
    if (!ready_.load()) return reply({503, "application/json", {}, "{\"ready\": false}", ""});
    const std::string why = repository_->not_ready_reason();
    if (why.empty()) return reply({200, "application/json", {}, "{\"ready\": true}", ""});
    return reply({503, "application/json", {}, "{\"ready\": false, \"reason\": \"" + json_escape(why) + "\"}", ""});
  }
  if (!auth_->allows(req.header("authorization"))) {
    HttpResponse r = error_response(401, "missing or invalid API key (Authorization: Bearer <key>)");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tandem\"");
    return reply(std::move(r));
  }
  if (n == 1 && segs[0] == "metrics") {
    if (!only("GET")) return;
    return reply({200, "text/plain; version=0.0.4", {}, metrics_->prometheus(), ""});
  }
  if (n == 0 || segs[0] != "v2") return reply(error_response(404, "no route " + req.path));
  if (n == 1) {
    if (!only("GET")) return;
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("name");
    w.String("tandem");
    w.Key("version");
    w.String(TANDEM_VERSION);
    w.Key("extensions");
    w.StartArray();
    for (const char* e : {"binary_tensor_data", "model_repository", "statistics"}) w.String(e);
    w.EndArray();
    w.EndObject();
    return reply(json_response(200, sb));
  }

  if (segs[1] == "repository") {
    if (n == 3 && segs[2] == "index") {
      if (!only("POST")) return;
      bool ready_only = false;
      if (!req.body.empty()) {
        rapidjson::Document doc;
        doc.Parse<kJsonParseFlags>(req.body.data(), req.body.size());
        if (doc.HasParseError() || !doc.IsObject())
          return reply(error_response(400, "index body must be a JSON object"));
        const rapidjson::Value* r = member(doc, "ready");
        ready_only = r != nullptr && r->IsBool() && r->GetBool();
      }
      rapidjson::StringBuffer sb;
      JsonWriter w(sb);
      w.StartArray();
      for (const auto& e : repository_->index()) {
        if (ready_only && e.state != "READY") continue;
        w.StartObject();
        w.Key("name");
        write_string(w, e.name);
        if (!e.version.empty()) {
          w.Key("version");
          write_string(w, e.version);
        }
        w.Key("state");
        write_string(w, e.state);
        w.Key("reason");
        write_string(w, e.reason);
        w.EndObject();
      }
      w.EndArray();
      return reply(json_response(200, sb));
    }
    if (n == 5 && segs[2] == "models" && (segs[4] == "load" || segs[4] == "unload")) {
      if (!only("POST")) return;
      if (!valid_model_name(segs[3])) return reply(error_response(400, "invalid model name"));
      const Status st = segs[4] == "load" ? repository_->load(segs[3]) : repository_->unload(segs[3]);
      if (!st.is_ok()) {
        const int code = st.code() == StatusCode::kNotFound ? 404 : st.code() == StatusCode::kInternal ? 500 : 400;
        return reply(error_response(code, st.message()));
      }
      return reply({200, "application/json", {}, "{}", ""});
    }
    return reply(error_response(404, "no route " + req.path));
  }

  if (segs[1] != "models" || n < 3) return reply(error_response(404, "no route " + req.path));
  const bool all_stats = n == 3 && segs[2] == "stats";
  std::string model, version;
  size_t rest = 3;
  if (!all_stats) {
    model = segs[2];
    if (!valid_model_name(model)) return reply(error_response(400, "invalid model name"));
    if (n >= 5 && segs[3] == "versions") {
      version = segs[4];
      rest = 5;
    }
  }
  const std::string action = all_stats ? "stats" : n == rest ? "" : n == rest + 1 ? segs[rest] : "?";

  if (action == "stats") {
    if (!only("GET")) return;
    if (!all_stats) {
      auto found = repository_->find(model, version);
      if (!found.is_ok() && found.status().code() != StatusCode::kUnavailable)
        return reply(status_response(found.status()));
    }
    auto snapshot = metrics_->snapshot();
    if (!all_stats) {
      // Loaded versions that have not served yet report zeros rather than nothing.
      for (const auto& v : repository_->versions(model)) snapshot.try_emplace({model, v->version_str});
    }
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("model_stats");
    w.StartArray();
    for (const auto& [key, s] : snapshot) {
      if (!all_stats && (key.first != model || (!version.empty() && key.second != version))) continue;
      w.StartObject();
      w.Key("name");
      write_string(w, key.first);
      w.Key("version");
      write_string(w, key.second);
      w.Key("last_inference");
      w.Uint64(s.last_inference_ms);
      w.Key("inference_count");
      w.Uint64(s.inference_count);
      w.Key("execution_count");
      w.Uint64(s.execution_count);
      w.Key("inference_stats");
      w.StartObject();
      write_duration(w, "success", s.success);
      write_duration(w, "fail", s.fail);
      write_duration(w, "queue", s.queue);
      write_duration(w, "compute_infer", s.compute);
      w.EndObject();
      w.Key("batch_stats");
      w.StartArray();
      for (const auto& [size, d] : s.batches) {
        w.StartObject();
        w.Key("batch_size");
        w.Int64(size);
        write_duration(w, "compute_infer", d);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return reply(json_response(200, sb));
  }

  if (action == "infer") {
    if (!only("POST")) return;
    return infer(req, model, version, reply);
  }
  if (action == "ready") {
    if (!only("GET")) return;
    auto found = repository_->find(model, version);
    if (!found.is_ok()) return reply(status_response(found.status()));
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("name");
    write_string(w, model);
    w.Key("ready");
    w.Bool(true);
    w.EndObject();
    return reply(json_response(200, sb));
  }
  if (action.empty()) {
    if (!only("GET")) return;
    auto found = repository_->find(model, version);
    if (!found.is_ok()) return reply(status_response(found.status()));
    const ModelVersion& mv = **found;
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("name");
    write_string(w, model);
    w.Key("versions");
    w.StartArray();
    if (!version.empty()) {
      write_string(w, mv.version_str);
    } else {
      for (const auto& v : repository_->versions(model)) write_string(w, v->version_str);
    }
    w.EndArray();
    w.Key("platform");
    w.String("onnx");
    w.Key("inputs");
    w.StartArray();
    for (const auto& v : mv.inputs) write_tensor_meta(w, v);
    w.EndArray();
    w.Key("outputs");
    w.StartArray();
    for (const auto& v : mv.outputs) write_tensor_meta(w, v);
    w.EndArray();
    w.EndObject();
    return reply(json_response(200, sb));
  }
  return reply(error_response(404, "no route " + req.path));
}

void OipService::infer(HttpRequest& req, const std::string& model, const std::string& version, const Responder& reply) {
  const Clock::time_point received = Clock::now();
  auto found = repository_->find(model, version);
  if (!found.is_ok()) return reply(status_response(found.status()));
  std::shared_ptr<ModelVersion> mv = std::move(found).value();
  Metrics* metrics = metrics_;
  const std::string vs = mv->version_str;
  auto fail = [&](int status, const std::string& message) {
    metrics->record_request(model, vs, false, 0, 0, 0);
    reply(error_response(status, message));
  };

  // Binary tensor data extension: the JSON header comes first, its length in this header.
  size_t json_len = req.body.size();
  if (const std::string* h = req.header("inference-header-content-length"); h != nullptr) {
    uint64_t v = 0;
    if (!parse_u64(*h, req.body.size(), &v)) {
      return fail(400, "Inference-Header-Content-Length must be a whole number no larger than the body (" +
                           std::to_string(req.body.size()) + " bytes)");
    }
    json_len = static_cast<size_t>(v);
  }
  const std::string_view binary = std::string_view(req.body).substr(json_len);
  rapidjson::Document doc;
  doc.Parse<kJsonParseFlags>(req.body.data(), json_len);
  if (doc.HasParseError()) {
    return fail(400, std::string("malformed JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                         " at offset " + std::to_string(doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return fail(400, "the request must be a JSON object");

  InferContext ctx;
  ctx.model = model;
  ctx.version = vs;
  ctx.received = received;
  if (const rapidjson::Value* id = member(doc, "id"); id != nullptr) {
    if (!id->IsString()) return fail(400, "\"id\" must be a string");
    ctx.id.assign(id->GetString(), id->GetStringLength());
  }

  const rapidjson::Value* inputs = member(doc, "inputs");
  if (inputs == nullptr || !inputs->IsArray()) return fail(400, "\"inputs\" must be an array");
  NamedValues feeds;
  size_t offset = 0;
  std::set<std::string> seen;
  for (const auto& in : inputs->GetArray()) {
    const rapidjson::Value* name = member(in, "name");
    const rapidjson::Value* datatype = member(in, "datatype");
    const rapidjson::Value* shape = member(in, "shape");
    if (name == nullptr || !name->IsString() || datatype == nullptr || !datatype->IsString() || shape == nullptr) {
      return fail(400, "each input needs \"name\", \"datatype\" and \"shape\"");
    }
    const std::string n(name->GetString(), name->GetStringLength());
    if (!seen.insert(n).second) return fail(400, "input '" + n + "' is given twice");
    DType dtype_value = DType::kUndefined;
    const Status checked =
        check_input(*mv, n, std::string_view(datatype->GetString(), datatype->GetStringLength()), &dtype_value);
    if (!checked.is_ok()) return fail(400, checked.message());
    const std::optional<DType> dtype = dtype_value;
    auto s = shape_from_json(*shape);
    if (!s.is_ok()) return fail(400, "input '" + n + "': " + s.status().message());
    if (const Status sh = check_input_shape(*mv, n, *s); !sh.is_ok()) return fail(400, sh.message());
    Result<Tensor> t = internal_error("unset");
    const rapidjson::Value* params = member(in, "parameters");
    const rapidjson::Value* bsize = params != nullptr ? member(*params, "binary_data_size") : nullptr;
    if (bsize != nullptr) {
      if (!bsize->IsUint64()) return fail(400, "input '" + n + "': binary_data_size must be a whole number");
      const uint64_t size = bsize->GetUint64();
      if (size > binary.size() - offset) {
        return fail(400, "input '" + n + "': binary_data_size " + std::to_string(size) + " runs past the " +
                             std::to_string(binary.size()) + " bytes of binary data");
      }
      t = tensor_from_binary(*dtype, *s, binary.substr(offset, static_cast<size_t>(size)));
      offset += static_cast<size_t>(size);
    } else {
      const rapidjson::Value* data = member(in, "data");
      if (data == nullptr) return fail(400, "input '" + n + "' has neither \"data\" nor binary_data_size");
      t = tensor_from_json(*dtype, *s, *data);
    }
    if (!t.is_ok()) return fail(http_status(t.status()), "input '" + n + "': " + t.status().message());
    feeds.emplace_back(n, Value(std::move(t).value()));
  }
  if (offset != binary.size()) {
    return fail(400, std::to_string(binary.size() - offset) + " bytes of binary data are not claimed by any input");
  }
  for (const auto& v : mv->inputs) {
    if (!seen.count(v.name)) return fail(400, "input '" + v.name + "' is missing");
  }

  const bool binary_default = bool_param(doc, "binary_data_output", false);
  if (const rapidjson::Value* outputs = member(doc, "outputs"); outputs != nullptr) {
    if (!outputs->IsArray()) return fail(400, "\"outputs\" must be an array");
    for (const auto& o : outputs->GetArray()) {
      const rapidjson::Value* name = member(o, "name");
      if (name == nullptr || !name->IsString()) return fail(400, "each requested output needs a \"name\"");
      const std::string n(name->GetString(), name->GetStringLength());
      if (std::none_of(mv->outputs.begin(), mv->outputs.end(), [&](const ValueInfo& v) { return v.name == n; })) {
        return fail(400, "model '" + model + "' has no output '" + n + "'");
      }
      ctx.outputs.push_back({n, bool_param(o, "binary_data", binary_default)});
    }
  } else {
    for (const auto& v : mv->outputs) ctx.outputs.push_back({v.name, binary_default});
  }

  // Deadline: "parameters": {"timeout_ms": N}, Triton's {"timeout": N} in microseconds (what
  // tritonclient's infer(timeout=...) sends), or the Inference-Timeout-Ms header.
  Job job;
  job.enqueued = Clock::now();
  std::optional<std::chrono::microseconds> timeout;
  constexpr uint64_t kMaxTimeoutMs = std::chrono::milliseconds(kMaxQueueDeadline).count();
  if (const rapidjson::Value* params = member(doc, "parameters"); params != nullptr) {
    if (const rapidjson::Value* t = member(*params, "timeout_ms"); t != nullptr) {
      if (!t->IsUint64()) return fail(400, "parameters.timeout_ms must be a whole number");
      timeout = std::chrono::milliseconds(std::min<uint64_t>(t->GetUint64(), kMaxTimeoutMs));
    } else if (const rapidjson::Value* us = member(*params, "timeout"); us != nullptr) {
      if (!us->IsUint64()) return fail(400, "parameters.timeout (microseconds) must be a whole number");
      timeout = std::chrono::microseconds(std::min<uint64_t>(us->GetUint64(), kMaxTimeoutMs * 1000));
    }
  }
  if (const std::string* h = req.header("inference-timeout-ms"); h != nullptr && !timeout) {
    uint64_t ms = 0;
    if (!parse_u64(*h, kMaxTimeoutMs, &ms)) return fail(400, "Inference-Timeout-Ms must be a whole number");
    timeout = std::chrono::milliseconds(ms);
  }
  if (timeout) job.deadline = job.enqueued + *timeout;

  job.feeds = std::move(feeds);
  // The callback owns copies of what it needs, never the ModelVersion (see Job::done).
  auto shared_ctx = std::make_shared<InferContext>(std::move(ctx));
  job.done = [shared_ctx, metrics, reply](JobResult r) {
    const InferContext& c = *shared_ctx;
    const uint64_t total_ns =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - c.received).count());
    HttpResponse resp;
    try {
      if (r.outcome == JobOutcome::kDeadline) {
        resp = error_response(504, r.outputs.status().message());
      } else if (!r.outputs.is_ok()) {
        resp = status_response(r.outputs.status());
      } else {
        resp = encode_outputs(c, *r.outputs);
        // W3C Server-Timing: the client splits its latency into queue, compute and the network.
        char timing[96];
        std::snprintf(timing, sizeof timing, "queue;dur=%.3f, compute;dur=%.3f", static_cast<double>(r.queue_ns) / 1e6,
                      static_cast<double>(r.compute_ns) / 1e6);
        resp.headers.emplace_back("Server-Timing", timing);
      }
    } catch (const std::exception& e) {
      resp = error_response(500, std::string("encoding the response failed: ") + e.what());
    }
    metrics->record_request(c.model, c.version, resp.status == 200, total_ns, r.queue_ns, r.compute_ns);
    if (!c.id.empty()) resp.request_id = c.id;
    reply(std::move(resp));
  };
  Status st = mv->scheduler->submit(std::move(job));
  if (!st.is_ok() && mv->scheduler->stopping()) {
    // Reloaded between our lookup and now: the new instance takes the request (no 503 on reload).
    auto again = repository_->find(model, version);
    if (again.is_ok() && *again != mv) st = (*again)->scheduler->submit(std::move(job));
  }
  if (!st.is_ok()) {
    metrics->record_request(model, vs, false, 0, 0, 0);
    HttpResponse r = error_response(503, st.message());
    r.headers.emplace_back("Retry-After", "1");
    return reply(std::move(r));
  }
}

}  // namespace tandem::serve
