#include "core/passes/passes.h"

#include "core/passes/rewriter.h"

namespace tandem::passes {

Status optimize(graph::Graph& g, const OptimizeOptions& options, std::vector<std::string>* applied) {
  struct Step {
    const char* name;
    bool enabled;
    Result<int> (*run)(Rewriter&);
  };
  // MatMul/Gemm become FullyConnected before activations fuse, so those fuse into it too.
  const Step steps[] = {
      {"fold_batch_norm", options.fold_batch_norm, fold_batch_norm},
      {"fuse_matmul_add", options.fuse_matmul_add, fuse_matmul_add},
      {"fuse_activations", options.fuse_activations, fuse_activations},
      {"fuse_gelu", options.fuse_gelu, fuse_gelu},
      {"fuse_layer_norm", options.fuse_layer_norm, fuse_layer_norm},
  };
  Rewriter rw(g);
  for (const Step& step : steps) {
    if (!step.enabled) continue;
    auto count = step.run(rw);
    if (!count.is_ok()) return count.status().with_context(std::string("optimization ") + step.name);
    TANDEM_RETURN_IF_ERROR(rw.commit());
    if (*count == 0) continue;
    if (applied != nullptr) applied->push_back(std::string(step.name) + ": " + std::to_string(*count));
  }
  return Status::ok();
}

}  // namespace tandem::passes
