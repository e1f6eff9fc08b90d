// The XNNPACK backend: lowers partitions of float32 nodes to XNNPACK subgraphs
// (NHWC inside, NCHW at the partition's edges), packs weights once into a
// weights cache, and runs them on a thread pool shared by the session.
#pragma once

#include <memory>

#include "core/runtime/backend.h"

namespace tandem::xnnpack {

// `fallback` runs a partition for input shapes XNNPACK cannot take (e.g. a
// value whose shape depends on data); null makes that an error.
std::shared_ptr<Backend> make_backend(std::shared_ptr<Backend> fallback);

}  // namespace tandem::xnnpack
