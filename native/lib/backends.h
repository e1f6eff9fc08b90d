// Backend choice for native programs (CLI, tests, benchmarks).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/runtime/backend.h"
#include "core/runtime/status.h"

namespace tandem {

// "auto": this build's defaults, best first. "reference": the reference kernels
// only. "xnnpack": XNNPACK, with the reference kernels for the nodes it does
// not claim. "vulkan": the Vulkan device (lavapipe included), the CPU backends for
// the rest; "vulkan-fp16": the same with fp16 storage (an error where the device has none). Unknown names and backends
// this build or machine lacks are errors.
Result<std::vector<std::shared_ptr<Backend>>> backends_named(std::string_view choice);

// The names backends_named() accepts in this build ("auto, reference, xnnpack, vulkan, vulkan-fp16").
std::string backend_choices();

}  // namespace tandem
