// The Vulkan device Tandem runs on: instance, the chosen physical device and its facts, one
// compute queue, pipelines (cached), device memory (a sub-allocator) and synchronous submits.
// One per process, made on first use, shared by every session.
//
// Environment:
//   TANDEM_VULKAN_DEVICE=N|text   pick device N (vulkaninfo's order) or the first whose name
//                                 contains text; default: discrete > integrated > virtual > CPU
//   TANDEM_VULKAN_VALIDATION=1    Khronos validation + synchronization validation; every message
//                                 is printed and counted (tests fail on any); =fatal aborts on one
//   TANDEM_VULKAN_STAGING=1       treat device memory as not host-visible: every transfer goes
//                                 through staging buffers, as on GPUs without a mappable heap
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/vulkan/loader.h"
#include "core/runtime/status.h"

namespace tandem::vulkan {

// What the router and the backend need to know about the device.
struct DeviceInfo {
  std::string name;
  std::string type;  // "discrete GPU", "integrated GPU", "virtual GPU", "CPU"
  bool is_gpu = false;
  uint32_t vendor_id = 0, device_id = 0;
  std::string driver;  // "llvmpipe: Mesa 22.3.6 (LLVM 15.0.6)"
  uint32_t api_version = 0;
  uint64_t device_local_bytes = 0;  // the largest device-local heap
  uint64_t budget_bytes = 0;        // VK_EXT_memory_budget's budget for that heap (0 = no extension)
  bool has_memory_budget = false;
  bool host_visible_device_memory = false;  // device-local memory the host can map (UMA, ReBAR)
  uint64_t max_storage_buffer_range = 0;
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_push_constants = 0;
  uint32_t subgroup_size = 0;
  bool fp16 = false;  // shaderFloat16 + 16-bit storage buffers
  // 16-bit storage buffers (all fp16 storage needs: arithmetic stays fp32), and the self-test's
  // reason when it refused them on this device (fp16_storage is then false).
  bool fp16_storage = false;
  std::string fp16_refused;
  bool int8 = false;  // shaderInt8 + 8-bit storage buffers
  bool timestamps = false;
  float timestamp_period_ns = 0;
  std::string describe() const;  // one line: name, type, memory, features
};

class Context;

// A buffer in a sub-allocated block. Moves only; freed on destruction.
class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  uint64_t size() const { return size_; }
  void* mapped() const { return mapped_; }  // null when the memory is not host-visible
  bool valid() const { return buffer_ != VK_NULL_HANDLE; }

 private:
  friend class Allocator;
  Context* context_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  uint32_t block_ = 0;
  uint64_t offset_ = 0, reserved_ = 0, size_ = 0;
  bool host_ = false;
  void* mapped_ = nullptr;
};

// Large device allocations (64 MiB, or one buffer's size when larger) carved into buffers,
// first fit, with neighbours merged on free: drivers limit allocations (4096 on many) and each
// one is slow. Device-local blocks hold tensors; host-visible ones hold staging buffers.
class Allocator {
 public:
  explicit Allocator(Context& context) : context_(context) {}
  ~Allocator();
  Result<Buffer> allocate(uint64_t size, bool host_visible);
  void release(Buffer& buffer);
  uint64_t allocated_bytes() const { return allocated_; }     // device-local memory held in blocks
  uint64_t staging_bytes() const { return allocated_host_; }  // host-visible (staging) blocks

 private:
  struct Range {
    uint64_t offset, size;
  };
  struct Block {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint64_t size = 0;
    bool host = false;
    void* mapped = nullptr;
    std::vector<Range> free;  // sorted by offset
  };
  Context& context_;
  std::mutex mutex_;
  std::vector<Block> blocks_;
  uint64_t allocated_ = 0, allocated_host_ = 0;
};

// A compute pipeline for one shader and one set of specialization constants.
struct Pipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  uint32_t bindings = 0;
  uint32_t push_bytes = 0;
};

class Context {
 public:
  // The process's context, made on first call (instance, device, self-test). An error says why
  // Vulkan cannot be used here (no loader, no device, a failed self-test) and stays the answer.
  static Result<Context*> get();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Api& api() const { return *api_; }
  VkDevice device() const { return device_; }
  const DeviceInfo& info() const { return info_; }
  Allocator& allocator() { return *allocator_; }
  // Device-local memory Tandem may still use: the budget (or the heap) minus what it holds.
  uint64_t memory_available() const;
  bool staging() const { return staging_; }  // transfers go through staging buffers

  // The pipeline for `shader` (a name in the embedded SPIR-V table) with `bindings` storage
  // buffers, `push_bytes` of push constants and these specialization constants (ids 0..n-1).
  Result<const Pipeline*> pipeline(std::string_view shader, uint32_t bindings, uint32_t push_bytes,
                                   std::span<const uint32_t> specialization = {});
  VkDescriptorPool descriptor_pool_for(uint32_t sets, uint32_t buffers);  // caller owns it

  Result<VkCommandBuffer> allocate_command_buffer();
  void free_command_buffer(VkCommandBuffer cb);
  // Submits and waits. The queue is shared: submits are serialised.
  Status submit_and_wait(VkCommandBuffer cb);

  // Validation messages seen so far (TANDEM_VULKAN_VALIDATION=1): warnings and errors.
  static uint64_t validation_messages();

 private:
  Context() = default;
  Status init();
  Status self_test();

  Api* api_ = nullptr;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkPipelineCache pipeline_cache_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  DeviceInfo info_;
  VkPhysicalDeviceMemoryProperties memory_{};
  uint32_t device_heap_ = 0;
  bool staging_ = false;
  std::unique_ptr<Allocator> allocator_;
  std::mutex queue_mutex_, pipeline_mutex_, pool_mutex_;
  std::unordered_map<std::string, Pipeline> pipelines_;

  friend class Allocator;
  friend Result<uint32_t> find_memory_type(const Context&, uint32_t, bool);
};

// TANDEM_VULKAN_* switches: set to a value starting with '1'.
bool env_flag(const char* name);

// Whether the device Context would choose is a GPU, found without making the context (no device,
// no self-test): cheap enough for every process that lists its default backends.
bool gpu_present();

// The memory type for a buffer: host-visible (coherent) or device-local, allowed by `bits`.
Result<uint32_t> find_memory_type(const Context& c, uint32_t bits, bool host_visible);

}  // namespace tandem::vulkan
