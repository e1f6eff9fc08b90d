#include "core/runtime/tandem.h"

#include <cstddef>
#include <cstring>
#include <map>
#include <new>
#include <string>

#include "core/route/hybrid_session.h"
#include "core/runtime/session.h"

struct tandem_session {
  std::unique_ptr<tandem::Session> session;
  std::string placement;   // tandem_session_placement's result
  std::string model_info;  // tandem_session_model_info's result
};

struct tandem_tensor {
  tandem::Tensor tensor;
};

struct tandem_hybrid {
  std::unique_ptr<tandem::route::HybridSession> session;
  std::string reason;                  // tandem_hybrid_placement_reason's result
  std::string where, fallback_reason;  // the last run's report strings
};

namespace {

thread_local std::string g_last_error;

tandem_status fail(const tandem::Status& st) {
  g_last_error = st.to_string();
  return static_cast<tandem_status>(st.code());
}

tandem_status fail(tandem_status code, const std::string& message) {
  g_last_error = message;
  return code;
}

// Nothing may unwind into C callers.
template <typename Fn>
tandem_status guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return fail(TANDEM_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TANDEM_INTERNAL, e.what());
  }
}

tandem_status finish_load(tandem::Result<std::unique_ptr<tandem::Session>> r, tandem_session** out) {
  if (!r.is_ok()) return fail(r.status());
  *out = new tandem_session{std::move(r).value(), {}, {}};
  return TANDEM_OK;
}

tandem::SessionOptions to_session_options(const tandem_session_options* o) {
  tandem::SessionOptions options;
  if (o == nullptr) return options;
  // Read only the fields the caller's version of the struct has.
  const uint32_t size = o->struct_size;
  if (size >= offsetof(tandem_session_options, optimize) + sizeof(int32_t)) {
    options.threads = o->threads;
    options.optimize = o->optimize != 0;
  }
  if (size >= offsetof(tandem_session_options, memory_limit_bytes) + sizeof(uint64_t)) {
    options.memory_limit_bytes = o->memory_limit_bytes;
  }
  return options;
}

// Outputs to the caller (who frees each): all of them, or none and an error.
tandem_status hand_out(const tandem::NamedValues& values, tandem_tensor** outputs, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!values[i].second.is_tensor()) {
      return fail(TANDEM_UNSUPPORTED, "output " + std::to_string(i) + " is not a tensor");
    }
  }
  for (size_t i = 0; i < count; ++i) outputs[i] = new tandem_tensor{values[i].second.tensor()};
  return TANDEM_OK;
}

const tandem::ValueInfo* io_info(const tandem_session* s, int32_t is_output, size_t index) {
  if (s == nullptr) return nullptr;
  const auto& list = is_output ? s->session->outputs() : s->session->inputs();
  return index < list.size() ? &list[index] : nullptr;
}

const tandem::graph::Dim* io_dim(const tandem_session* s, int32_t is_output, size_t index, size_t axis) {
  const tandem::ValueInfo* info = io_info(s, is_output, index);
  if (info == nullptr || !info->type.has_shape || axis >= info->type.dims.size()) return nullptr;
  return &info->type.dims[axis];
}

// Producer names come from the file: no tab or newline may break the line format.
std::string one_field(std::string text) {
  for (char& c : text) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return text;
}
}  // namespace

extern "C" {

void tandem_session_options_init(tandem_session_options* o) {
  if (o == nullptr) return;
  *o = tandem_session_options{};
  o->struct_size = sizeof(tandem_session_options);
  o->optimize = 1;
}

tandem_status tandem_session_load_bytes_with(const void* data, size_t size, const tandem_session_options* options,
                                             tandem_session** out) {
  if (data == nullptr || out == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "data and out must not be null");
  return guarded([&] {
    return finish_load(tandem::Session::load(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size),
                                             to_session_options(options)),
                       out);
  });
}

tandem_status tandem_session_load_file_with(const char* path, const tandem_session_options* options,
                                            tandem_session** out) {
  if (path == nullptr || out == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "path and out must not be null");
  return guarded(
      [&] { return finish_load(tandem::Session::load(std::string(path), to_session_options(options)), out); });
}

