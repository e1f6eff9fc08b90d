// Lowering: one partition of a shape-specialised graph -> one XNNPACK subgraph.
//
// Every ONNX value gets an XNNPACK value in one of two layouts: kNative (the
// ONNX layout) or kNhwc (a rank-4 NCHW value stored as NHWC, what XNNPACK's
// convolutions and pools use). Layout changes are emitted only where a
// consumer needs the other layout, so a chain of convolutions, pools and
// elementwise ops stays NHWC and is transposed once at the partition's edges.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <xnnpack.h>

#include "core/graph/graph.h"
#include "core/plan/partition.h"
#include "core/runtime/status.h"
#include "core/runtime/tensor.h"

namespace tandem::xnnpack {

enum class Layout { kNative, kNhwc };

// Constant data XNNPACK reads from: transformed weights (OIHW -> OHWI, NHWC
// broadcast constants, folded BatchNorm factors). Owned by the session and
// shared by every runtime of the session, so a second input shape reuses them.
class ConstantStore {
 public:
  // Returns stable storage for `key`, filling it with `make` the first time.
  template <typename Make>
  const std::vector<float>& get(const std::string& key, Make make) {
    auto it = buffers_.find(key);
    if (it == buffers_.end()) it = buffers_.emplace(key, std::make_unique<std::vector<float>>(make())).first;
    return *it->second;
  }
  // Keeps `source` alive while the store lives: keys name sources by address,
  // which must not be reused by another tensor.
  void pin(const Tensor& source) { pinned_.emplace(source.raw_data(), source); }

 private:
  std::map<std::string, std::unique_ptr<std::vector<float>>> buffers_;
  std::map<const void*, Tensor> pinned_;
};

// Whether the backend can lower `node` (checked on the symbolic graph).
bool can_lower(const graph::Node& node, const graph::Graph& g);

// Builds the subgraph. External ids: inputs first, then outputs, as in `b`.
// `pinned` receives the tensors whose memory the subgraph reads.
Status lower_partition(const graph::Graph& g, const plan::Boundary& b, xnn_subgraph_t subgraph, ConstantStore& store,
                       std::vector<Tensor>& pinned);

// "xnn_status_invalid_parameter" -> readable text.
std::string status_name(xnn_status s);

}  // namespace tandem::xnnpack
