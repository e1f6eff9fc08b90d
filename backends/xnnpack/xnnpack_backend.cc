#include "backends/xnnpack/xnnpack_backend.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "backends/xnnpack/lower.h"
#include "core/plan/partition.h"

namespace tandem::xnnpack {
namespace {

bool xnnpack_ready() {
  static const bool ok = xnn_initialize(nullptr) == xnn_status_success;
  return ok;
}

// TANDEM_XNNPACK_STRICT=1: a partition XNNPACK cannot lower is an error instead
// of running on the fallback backend (tests use it to prove claimed ops run here).
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] == '1';
}
bool strict_mode() { return env_flag("TANDEM_XNNPACK_STRICT"); }
// TANDEM_XNNPACK_PROFILE=1: print each XNNPACK operator's time after every run (stderr).
bool profile_mode() { return env_flag("TANDEM_XNNPACK_PROFILE"); }

void print_profile(xnn_runtime_t rt) {
  size_t count = 0, size = 0;
  if (xnn_get_runtime_profiling_info(rt, xnn_profile_info_num_operators, sizeof(count), &count, &size) !=
      xnn_status_success) {
    return;
  }
  std::vector<char> names;
  xnn_get_runtime_profiling_info(rt, xnn_profile_info_operator_name, 0, nullptr, &size);
  names.resize(size);
  std::vector<uint64_t> times(count);
  if (xnn_get_runtime_profiling_info(rt, xnn_profile_info_operator_name, names.size(), names.data(), &size) !=
          xnn_status_success ||
      xnn_get_runtime_profiling_info(rt, xnn_profile_info_operator_timing, times.size() * sizeof(uint64_t),
                                     times.data(), &size) != xnn_status_success) {
    return;
  }
  const char* name = names.data();
  for (size_t i = 0; i < count; ++i, name += std::strlen(name) + 1) {
    std::fprintf(stderr, "xnnpack %3zu %-40s %8.3f ms\n", i, name, static_cast<double>(times[i]) / 1000.0);
  }
}

// The thread pool for a session asking for `threads` (> 1). Natively each session has its own.
// The pthreads wasm build has one fixed pool of Web Workers for the whole module: a second live
// session's pool would wait forever for a worker the module does not have (a real hang, seen with
// two multi-threaded sessions in one page), so there every session shares one pool, sized by the
// first; pthreadpool serialises parallel calls on it.
pthreadpool_t acquire_pool(size_t threads, bool* owned) {
#if defined(__EMSCRIPTEN_PTHREADS__)
  static const pthreadpool_t shared = pthreadpool_create(threads);
  *owned = false;
  return shared;
#else
  *owned = true;
  return pthreadpool_create(threads);
#endif
}

// What the XNNPACK partitions of one session share: the thread pool and the
// packed-weights cache. Every shape specialisation of the session packs its
// weights through the same cache, so a new input shape finds the weights
// already packed instead of holding a second copy.
class SessionContext {
 public:
  // `weight_bytes` sizes the cache up front: growing it later copies every packed weight.
  SessionContext(size_t threads, size_t weight_bytes) : pool_(threads > 1 ? acquire_pool(threads, &owns_pool_) : nullptr) {
    const size_t size = weight_bytes + weight_bytes / 8 + (size_t{1} << 20);
    if (xnn_create_weights_cache_with_size(size, &cache_) != xnn_status_success) cache_ = nullptr;
  }
  ~SessionContext() {
    if (cache_ != nullptr) xnn_delete_weights_cache(cache_);
    if (pool_ != nullptr && owns_pool_) pthreadpool_destroy(pool_);
  }
  SessionContext(const SessionContext&) = delete;
  SessionContext& operator=(const SessionContext&) = delete;

  pthreadpool_t pool() const { return pool_; }
  ConstantStore& constants() { return constants_; }
  xnn_weights_cache_t cache() const { return cache_; }
  bool cache_finalized() const { return finalized_; }
  // XNNPACK needs the cache finalized before a runtime runs. Soft finalization
  // still lets later runtimes look their weights up (and reuse them).
  Status finalize_cache() {
    if (finalized_ || cache_ == nullptr) return Status::ok();
    const xnn_status s = xnn_finalize_weights_cache(cache_, xnn_weights_cache_finalization_kind_soft);
    if (s != xnn_status_success) return internal_error("XNNPACK could not finalize its weights cache (" + status_name(s) + ")");
    finalized_ = true;
    return Status::ok();
  }