int32_t tandem_session_io_dtype(const tandem_session* s, int32_t is_output, size_t index) {
  const tandem::ValueInfo* info = io_info(s, is_output, index);
  if (info == nullptr || info->type.kind != tandem::graph::TypeInfo::Kind::kTensor) return 0;
  return static_cast<int32_t>(info->type.dtype);
}

int32_t tandem_session_io_rank(const tandem_session* s, int32_t is_output, size_t index) {
  const tandem::ValueInfo* info = io_info(s, is_output, index);
  if (info == nullptr || !info->type.has_shape) return -1;
  return static_cast<int32_t>(info->type.dims.size());
}

int64_t tandem_session_io_dim(const tandem_session* s, int32_t is_output, size_t index, size_t axis) {
  const tandem::graph::Dim* d = io_dim(s, is_output, index, axis);
  return d != nullptr && d->known() ? d->value : -1;
}

const char* tandem_session_io_dim_name(const tandem_session* s, int32_t is_output, size_t index, size_t axis) {
  const tandem::graph::Dim* d = io_dim(s, is_output, index, axis);
  return d != nullptr ? d->symbol.c_str() : "";
}

const char* tandem_session_placement(tandem_session* s) {
  if (s == nullptr) return "";
  s->placement.clear();
  for (const std::string& line : s->session->placement()) s->placement += line + "\n";
  return s->placement.c_str();
}

const char* tandem_session_model_info(tandem_session* s) {
  if (s == nullptr) return "";
  const tandem::graph::Model& model = s->session->model();
  const tandem::graph::Graph& graph = s->session->graph();
  std::string& o = s->model_info;
  o = "ir_version\t" + std::to_string(model.ir_version) + "\n";
  o += "producer\t" + one_field(model.producer_name) + "\t" + one_field(model.producer_version) + "\n";
  for (const auto& [domain, version] : graph.opsets) {
    const std::string name = domain.empty() ? std::string("ai.onnx") : one_field(domain);
    o += "opset\t" + name + "\t" + std::to_string(version) + "\n";
  }
  std::map<std::string, int> ops;
  for (const auto& n : graph.nodes) ++ops[(n.domain.empty() ? "" : n.domain + ".") + n.op_type];
  o += "nodes\t" + std::to_string(graph.nodes.size()) + "\n";
  for (const auto& [op, count] : ops) o += "op\t" + one_field(op) + "\t" + std::to_string(count) + "\n";
  return o.c_str();
}

tandem_status tandem_session_memory_facts(tandem_session* s, const int64_t* dims, const size_t* ranks,
                                          size_t input_count, tandem_memory_facts* out) {
  if (s == nullptr || out == nullptr || (input_count > 0 && ranks == nullptr)) {
    return fail(TANDEM_INVALID_ARGUMENT, "session, ranks and out must not be null");
  }
  if (input_count != s->session->inputs().size()) {
    return fail(TANDEM_INVALID_ARGUMENT, "the model has " + std::to_string(s->session->inputs().size()) + " inputs");
  }
  return guarded([&] {
    std::map<std::string, tandem::Shape> shapes;
    size_t at = 0;
    for (size_t i = 0; i < input_count; ++i) {
      if (ranks[i] > 0 && dims == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "dims must not be null");
      shapes[s->session->inputs()[i].name] = tandem::Shape(dims + at, dims + at + ranks[i]);
      at += ranks[i];
    }
    auto facts = s->session->memory_facts(shapes);
    if (!facts.is_ok()) return fail(facts.status());
    *out = tandem_memory_facts{facts->weight_bytes, facts->arena_bytes, facts->input_bytes, facts->output_bytes,
                               facts->peak_bytes()};
    return TANDEM_OK;
  });
}

const char* tandem_last_error(void) { return g_last_error.c_str(); }

tandem_status tandem_session_load_file(const char* path, tandem_session** out) {
  if (path == nullptr || out == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "path and out must not be null");
  return guarded([&] { return finish_load(tandem::Session::load(std::string(path)), out); });
}

tandem_status tandem_session_load_bytes(const void* data, size_t size, tandem_session** out) {
  if (data == nullptr || out == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "data and out must not be null");
  return guarded([&] {
    return finish_load(tandem::Session::load(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size)), out);
  });
}

