// The native target's backends, best first.
#include "backends/reference/reference_backend.h"
#include "core/runtime/backend.h"
#include "native/lib/backends.h"
#if TANDEM_HAS_XNNPACK
#include "backends/xnnpack/xnnpack_backend.h"
#endif
#if TANDEM_HAS_VULKAN
#include "backends/vulkan/context.h"
#include "backends/vulkan/vulkan_backend.h"
#endif

namespace tandem {
namespace {

std::shared_ptr<Backend> reference_backend() {
  static const std::shared_ptr<Backend> b = reference::make_backend();
  return b;
}

#if TANDEM_HAS_XNNPACK
std::shared_ptr<Backend> xnnpack_backend() {
  static const std::shared_ptr<Backend> b = xnnpack::make_backend(reference_backend());
  return b;
}
#endif

// The CPU backends, best first.
std::vector<std::shared_ptr<Backend>> cpu_backends() {
#if TANDEM_HAS_XNNPACK
  return {xnnpack_backend(), reference_backend()};
#else
  return {reference_backend()};
#endif
}

#if TANDEM_HAS_VULKAN
// Vulkan partitions it cannot compile for the device fall back to the best CPU backend.
std::shared_ptr<Backend> vulkan_backend() {
  static const std::shared_ptr<Backend> b = vulkan::make_backend(cpu_backends().front());
  return b;
}

std::shared_ptr<Backend> vulkan_fp16_backend() {
  static const std::shared_ptr<Backend> b = vulkan::make_backend(cpu_backends().front(), {.fp16_storage = true});
  return b;
}
#endif

}  // namespace

// A GPU that passed its self-test comes first. A CPU Vulkan device (lavapipe) does not join by
// default: the CPU backends are faster on that same CPU; `--backend vulkan` still picks it.
std::vector<std::shared_ptr<Backend>> default_backends() {
  std::vector<std::shared_ptr<Backend>> list = cpu_backends();
#if TANDEM_HAS_VULKAN
  // gpu_present() only enumerates devices; the context and its self-test come on first use (a
  // device that fails the self-test then claims nothing).
  if (vulkan::gpu_present()) list.insert(list.begin(), vulkan_backend());
#endif
  return list;
}

Result<std::vector<std::shared_ptr<Backend>>> backends_named(std::string_view choice) {
  if (choice == "auto") return default_backends();
  if (choice == "reference") return std::vector<std::shared_ptr<Backend>>{reference_backend()};
  if (choice == "vulkan" || choice == "vulkan-fp16") {
#if TANDEM_HAS_VULKAN
    auto info = vulkan::device_info();
    if (!info.is_ok()) return info.status();
    const bool fp16 = choice == "vulkan-fp16";
    if (fp16 && !(*info)->fp16_storage) {
      return unsupported((*info)->name +
                         ((*info)->fp16_refused.empty() ? " has no 16-bit storage buffers"
                                                        : " failed the fp16 self-test: " + (*info)->fp16_refused) +
                         "; use --backend vulkan (fp32)");
    }
    std::vector<std::shared_ptr<Backend>> list = cpu_backends();
    list.insert(list.begin(), fp16 ? vulkan_fp16_backend() : vulkan_backend());
    return list;
#else
    return unsupported("this build has no Vulkan backend (install libvulkan-dev glslc spirv-tools and reconfigure)");
#endif
  }
#if TANDEM_HAS_XNNPACK
  if (choice == "xnnpack") return std::vector<std::shared_ptr<Backend>>{xnnpack_backend(), reference_backend()};
#else
  if (choice == "xnnpack") return unsupported("this build has no XNNPACK backend (configure with -DTANDEM_XNNPACK=ON)");
#endif
  return invalid_argument("unknown backend '" + std::string(choice) + "'; choose one of " + backend_choices());
}

std::string backend_choices() {
  std::string s = "auto, reference";
#if TANDEM_HAS_XNNPACK
  s += ", xnnpack";
#endif
#if TANDEM_HAS_VULKAN
  s += ", vulkan, vulkan-fp16";
#endif
  return s;
}

}  // namespace tandem