 private:
  bool owns_pool_ = false;  // declared before pool_: acquire_pool sets it while pool_ is made
  pthreadpool_t pool_;
  xnn_weights_cache_t cache_ = nullptr;
  bool finalized_ = false;
  ConstantStore constants_;  // transformed weights, shared by every shape's runtimes
};

std::shared_ptr<SessionContext> session_context(const graph::Graph& g, const CompileOptions& options) {
  size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  size_t weight_bytes = 0;
  for (const graph::ValueEntry& v : g.values) {
    if (v.constant && v.constant->dtype() == DType::kFloat32) weight_bytes += v.constant->byte_size();
  }
  if (options.session_state == nullptr) return std::make_shared<SessionContext>(threads, weight_bytes);
  auto [it, inserted] = options.session_state->try_emplace("xnnpack");
  if (inserted) it->second = std::make_shared<SessionContext>(threads, weight_bytes);
  return std::static_pointer_cast<SessionContext>(it->second);
}

// A runtime for one set of input shapes (or the decision to use the fallback).
struct Compiled {
  xnn_runtime_t runtime = nullptr;
  plan::Boundary boundary;
  std::vector<Tensor> pinned;  // constants the runtime reads in place
  Status lowering = Status::ok();
  bool reshaped = false;
  Compiled() = default;
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  ~Compiled() {
    if (runtime != nullptr) xnn_delete_runtime(runtime);
  }
};

struct SubgraphDeleter {
  void operator()(xnn_subgraph* s) const { xnn_delete_subgraph(s); }
};

// Builds the XNNPACK runtime for one partition of a shape-specialised graph.
// A lowering XNNPACK rejects is recorded (kUnsupported) for the fallback.
Status build(const graph::Graph& g, const std::vector<size_t>& nodes, SessionContext& context, Compiled& c) {
  c.boundary = plan::find_boundary(g, nodes);
  if (c.boundary.nodes.empty()) return Status::ok();  // nothing anyone reads: nothing to run
  const auto externals = static_cast<uint32_t>(c.boundary.inputs.size() + c.boundary.outputs.size());
  xnn_subgraph_t raw = nullptr;
  if (xnn_create_subgraph(externals, 0, &raw) != xnn_status_success) return out_of_memory("XNNPACK subgraph");
  std::unique_ptr<xnn_subgraph, SubgraphDeleter> subgraph(raw);
  TANDEM_RETURN_IF_ERROR(lower_partition(g, c.boundary, subgraph.get(), context.constants(), c.pinned));
  // A finalized cache hands out weights it already holds; a runtime that brings
  // new weights (a shape that lowers differently) packs them itself instead.
  // Workers go back to the OS between runs instead of spinning: runs are intermittent.
  const uint32_t flags = XNN_FLAG_YIELD_WORKERS | (profile_mode() ? XNN_FLAG_BASIC_PROFILING : 0);
  xnn_status s = xnn_create_runtime_v3(subgraph.get(), context.cache(), context.pool(), flags, &c.runtime);
  if (s != xnn_status_success && context.cache() != nullptr && context.cache_finalized()) {
    s = xnn_create_runtime_v3(subgraph.get(), nullptr, context.pool(), flags, &c.runtime);
  }
  if (s != xnn_status_success) return unsupported("XNNPACK could not create a runtime (" + status_name(s) + ")");
  return Status::ok();
}

// One partition for one set of input shapes (sessions compile per shape).
class XnnpackExecutable : public Executable {
 public:
  XnnpackExecutable(std::vector<size_t> nodes, std::shared_ptr<SessionContext> context,
                    std::unique_ptr<Executable> fallback)
      : nodes_(std::move(nodes)), context_(std::move(context)), fallback_(std::move(fallback)) {}