void tandem_session_free(tandem_session* session) { delete session; }

size_t tandem_session_input_count(const tandem_session* s) { return s ? s->session->inputs().size() : 0; }
size_t tandem_session_output_count(const tandem_session* s) { return s ? s->session->outputs().size() : 0; }
const char* tandem_session_input_name(const tandem_session* s, size_t i) {
  return s && i < s->session->inputs().size() ? s->session->inputs()[i].name.c_str() : nullptr;
}
const char* tandem_session_output_name(const tandem_session* s, size_t i) {
  return s && i < s->session->outputs().size() ? s->session->outputs()[i].name.c_str() : nullptr;
}

tandem_status tandem_tensor_create(int32_t dtype, const int64_t* shape, size_t rank, const void* data,
                                   size_t data_bytes, tandem_tensor** out) {
  if (out == nullptr || (rank > 0 && shape == nullptr)) return fail(TANDEM_INVALID_ARGUMENT, "null argument");
  if (!tandem::dtype_is_valid(dtype) || dtype == static_cast<int32_t>(tandem::DType::kString)) {
    return fail(TANDEM_UNSUPPORTED, "dtype " + std::to_string(dtype) + " is not supported by the C API");
  }
  return guarded([&] {
    tandem::Shape s(shape, shape + rank);
    auto t = tandem::Tensor::allocate(static_cast<tandem::DType>(dtype), s);
    if (!t.is_ok()) return fail(t.status());
    if (data_bytes != t->byte_size()) {
      return fail(TANDEM_INVALID_ARGUMENT, "data has " + std::to_string(data_bytes) + " bytes; shape " +
                                               tandem::shape_to_string(s) + " needs " + std::to_string(t->byte_size()));
    }
    if (data_bytes > 0) {
      if (data == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "data is null");
      std::memcpy(t->raw_data(), data, data_bytes);
    }
    *out = new tandem_tensor{std::move(t).value()};
    return TANDEM_OK;
  });
}

void tandem_tensor_free(tandem_tensor* t) { delete t; }
int32_t tandem_tensor_dtype(const tandem_tensor* t) { return t ? static_cast<int32_t>(t->tensor.dtype()) : 0; }
size_t tandem_tensor_rank(const tandem_tensor* t) { return t ? t->tensor.rank() : 0; }
const int64_t* tandem_tensor_shape(const tandem_tensor* t) { return t ? t->tensor.shape().data() : nullptr; }
const void* tandem_tensor_data(const tandem_tensor* t) { return t ? t->tensor.raw_data() : nullptr; }
size_t tandem_tensor_byte_size(const tandem_tensor* t) { return t ? t->tensor.byte_size() : 0; }

tandem_status tandem_session_run(tandem_session* s, const tandem_tensor* const* inputs, size_t input_count,
                                 tandem_tensor** outputs, size_t output_count) {
  if (s == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "session is null");
  if (input_count != s->session->inputs().size() || output_count != s->session->outputs().size()) {
    return fail(TANDEM_INVALID_ARGUMENT, "the model has " + std::to_string(s->session->inputs().size()) +
                                             " inputs and " + std::to_string(s->session->outputs().size()) +
                                             " outputs");
  }
  return guarded([&] {
    tandem::NamedValues feeds;
    for (size_t i = 0; i < input_count; ++i) {
      if (inputs[i] == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "input " + std::to_string(i) + " is null");
      feeds.emplace_back(s->session->inputs()[i].name, tandem::Value(inputs[i]->tensor));
    }
    auto r = s->session->run(feeds);
    if (!r.is_ok()) return fail(r.status());
    return hand_out(*r, outputs, output_count);
  });
}

}  // extern "C"

