// The Vulkan compute backend (native GPUs; lavapipe on CPU-only machines for tests). Partitions
// it claims run as one command buffer each; a partition it cannot compile for the device (a
// buffer over maxStorageBufferRange, a broadcast it does not do) runs on `fallback`.
#pragma once

#include <memory>

#include "backends/vulkan/context.h"
#include "core/runtime/backend.h"

namespace tandem::vulkan {

std::shared_ptr<Backend> make_backend(std::shared_ptr<Backend> fallback);

// Whether this process can use Vulkan, and the device: an error says why not (no loader, no
// device, a failed self-test). Made once, on first call.
Result<const DeviceInfo*> device_info();

}  // namespace tandem::vulkan
