#include "backends/vulkan/loader.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace tandem::vulkan {

void Api::load_instance(VkInstance instance) {
#define TANDEM_VK_LOAD(name) name = reinterpret_cast<PFN_##name>(vkGetInstanceProcAddr(instance, #name));
  TANDEM_VK_INSTANCE_FUNCTIONS(TANDEM_VK_LOAD)
#undef TANDEM_VK_LOAD
}

Status Api::load_device(VkDevice device) {
#define TANDEM_VK_LOAD(name)                                               \
  name = reinterpret_cast<PFN_##name>(vkGetDeviceProcAddr(device, #name)); \
  if (name == nullptr) return unavailable("the Vulkan driver has no " #name);
  TANDEM_VK_DEVICE_FUNCTIONS(TANDEM_VK_LOAD)
#undef TANDEM_VK_LOAD
  return Status::ok();
}

Result<Api*> load_api() {
  static Api api;
  static Status status = [] {
    // The handle is never closed: drivers keep threads and atexit handlers inside it.
    void* lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      return unavailable(std::string("no Vulkan loader (libvulkan.so.1: ") + dlerror() +
                         "); on Debian: apt-get install libvulkan1 and a driver (mesa-vulkan-drivers)");
    }
    api.vkGetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
    if (api.vkGetInstanceProcAddr == nullptr) return unavailable("libvulkan.so.1 has no vkGetInstanceProcAddr");
#define TANDEM_VK_LOAD(name)                                                                 \
  api.name = reinterpret_cast<PFN_##name>(api.vkGetInstanceProcAddr(VK_NULL_HANDLE, #name)); \
  if (api.name == nullptr) return unavailable("the Vulkan loader has no " #name);
    TANDEM_VK_GLOBAL_FUNCTIONS(TANDEM_VK_LOAD)
#undef TANDEM_VK_LOAD
    return Status::ok();
  }();
  if (!status.is_ok()) return status;
  return &api;
}

const char* result_name(VkResult r) {
  switch (r) {
#define TANDEM_VK_CASE(x) \
  case x:                 \
    return #x;
    TANDEM_VK_CASE(VK_SUCCESS)
    TANDEM_VK_CASE(VK_NOT_READY)
    TANDEM_VK_CASE(VK_TIMEOUT)
    TANDEM_VK_CASE(VK_INCOMPLETE)
    TANDEM_VK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    TANDEM_VK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    TANDEM_VK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    TANDEM_VK_CASE(VK_ERROR_DEVICE_LOST)
    TANDEM_VK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    TANDEM_VK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    TANDEM_VK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    TANDEM_VK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    TANDEM_VK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    TANDEM_VK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    TANDEM_VK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    TANDEM_VK_CASE(VK_ERROR_FRAGMENTED_POOL)
    TANDEM_VK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
#undef TANDEM_VK_CASE
    default:
      return "VkResult (unknown)";
  }
}

}  // namespace tandem::vulkan