namespace {

tandem::route::Mode to_mode(int32_t m) {
  switch (m) {
    case TANDEM_LOCAL_ONLY:
      return tandem::route::Mode::kLocalOnly;
    case TANDEM_PREFER_REMOTE:
      return tandem::route::Mode::kPreferRemote;
    case TANDEM_REMOTE_ONLY:
      return tandem::route::Mode::kRemoteOnly;
    default:
      return tandem::route::Mode::kPreferLocal;
  }
}

// The C enums mirror the C++ ones value for value.
static_assert(static_cast<int>(tandem::route::RouteEvent::Kind::kPlaced) == TANDEM_ROUTE_PLACED &&
              static_cast<int>(tandem::route::RouteEvent::Kind::kFallback) == TANDEM_ROUTE_FALLBACK &&
              static_cast<int>(tandem::route::RouteEvent::Kind::kRan) == TANDEM_ROUTE_RAN);
static_assert(static_cast<int>(tandem::route::Side::kLocal) == TANDEM_SIDE_LOCAL &&
              static_cast<int>(tandem::route::Side::kRemote) == TANDEM_SIDE_REMOTE);

bool valid_mode(int32_t m) { return m >= TANDEM_PREFER_LOCAL && m <= TANDEM_REMOTE_ONLY; }
std::string str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

}  // namespace