  // Lowers and packs the weights now, at compile time.
  Status prepare(const graph::Graph& g) {
    compiled_.lowering = build(g, nodes_, *context_, compiled_);
    const bool fallback_ok = compiled_.lowering.code() == StatusCode::kUnsupported;
    return compiled_.lowering.is_ok() || fallback_ok ? Status::ok() : compiled_.lowering;
  }

  Status run(ExecutionFrame& frame) override {
    Compiled* c = &compiled_;
    if (c->boundary.nodes.empty() && c->lowering.is_ok()) return Status::ok();
    if (c->runtime == nullptr) {
      if (strict_mode() || fallback_ == nullptr) return c->lowering;
      return fallback_->run(frame);
    }
    // Every partition of this shape has been compiled by now (sessions compile before running).
    TANDEM_RETURN_IF_ERROR(context_->finalize_cache());
    // Reshaping resolves pointers into the weights cache: only once it is final.
    if (!c->reshaped) {
      const xnn_status s = xnn_reshape_runtime(c->runtime);
      if (s != xnn_status_success) return internal_error("XNNPACK could not plan a partition (" + status_name(s) + ")");
      c->reshaped = true;
    }
    std::vector<xnn_external_value> externals;
    uint32_t ext = 0;
    for (graph::ValueId v : c->boundary.inputs) {
      Value& value = frame.value(v);
      if (!value.is_tensor() || value.tensor().dtype() != DType::kFloat32) {
        return internal_error("XNNPACK partition input '" + frame.graph().values[static_cast<size_t>(v)].name +
                              "' is not a float32 tensor");
      }
      externals.push_back({ext++, value.tensor().raw_data()});
    }
    for (graph::ValueId v : c->boundary.outputs) {
      const graph::ValueEntry& e = frame.graph().values[static_cast<size_t>(v)];
      TANDEM_ASSIGN_OR_RETURN(Tensor t, frame.allocate(v, DType::kFloat32, e.type.concrete_shape()));
      externals.push_back({ext++, t.raw_data()});
      frame.value(v) = Value(std::move(t));
    }
    xnn_status s = xnn_setup_runtime_v2(c->runtime, externals.size(), externals.data());
    if (s == xnn_status_success) s = xnn_invoke_runtime(c->runtime);
    if (s != xnn_status_success) return internal_error("XNNPACK failed to run a partition (" + status_name(s) + ")");
    if (profile_mode()) print_profile(c->runtime);
    for (size_t i : nodes_) frame.release_after(i);
    return Status::ok();
  }

 private:
  std::vector<size_t> nodes_;
  std::shared_ptr<SessionContext> context_;  // outlives compiled_'s runtime
  std::unique_ptr<Executable> fallback_;
  Compiled compiled_;
};

class XnnpackBackend : public Backend {
 public:
  explicit XnnpackBackend(std::shared_ptr<Backend> fallback) : fallback_(std::move(fallback)) {}
  std::string_view name() const override { return "xnnpack"; }
  DeviceFacts device() const override { return {"cpu (XNNPACK)", DeviceKind::kCpu, 0}; }
  bool supports(const graph::Node& node, const graph::Graph& graph) const override {
    return xnnpack_ready() && can_lower(node, graph);
  }
  Result<std::unique_ptr<Executable>> compile(const graph::Graph& graph, const plan::Partition& partition,
                                              const CompileOptions& options) override {
    if (!xnnpack_ready()) return unsupported("XNNPACK does not support this CPU");
    std::unique_ptr<Executable> fallback;
    if (fallback_ != nullptr) {
      TANDEM_ASSIGN_OR_RETURN(fallback, fallback_->compile(graph, partition, options));
    }
    auto exe = std::make_unique<XnnpackExecutable>(partition.nodes, session_context(graph, options), std::move(fallback));
    // The graph is specialised to concrete shapes: lower and pack the weights now, at load.
    TANDEM_RETURN_IF_ERROR(exe->prepare(graph));
    return std::unique_ptr<Executable>(std::move(exe));
  }

 private:
  std::shared_ptr<Backend> fallback_;
};

}  // namespace

std::shared_ptr<Backend> make_backend(std::shared_ptr<Backend> fallback) {
  return std::make_shared<XnnpackBackend>(std::move(fallback));
}

}  // namespace tandem::xnnpack
