#include "core/runtime/session.h"

#include <algorithm>
#include <limits>
#include <set>

#include "core/passes/passes.h"
#include "core/plan/cost.h"
#include "core/route/router.h"

namespace tandem {

Result<Tensor> ExecutionFrame::allocate(graph::ValueId id, DType dtype, Shape shape) {
  if (plan_ != nullptr && arena_ != nullptr && plan_->slot(id).planned) {
    const plan::Slot& slot = plan_->slot(id);
    auto bytes = checked_byte_size(dtype, shape);
    if (dtype != DType::kString && bytes.is_ok() && *bytes == slot.bytes) {
      return Tensor::borrow(dtype, std::move(shape), arena_ + slot.offset);
    }
    ++unplanned_;  // the plan expected another size: a shape-inference miss
  }
  return Tensor::allocate(dtype, std::move(shape));
}

void ExecutionFrame::release_after(size_t node_index) {
  if (plan_ == nullptr) return;
  for (graph::ValueId id : plan_->released_after()[node_index]) values_[static_cast<size_t>(id)] = Value();
}

namespace {

// Shapes to key plans by: "1x3x224x224;1x10".
std::string shape_key(const std::vector<Shape>& shapes) {
  std::string key;
  for (const Shape& s : shapes) {
    for (int64_t d : s) key += std::to_string(d) + "x";
    key += ";";
  }
  return key;
}

bool kind_matches(const graph::TypeInfo& t, const Value& v) {
  switch (t.kind) {
    case graph::TypeInfo::Kind::kTensor:
      return v.is_tensor();
    case graph::TypeInfo::Kind::kSequence:
      return v.is_sequence();
    case graph::TypeInfo::Kind::kOptional:
      return true;
    case graph::TypeInfo::Kind::kUnknown:
      return !v.empty();
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Session>> Session::load(const std::string& path, SessionOptions options) {
  TANDEM_ASSIGN_OR_RETURN(graph::Model model, model::load_model_file(path, options.load));
  std::unique_ptr<Session> s(new Session());
  Status st = s->init(std::move(model), std::move(options));
  if (!st.is_ok()) return st.with_context("cannot prepare '" + path + "'");
  return s;
}

Result<std::unique_ptr<Session>> Session::load(std::span<const uint8_t> bytes, SessionOptions options) {
  if (options.progress) options.progress(0, bytes.size());
  TANDEM_ASSIGN_OR_RETURN(graph::Model model, model::load_model_bytes(bytes, options.load));
  if (options.progress) options.progress(bytes.size(), bytes.size());
  std::unique_ptr<Session> s(new Session());
  TANDEM_RETURN_IF_ERROR(s->init(std::move(model), std::move(options)));
  return s;
}

Status Session::init(graph::Model model, SessionOptions options) {
  model_ = std::move(model);
  options_ = std::move(options);
  if (options_.backends.empty()) options_.backends = default_backends();
  if (options_.backends.empty()) return internal_error("this build has no backend to run models on");
  for (const auto& b : options_.backends) {
    if (b->evaluator() != nullptr) {
      evaluator_ = b->evaluator();
      break;
    }
  }
  graph::Graph& g = *model_.graph;
  // Fold what is constant regardless of input shapes, and infer symbolic types.
  graph::InferOptions infer;
  infer.evaluator = evaluator_;
  TANDEM_RETURN_IF_ERROR(graph::infer_shapes(g, infer));
  // Fusions every backend benefits from, now that constants are known.
  if (options_.optimize) TANDEM_RETURN_IF_ERROR(passes::optimize(g, passes::OptimizeOptions{}));

  for (graph::ValueId id : g.inputs)
    inputs_.push_back({g.values[static_cast<size_t>(id)].name, g.values[static_cast<size_t>(id)].type});
  for (graph::ValueId id : g.outputs)
    outputs_.push_back({g.values[static_cast<size_t>(id)].name, g.values[static_cast<size_t>(id)].type});

  // Fails early, with every unsupported operator named, before any input is seen.
  TANDEM_ASSIGN_OR_RETURN(partitions_, plan::partition_graph(g, options_.backends));
  if (options_.memory_limit_bytes > 0) TANDEM_RETURN_IF_ERROR(check_memory_limit());
  // Inputs with fixed shapes: plan and compile now, so loading packs the weights.
  std::vector<Shape> shapes;
  for (const ValueInfo& in : inputs_) {
    if (in.type.kind != graph::TypeInfo::Kind::kTensor || !in.type.shape_known()) return Status::ok();
    shapes.push_back(in.type.concrete_shape());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  TANDEM_ASSIGN_OR_RETURN(auto sp, plan_for(shapes));
  TANDEM_RETURN_IF_ERROR(compile(*sp));
  last_plan_ = sp;
  return Status::ok();
}

using route::megabytes;  // the one unit every memory message uses

Status Session::check_memory_limit() {
  std::vector<Shape> shapes;
  for (const ValueInfo& in : inputs_) {
    if (in.type.kind != graph::TypeInfo::Kind::kTensor || !in.type.has_shape) return Status::ok();  // cannot plan
    shapes.push_back(in.type.smallest_shape());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto sp = plan_for(shapes);
  if (!sp.is_ok()) return Status::ok();  // the smallest shapes do not fit the model: run() will say why
  const plan::MemoryPlan& m = (*sp)->memory;
  // Weights count twice: a packing backend (XNNPACK) keeps its own copy next to the decoded one.
  const uint64_t io = m.input_bytes() + m.output_bytes();
  const uint64_t need = 2 * m.weight_bytes() + m.arena_bytes() + io;
  // The arena is one block: it must also fit the largest allocation this platform makes.
  const uint64_t max_block = std::min<uint64_t>(kMaxTensorBytes, std::numeric_limits<size_t>::max() / 2);
  if (m.arena_bytes() > max_block) {
    return out_of_memory("the model needs " + megabytes(m.arena_bytes()) +
                         " in one block for its intermediates (symbolic dimensions taken as 1) but at most " +
                         megabytes(max_block) +
                         " is available in one allocation on this platform; run it remotely or on a device with "
                         "more memory");
  }
  if (need <= options_.memory_limit_bytes) return Status::ok();
  return out_of_memory("the model needs " + megabytes(need) + " (weights " + megabytes(m.weight_bytes()) +
                       " x2, as loaded and as packed for the backend; intermediates " + megabytes(m.arena_bytes()) +
                       "; inputs and outputs " + megabytes(io) + "; symbolic dimensions taken as 1) but " +
                       megabytes(options_.memory_limit_bytes) +
                       " is available; run it remotely or on a device with more memory");
}

Status Session::compile(SpecializedPlan& sp) {
  if (!sp.executables.empty() || sp.partitions.empty()) return Status::ok();
  CompileOptions copts;
  copts.threads = options_.threads;
  copts.session_state = &backend_state_;
  for (const plan::Partition& p : sp.partitions) {
    TANDEM_ASSIGN_OR_RETURN(auto exe, options_.backends[p.backend_index]->compile(sp.graph, p, copts));
    sp.executables.push_back(std::move(exe));
  }
  return Status::ok();
}

std::vector<std::string> Session::placement() const {
  std::vector<std::string> out;
  const std::vector<plan::Partition>& parts = last_plan_ != nullptr ? last_plan_->partitions : partitions_;
  for (const plan::Partition& p : parts) {
    out.push_back(std::string(options_.backends[p.backend_index]->name()) + ": " + std::to_string(p.nodes.size()) +
                  " nodes");
  }
  return out;
}

Status Session::check_feeds(const NamedValues& feeds, std::vector<const Value*>* ordered) const {
  ordered->assign(inputs_.size(), nullptr);
  std::string expected;
  for (const ValueInfo& in : inputs_) expected += (expected.empty() ? "" : ", ") + ("'" + in.name + "'");
  for (const auto& feed : feeds) {
    const std::string& name = feed.first;
    const Value& value = feed.second;
    auto it = std::find_if(inputs_.begin(), inputs_.end(), [&](const ValueInfo& in) { return in.name == name; });
    if (it == inputs_.end()) {
      return invalid_argument("the model has no input named '" + name + "'; its inputs are " + expected);
    }
    const size_t i = static_cast<size_t>(it - inputs_.begin());
    if ((*ordered)[i] != nullptr) return invalid_argument("input '" + name + "' is given twice");
    const graph::TypeInfo& t = it->type;
    if (!kind_matches(t, value)) return invalid_argument("input '" + name + "' expects " + t.to_string());
    if (value.is_tensor()) {
      const Tensor& x = value.tensor();
      if (t.dtype != DType::kUndefined && x.dtype() != t.dtype) {
        return invalid_argument("input '" + name + "' expects dtype " + dtype_name(t.dtype) + " but got " +
                                dtype_name(x.dtype()));
      }
      if (t.has_shape) {
        bool ok = x.rank() == t.dims.size();
        for (size_t d = 0; ok && d < t.dims.size(); ++d) ok = !t.dims[d].known() || t.dims[d].value == x.dim(d);
        if (!ok) {
          return invalid_argument("input '" + name + "' expects shape " + t.to_string() + " but got " +
                                  shape_to_string(x.shape()));
        }
      }
    }
    (*ordered)[i] = &value;
  }
  // Symbolic dims with one name must agree across inputs ("batch" is one number).
  std::map<std::string, std::pair<int64_t, std::string>> symbols;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if ((*ordered)[i] == nullptr) {
      return invalid_argument("input '" + inputs_[i].name + "' is missing; the model needs " + expected);
    }
    const Value& v = *(*ordered)[i];
    if (!v.is_tensor() || !inputs_[i].type.has_shape) continue;
    for (size_t d = 0; d < inputs_[i].type.dims.size(); ++d) {
      const std::string& sym = inputs_[i].type.dims[d].symbol;
      if (sym.empty() || inputs_[i].type.dims[d].known()) continue;
      auto [it, inserted] = symbols.emplace(sym, std::make_pair(v.tensor().dim(d), inputs_[i].name));
      if (!inserted && it->second.first != v.tensor().dim(d)) {
        return invalid_argument("dimension '" + sym + "' is " + std::to_string(it->second.first) + " in input '" +
                                it->second.second + "' but " + std::to_string(v.tensor().dim(d)) + " in input '" +
                                inputs_[i].name + "'");
      }
    }
  }
  return Status::ok();
}

Result<std::shared_ptr<Session::SpecializedPlan>> Session::plan_for(const std::vector<Shape>& input_shapes) {
  const std::string key = shape_key(input_shapes);
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  auto sp = std::make_shared<SpecializedPlan>();
  sp->graph = *model_.graph;
  for (size_t i = 0; i < sp->graph.inputs.size(); ++i) {
    graph::ValueEntry& v = sp->graph.values[static_cast<size_t>(sp->graph.inputs[i])];
    if (v.type.kind == graph::TypeInfo::Kind::kTensor || v.type.kind == graph::TypeInfo::Kind::kUnknown) {
      const DType dtype = v.type.dtype;
      v.type = graph::TypeInfo::tensor(dtype, input_shapes[i]);
    }
  }
  graph::InferOptions infer;
  infer.evaluator = evaluator_;
  Status st = graph::infer_shapes(sp->graph, infer);
  if (!st.is_ok()) return st.with_context("the inputs' shapes do not fit the model");
  sp->memory = plan::MemoryPlan::build(sp->graph);
  TANDEM_ASSIGN_OR_RETURN(sp->partitions, plan::partition_graph(sp->graph, options_.backends));
  if (plans_.size() >= 16) plans_.clear();  // bounded: a few shapes are common, many are not
  plans_[key] = sp;
  return sp;
}

Result<MemoryFacts> Session::memory_facts(const std::map<std::string, Shape>& input_shapes) {
  std::vector<Shape> shapes;
  for (const ValueInfo& in : inputs_) {
    auto it = input_shapes.find(in.name);
    if (it != input_shapes.end()) {
      shapes.push_back(it->second);
    } else if (in.type.shape_known()) {
      shapes.push_back(in.type.concrete_shape());
    } else {
      return invalid_argument("input '" + in.name + "' has shape " + in.type.to_string() +
                              "; give concrete dimensions to plan memory");
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  TANDEM_ASSIGN_OR_RETURN(auto sp, plan_for(shapes));
  last_plan_ = sp;
  MemoryFacts f;
  f.weight_bytes = sp->memory.weight_bytes();
  f.arena_bytes = sp->memory.arena_bytes();
  f.output_bytes = sp->memory.output_bytes();
  f.input_bytes = sp->memory.input_bytes();
  f.dynamic_values = sp->memory.dynamic_values();
  f.flops = plan::estimate_flops(sp->graph);
  return f;
}

Result<NamedValues> Session::run(const NamedValues& feeds, RunStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<const Value*> ordered;
  TANDEM_RETURN_IF_ERROR(check_feeds(feeds, &ordered));
  std::vector<Shape> shapes;
  for (const Value* v : ordered) shapes.push_back(v->is_tensor() ? v->tensor().shape() : Shape{});

  std::lock_guard<std::mutex> lock(mutex_);
  TANDEM_ASSIGN_OR_RETURN(auto sp, plan_for(shapes));
  TANDEM_RETURN_IF_ERROR(compile(*sp));
  last_plan_ = sp;
  const graph::Graph& g = sp->graph;
  if (static_cast<uint64_t>(arena_.numel()) < sp->memory.arena_bytes()) {
    TANDEM_ASSIGN_OR_RETURN(arena_, Tensor::allocate(DType::kUInt8, {static_cast<int64_t>(sp->memory.arena_bytes())}));
  }
  ExecutionFrame frame(g, &sp->memory, arena_.data<uint8_t>());
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].constant.has_value()) frame.value(static_cast<graph::ValueId>(v)) = Value(*g.values[v].constant);
  }
  for (size_t i = 0; i < g.inputs.size(); ++i) frame.value(g.inputs[i]) = *ordered[i];
  for (size_t p = 0; p < sp->executables.size(); ++p) {
    Status st = sp->executables[p]->run(frame);
    if (!st.is_ok()) return st;
  }
  NamedValues out;
  std::set<graph::ValueId> seen;
  for (graph::ValueId id : g.outputs) {
    Value v = frame.value(id);
    if (v.empty()) return internal_error("output '" + g.values[static_cast<size_t>(id)].name + "' was not produced");
    // Outputs belong to the caller: never hand out arena memory, inputs or shared constants.
    const bool shared = !v.is_tensor() || !v.tensor().owns_storage() || g.values[static_cast<size_t>(id)].constant ||
                        g.values[static_cast<size_t>(id)].is_graph_input || !seen.insert(id).second;
    if (v.is_tensor() && shared) {
      TANDEM_ASSIGN_OR_RETURN(Tensor copy, v.tensor().clone());
      v = Value(std::move(copy));
    }
    out.emplace_back(g.values[static_cast<size_t>(id)].name, std::move(v));
  }
  if (stats != nullptr) {
    stats->milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    stats->arena_bytes = sp->memory.arena_bytes();
    stats->unplanned_allocations = frame.unplanned_allocations();
  }
  return out;
}

}  // namespace tandem