extern "C" {

void tandem_hybrid_options_init(tandem_hybrid_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->mode = TANDEM_PREFER_LOCAL;
  o->binary = 1;
  o->retries = 2;
}

tandem_status tandem_hybrid_open(const char* path, const tandem_hybrid_options* o, tandem_hybrid** out) {
  if (out == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "out is null");
  *out = nullptr;
  tandem_hybrid_options defaults;
  tandem_hybrid_options_init(&defaults);
  if (o == nullptr) o = &defaults;
  if (o->struct_size < sizeof(tandem_hybrid_options)) {
    return fail(TANDEM_INVALID_ARGUMENT,
                "tandem_hybrid_options.struct_size is too small: fill it with "
                "tandem_hybrid_options_init");
  }
  if (!valid_mode(o->mode)) return fail(TANDEM_INVALID_ARGUMENT, "unknown placement mode " + std::to_string(o->mode));
  return guarded([&] {
    tandem::route::HybridOptions h;
    h.policy.mode = to_mode(o->mode);
    h.policy.privacy = o->privacy != 0;
    h.policy.memory_cap_bytes = o->memory_cap_bytes;
    h.local.threads = o->threads;
    h.deadline_ms = o->deadline_ms;
    if (o->on_route != nullptr) {
      h.on_route = [cb = o->on_route, user = o->on_route_user_data](const tandem::route::RouteEvent& e) {
        cb(user, static_cast<int32_t>(e.kind), static_cast<int32_t>(e.side), e.reason.c_str());
      };
    }
    if (!str(o->remote_url).empty()) {
      tandem::route::RemoteOptions r;
      r.url = str(o->remote_url);
      r.model = str(o->remote_model);
      r.version = str(o->remote_version);
      r.api_key = str(o->api_key);
      r.ca_file = str(o->ca_file);
      r.binary = o->binary != 0;
      r.retries = o->retries;
      auto remote = tandem::route::connect_remote(r);
      if (!remote.is_ok()) return fail(remote.status());
      h.remote = *remote;
    }
    auto s = tandem::route::HybridSession::open(str(path), std::move(h));
    if (!s.is_ok()) return fail(s.status());
    *out = new tandem_hybrid{std::move(s).value(), {}, {}, {}};
    return TANDEM_OK;
  });
}

void tandem_hybrid_free(tandem_hybrid* h) { delete h; }

int32_t tandem_hybrid_placement_side(tandem_hybrid* h) {
  return h ? static_cast<int32_t>(h->session->placement().primary) : TANDEM_SIDE_NONE;
}

const char* tandem_hybrid_placement_reason(tandem_hybrid* h) {
  if (h == nullptr) return "";
  h->reason = h->session->placement().reason;
  return h->reason.c_str();
}

size_t tandem_hybrid_input_count(const tandem_hybrid* h) { return h ? h->session->inputs().size() : 0; }
size_t tandem_hybrid_output_count(const tandem_hybrid* h) { return h ? h->session->outputs().size() : 0; }
const char* tandem_hybrid_input_name(const tandem_hybrid* h, size_t i) {
  return h && i < h->session->inputs().size() ? h->session->inputs()[i].name.c_str() : nullptr;
}
const char* tandem_hybrid_output_name(const tandem_hybrid* h, size_t i) {
  return h && i < h->session->outputs().size() ? h->session->outputs()[i].name.c_str() : nullptr;
}

tandem_status tandem_hybrid_run(tandem_hybrid* h, int32_t mode, int32_t deadline_ms, const tandem_tensor* const* inputs,
                                size_t input_count, tandem_tensor** outputs, size_t output_count,
                                tandem_run_report* report) {
  if (h == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "hybrid session is null");
  if (mode != -1 && !valid_mode(mode))
    return fail(TANDEM_INVALID_ARGUMENT, "unknown placement mode " + std::to_string(mode));
  if (report != nullptr && report->struct_size < sizeof(tandem_run_report)) {
    return fail(TANDEM_INVALID_ARGUMENT, "tandem_run_report.struct_size must be sizeof(tandem_run_report)");
  }
  const auto& ins = h->session->inputs();
  const auto& outs = h->session->outputs();
  if (input_count != ins.size() || output_count != outs.size()) {
    return fail(TANDEM_INVALID_ARGUMENT, "the model has " + std::to_string(ins.size()) + " inputs and " +
                                             std::to_string(outs.size()) + " outputs");
  }
  return guarded([&] {
    tandem::NamedValues feeds;
    for (size_t i = 0; i < input_count; ++i) {
      if (inputs[i] == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "input " + std::to_string(i) + " is null");
      feeds.emplace_back(ins[i].name, tandem::Value(inputs[i]->tensor));
    }
    tandem::route::RunOptions ro;
    if (mode != -1) ro.mode = to_mode(mode);
    ro.deadline_ms = deadline_ms;
    tandem::route::RunReport rr;
    auto r = h->session->run(feeds, ro, &rr);
    if (report != nullptr) {
      h->where = rr.where;
      h->fallback_reason = rr.fallback_reason;
      report->ran_on = static_cast<int32_t>(rr.ran_on);
      report->fell_back = rr.fell_back ? 1 : 0;
      report->remote_attempts = rr.remote_attempts;
      report->total_ms = rr.total_ms;
      report->compute_ms = rr.compute_ms;
      report->queue_ms = rr.queue_ms;
      report->network_ms = rr.network_ms;
      report->where = h->where.c_str();
      report->fallback_reason = h->fallback_reason.c_str();
    }
    if (!r.is_ok()) return fail(r.status());
    return hand_out(*r, outputs, output_count);
  });
}

tandem_status tandem_route_decide(const tandem_route_facts* f, tandem_route_decision* out) {
  if (f == nullptr || out == nullptr) return fail(TANDEM_INVALID_ARGUMENT, "facts and out must not be null");
  if (f->struct_size < sizeof(tandem_route_facts)) {
    return fail(TANDEM_INVALID_ARGUMENT, "tandem_route_facts.struct_size must be sizeof(tandem_route_facts)");
  }
  if (!valid_mode(f->mode)) return fail(TANDEM_INVALID_ARGUMENT, "unknown placement mode " + std::to_string(f->mode));
  return guarded([&] {
    tandem::route::ModelFacts m;
    m.local_copy = f->local_copy != 0;
    m.download_bytes = f->download_bytes;
    m.planned = f->planned != 0;
    m.weight_bytes = f->weight_bytes;
    m.arena_bytes = f->arena_bytes;
    m.io_bytes = f->io_bytes;
    m.flops = f->flops;
    m.local_failure = str(f->local_failure);
    tandem::route::Policy p;
    p.mode = to_mode(f->mode);
    p.privacy = f->privacy != 0;
    p.memory_cap_bytes = f->memory_cap_bytes;
    p.max_local_flops = f->max_local_flops;
    const tandem::route::RemoteHealth h{f->remote_configured != 0, f->remote_available != 0, str(f->remote_reason)};
    const tandem::route::Placement d = tandem::route::decide(m, {f->available_bytes, str(f->budget_source)}, p, h);
    thread_local std::string reason;
    reason = d.reason;
    out->primary = static_cast<int32_t>(d.primary);
    out->fallback = static_cast<int32_t>(d.fallback);
    out->needed_bytes = d.needed_bytes;
    out->budget_bytes = d.budget_bytes;
    out->reason = reason.c_str();
    return TANDEM_OK;
  });
}

}  // extern "C"
