#include "backends/vulkan/vulkan_backend.h"

#include <cstdio>
#include <cstdlib>

#include "backends/vulkan/ops.h"
#include "backends/vulkan/program.h"
#include "core/plan/partition.h"

namespace tandem::vulkan {
namespace {

// One partition for one set of input shapes.
class VulkanExecutable : public Executable {
 public:
  VulkanExecutable(Context& context, bool fp16) : program_(context, fp16), context_(context) {}

  // Whether prepare() refused the partition for a shape known only while running.
  bool dynamic_shapes() const { return dynamic_; }

  // Lowers every node, uploads the constants and records the command buffer.
  Status prepare(const graph::Graph& g, const std::vector<size_t>& nodes) {
    boundary_ = plan::find_boundary(g, nodes);
    return build(g);
  }

  Status run(ExecutionFrame& frame) override {
    if (boundary_.nodes.empty()) return Status::ok();
    std::vector<const Tensor*> ins;
    for (graph::ValueId v : inputs_) {
      const Value& value = frame.value(v);
      if (!value.is_tensor())
        return internal_error("Vulkan partition input '" + frame.graph().values[static_cast<size_t>(v)].name +
                              "' is not a tensor");
      ins.push_back(&value.tensor());
    }
    std::vector<Tensor> outs;
    std::vector<Tensor*> out_ptrs;
    outs.reserve(boundary_.outputs.size());
    for (graph::ValueId v : boundary_.outputs) {
      const graph::ValueEntry& e = frame.graph().values[static_cast<size_t>(v)];
      TANDEM_ASSIGN_OR_RETURN(Tensor t, frame.allocate(v, e.type.dtype, e.type.concrete_shape()));
      outs.push_back(std::move(t));
    }
    for (Tensor& t : outs) out_ptrs.push_back(&t);
    TANDEM_RETURN_IF_ERROR(program_.run(ins, out_ptrs));
    for (size_t k = 0; k < outs.size(); ++k) frame.value(boundary_.outputs[k]) = Value(std::move(outs[k]));
    for (const auto& [label, ms] : program_.last_profile()) {  // empty unless TANDEM_VULKAN_PROFILE=1
      std::fprintf(stderr, "vulkan %-48s %8.3f ms\n", label.c_str(), ms);
    }
    for (size_t i : boundary_.nodes) frame.release_after(i);
    return Status::ok();
  }

 private:
  Status build(const graph::Graph& g) {
    if (boundary_.nodes.empty()) return Status::ok();
    // Buffers and the command buffer are sized at compile time: every shape must be known by now
    // (data-dependent shapes, as inside silero's If branches, stay on the CPU).
    for (size_t i : boundary_.nodes) {
      const graph::Node& n = g.nodes[i];
      for (const std::vector<graph::ValueId>* list : {&n.inputs, &n.outputs}) {
        for (graph::ValueId v : *list) {
          if (v != graph::kNoValue && !g.values[static_cast<size_t>(v)].type.shape_known()) {
            dynamic_ = true;
            return unsupported(n.describe() + ": '" + g.values[static_cast<size_t>(v)].name +
                               "' has a shape known only while running");
          }
        }
      }
    }
    Lowering l(g, program_, context_);
    for (size_t i : boundary_.nodes) TANDEM_RETURN_IF_ERROR(lower(g.nodes[i], l));
    std::vector<uint32_t> in_slots, out_slots;
    inputs_ = l.inputs();
    for (graph::ValueId v : inputs_) in_slots.push_back(l.slot(v));
    for (graph::ValueId v : boundary_.outputs) {
      if (!l.has(v)) return internal_error("a Vulkan partition output was not produced");
      out_slots.push_back(l.slot(v));
    }
    return program_.finalize(std::move(in_slots), std::move(out_slots));
  }

  Program program_;
  Context& context_;
  plan::Boundary boundary_;
  std::vector<graph::ValueId> inputs_;
  bool dynamic_ = false;
};

class VulkanBackend : public Backend {
 public:
  VulkanBackend(std::shared_ptr<Backend> fallback, Options options)
      : fallback_(std::move(fallback)), options_(options) {}
  std::string_view name() const override { return fp16() ? "vulkan-fp16" : "vulkan"; }
  DeviceFacts device() const override {
    auto c = Context::get();
    if (!c.is_ok()) return {"vulkan (unavailable: " + c.status().message() + ")", DeviceKind::kGpu, 0};
    std::string storage = fp16() ? "fp16 storage" : "fp32";
    if (options_.fp16_storage && !fp16()) {
      const std::string& why = (*c)->info().fp16_refused;
      storage += why.empty() ? " (no 16-bit storage buffers for fp16)" : " (fp16 storage refused: " + why + ")";
    }
    return {"Vulkan, " + storage + ": " + (*c)->info().describe(), DeviceKind::kGpu, (*c)->memory_available()};
  }
  bool supports(const graph::Node& node, const graph::Graph& graph) const override {
    return Context::get().is_ok() && can_lower(node, graph);
  }
  Result<std::unique_ptr<Executable>> compile(const graph::Graph& graph, const plan::Partition& partition,
                                              const CompileOptions& options) override {
    TANDEM_ASSIGN_OR_RETURN(Context * context, Context::get());
    auto exe = std::make_unique<VulkanExecutable>(*context, fp16());
    const Status s = exe->prepare(graph, partition.nodes);
    // A partition the device cannot take (kUnsupported: a shape the kernels do not do, a buffer
    // over the device's limit; kOutOfMemory) runs on the fallback, unless TANDEM_VULKAN_STRICT=1
    // (tests prove that claimed nodes run here). Data-dependent shapes fall back even then.
    const bool can_fall_back = s.code() == StatusCode::kUnsupported || s.code() == StatusCode::kOutOfMemory;
    const bool strict = env_flag("TANDEM_VULKAN_STRICT") && !exe->dynamic_shapes();
    if (!s.is_ok() && can_fall_back && fallback_ != nullptr && !strict) {
      return fallback_->compile(graph, partition, options);
    }
    TANDEM_RETURN_IF_ERROR(s);
    return std::unique_ptr<Executable>(std::move(exe));
  }

 private:
  // fp16 storage where it was asked for and the device passed its fp16 self-test.
  bool fp16() const {
    if (!options_.fp16_storage) return false;
    auto c = Context::get();
    return c.is_ok() && (*c)->info().fp16_storage;
  }

  std::shared_ptr<Backend> fallback_;
  Options options_;
};

}  // namespace

std::shared_ptr<Backend> make_backend(std::shared_ptr<Backend> fallback, Options options) {
  return std::make_shared<VulkanBackend>(std::move(fallback), options);
}

Result<const DeviceInfo*> device_info() {
  TANDEM_ASSIGN_OR_RETURN(Context * c, Context::get());
  return &c->info();
}

}  // namespace tandem::vulkan
