#include "backends/remote/remote_backend.h"

#include <algorithm>

#include "core/plan/partition.h"

namespace tandem::remote {
namespace {

class RemoteExecutable final : public Executable {
 public:
  RemoteExecutable(std::shared_ptr<route::RemoteModel> model, const graph::Graph& graph)
      : model_(std::move(model)), inputs_(graph.inputs), outputs_(graph.outputs) {}

  Status run(ExecutionFrame& frame) override {
    const graph::Graph& g = frame.graph();
    NamedValues feeds;
    for (graph::ValueId id : inputs_) feeds.emplace_back(g.values[static_cast<size_t>(id)].name, frame.value(id));
    TANDEM_ASSIGN_OR_RETURN(NamedValues outs, model_->infer(feeds, route::Deadline::max(), nullptr));
    for (graph::ValueId id : outputs_) {
      const std::string& name = g.values[static_cast<size_t>(id)].name;
      auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& v) { return v.first == name; });
      if (it == outs.end()) return unavailable(model_->describe() + " did not return output '" + name + "'");
      frame.value(id) = std::move(it->second);
    }
    return Status::ok();
  }

 private:
  std::shared_ptr<route::RemoteModel> model_;
  std::vector<graph::ValueId> inputs_, outputs_;
};

class RemoteBackend final : public Backend {
 public:
  explicit RemoteBackend(std::shared_ptr<route::RemoteModel> model) : model_(std::move(model)) {}

  std::string_view name() const override { return "remote"; }
  DeviceFacts device() const override { return {model_->describe(), DeviceKind::kRemote, 0}; }
  bool supports(const graph::Node&, const graph::Graph&) const override { return true; }

  Result<std::unique_ptr<Executable>> compile(const graph::Graph& graph, const plan::Partition& partition,
                                              const CompileOptions&) override {
    size_t runnable = 0;  // nodes not folded away: the ones a partition may hold
    for (const graph::Node& n : graph.nodes) runnable += graph::is_folded(graph, n) ? 0 : 1;
    if (partition.nodes.size() != runnable) {
      return unsupported("the remote backend runs whole models only; give it alone in SessionOptions::backends");
    }
    return std::unique_ptr<Executable>(new RemoteExecutable(model_, graph));
  }

 private:
  std::shared_ptr<route::RemoteModel> model_;
};

}  // namespace

std::shared_ptr<Backend> make_backend(std::shared_ptr<route::RemoteModel> model) {
  return std::make_shared<RemoteBackend>(std::move(model));
}

}  // namespace tandem::remote
