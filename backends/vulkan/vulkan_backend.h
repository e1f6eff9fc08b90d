// The Vulkan compute backend (native GPUs; lavapipe on CPU-only machines for tests). Partitions
// it claims run as one command buffer each; a partition it cannot compile for the device (a
// buffer over maxStorageBufferRange, a broadcast it does not do) runs on `fallback`.
#pragma once

#include <memory>

#include "backends/vulkan/context.h"
#include "core/runtime/backend.h"

namespace tandem::vulkan {

struct Options {
  // Float tensors stored as fp16 on the device (half the memory and bandwidth; arithmetic stays
  // fp32; outputs within ~1e-2 relative instead of 1e-4), where the device has 16-bit storage
  // buffers and passed the fp16 self-test. Elsewhere the backend stays fp32 and is named
  // "vulkan", not "vulkan-fp16".
  bool fp16_storage = false;
};

std::shared_ptr<Backend> make_backend(std::shared_ptr<Backend> fallback, Options options = {});

// Whether this process can use Vulkan, and the device: an error says why not (no loader, no
// device, a failed self-test). Made once, on first call.
Result<const DeviceInfo*> device_info();

}  // namespace tandem::vulkan
