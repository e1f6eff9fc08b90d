// The Vulkan loader, opened at run time (dlopen of libvulkan.so.1): a build with the Vulkan
// backend still starts on a machine without Vulkan, where the backend reports itself
// unavailable. The entry points Tandem uses, resolved through vkGetInstanceProcAddr /
// vkGetDeviceProcAddr (volk does this, but is not in Debian bookworm).
#pragma once

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "core/runtime/status.h"

namespace tandem::vulkan {

#define TANDEM_VK_GLOBAL_FUNCTIONS(X)   \
  X(vkCreateInstance)                   \
  X(vkEnumerateInstanceLayerProperties) \
  X(vkEnumerateInstanceExtensionProperties)

#define TANDEM_VK_INSTANCE_FUNCTIONS(X)       \
  X(vkDestroyInstance)                        \
  X(vkEnumeratePhysicalDevices)               \
  X(vkGetPhysicalDeviceProperties)            \
  X(vkGetPhysicalDeviceProperties2)           \
  X(vkGetPhysicalDeviceFeatures2)             \
  X(vkGetPhysicalDeviceMemoryProperties)      \
  X(vkGetPhysicalDeviceMemoryProperties2)     \
  X(vkGetPhysicalDeviceQueueFamilyProperties) \
  X(vkEnumerateDeviceExtensionProperties)     \
  X(vkCreateDevice)                           \
  X(vkGetDeviceProcAddr)                      \
  X(vkCreateDebugUtilsMessengerEXT)           \
  X(vkDestroyDebugUtilsMessengerEXT)

#define TANDEM_VK_DEVICE_FUNCTIONS(X) \
  X(vkDestroyDevice)                  \
  X(vkGetDeviceQueue)                 \
  X(vkDeviceWaitIdle)                 \
  X(vkAllocateMemory)                 \
  X(vkFreeMemory)                     \
  X(vkMapMemory)                      \
  X(vkUnmapMemory)                    \
  X(vkCreateBuffer)                   \
  X(vkDestroyBuffer)                  \
  X(vkGetBufferMemoryRequirements)    \
  X(vkBindBufferMemory)               \
  X(vkCreateShaderModule)             \
  X(vkDestroyShaderModule)            \
  X(vkCreateDescriptorSetLayout)      \
  X(vkDestroyDescriptorSetLayout)     \
  X(vkCreatePipelineLayout)           \
  X(vkDestroyPipelineLayout)          \
  X(vkCreatePipelineCache)            \
  X(vkDestroyPipelineCache)           \
  X(vkCreateComputePipelines)         \
  X(vkDestroyPipeline)                \
  X(vkCreateDescriptorPool)           \
  X(vkDestroyDescriptorPool)          \
  X(vkAllocateDescriptorSets)         \
  X(vkUpdateDescriptorSets)           \
  X(vkCreateCommandPool)              \
  X(vkDestroyCommandPool)             \
  X(vkAllocateCommandBuffers)         \
  X(vkFreeCommandBuffers)             \
  X(vkBeginCommandBuffer)             \
  X(vkEndCommandBuffer)               \
  X(vkCmdBindPipeline)                \
  X(vkCmdBindDescriptorSets)          \
  X(vkCmdPushConstants)               \
  X(vkCmdDispatch)                    \
  X(vkCmdPipelineBarrier)             \
  X(vkCmdCopyBuffer)                  \
  X(vkCmdFillBuffer)                  \
  X(vkCmdResetQueryPool)              \
  X(vkCmdWriteTimestamp)              \
  X(vkCreateQueryPool)                \
  X(vkDestroyQueryPool)               \
  X(vkGetQueryPoolResults)            \
  X(vkCreateFence)                    \
  X(vkDestroyFence)                   \
  X(vkResetFences)                    \
  X(vkWaitForFences)                  \
  X(vkQueueSubmit)

// One table for the process (one loader); instance and device entries are filled when the
// context creates them. A missing optional entry (debug utils without the layer) stays null.
struct Api {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
#define TANDEM_VK_DECLARE(name) PFN_##name name = nullptr;
  TANDEM_VK_GLOBAL_FUNCTIONS(TANDEM_VK_DECLARE)
  TANDEM_VK_INSTANCE_FUNCTIONS(TANDEM_VK_DECLARE)
  TANDEM_VK_DEVICE_FUNCTIONS(TANDEM_VK_DECLARE)
#undef TANDEM_VK_DECLARE

  void load_instance(VkInstance instance);
  Status load_device(VkDevice device);  // fails naming the first missing entry point
};

// Opens the loader once; kUnavailable with what to install when it is missing.
Result<Api*> load_api();

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" for error messages.
const char* result_name(VkResult r);

}  // namespace tandem::vulkan
