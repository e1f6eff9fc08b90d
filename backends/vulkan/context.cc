#include "backends/vulkan/context.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backends/vulkan/shaders.h"

namespace tandem::vulkan {
namespace {

std::atomic<uint64_t> g_validation_messages{0};

Status vk_check(VkResult r, const char* what) {
  if (r == VK_SUCCESS) return Status::ok();
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
    return out_of_memory(std::string(what) + ": " + result_name(r));
  }
  return unavailable(std::string(what) + " failed: " + result_name(r));
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                             VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                                             const VkDebugUtilsMessengerCallbackDataEXT* data, void* /*user*/) {
  if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    g_validation_messages.fetch_add(1);
    std::fprintf(stderr, "vulkan validation: %s\n", data->pMessage);
    const char* mode = std::getenv("TANDEM_VULKAN_VALIDATION");
    if (mode != nullptr && std::strcmp(mode, "fatal") == 0) std::abort();  // for tests that only see an exit status
  }
  return VK_FALSE;
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU";
    default:
      return "other";
  }
}

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 1;
    default:
      return 0;
  }
}

bool has_extension(const std::vector<VkExtensionProperties>& list, const char* name) {
  return std::any_of(list.begin(), list.end(),
                     [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// TANDEM_VULKAN_DEVICE (an index or part of a name), else discrete > integrated > virtual > CPU.
Result<VkPhysicalDevice> choose_device(const Api& vk, VkInstance instance) {
  uint32_t count = 0;
  vk.vkEnumeratePhysicalDevices(instance, &count, nullptr);
  if (count == 0) return unavailable("no Vulkan device (a GPU driver, or mesa-vulkan-drivers for lavapipe on the CPU)");
  std::vector<VkPhysicalDevice> devices(count);
  vk.vkEnumeratePhysicalDevices(instance, &count, devices.data());
  const char* want = std::getenv("TANDEM_VULKAN_DEVICE");
  int chosen = -1, best_rank = -1;
  std::string names;
  for (uint32_t i = 0; i < count; ++i) {
    VkPhysicalDeviceProperties p;
    vk.vkGetPhysicalDeviceProperties(devices[i], &p);
    if (p.apiVersion < VK_API_VERSION_1_1) continue;
    names += names.empty() ? "" : ", ";
    names += std::to_string(i) + ": " + p.deviceName;
    if (want != nullptr && *want != '\0') {
      char* end = nullptr;
      const long index = std::strtol(want, &end, 10);
      const bool match = (*end == '\0') ? index == static_cast<long>(i) : std::strstr(p.deviceName, want) != nullptr;
      if (match && chosen < 0) chosen = static_cast<int>(i);
      continue;
    }
    if (type_rank(p.deviceType) > best_rank) best_rank = type_rank(p.deviceType), chosen = static_cast<int>(i);
  }
  if (chosen < 0) {
    return unavailable(want != nullptr ? "TANDEM_VULKAN_DEVICE=" + std::string(want) +
                                             " matches no Vulkan 1.1 device (" + names + ")"
                                       : "no Vulkan 1.1 device");
  }
  return devices[static_cast<size_t>(chosen)];
}

constexpr uint64_t kBlockBytes = uint64_t{64} << 20;

}  // namespace

std::string DeviceInfo::describe() const {
  std::string s = name + " (" + type + ", " + driver + "): " + mib(device_local_bytes) + " device-local";
  if (has_memory_budget) s += ", budget " + mib(budget_bytes);
  s += ", max storage buffer " + mib(max_storage_buffer_range);
  s += ", subgroup " + std::to_string(subgroup_size);
  if (fp16) s += ", fp16";
  if (fp16_storage) s += ", fp16 storage";
  if (!fp16_refused.empty()) s += ", fp16 storage refused by the self-test";
  if (int8) s += ", int8";
  if (timestamps) s += ", timestamps";
  return s;
}

// ---- buffers and the allocator -------------------------------------------------------------

Buffer::~Buffer() {
  if (context_ != nullptr) context_->allocator().release(*this);
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (context_ != nullptr) context_->allocator().release(*this);
    context_ = o.context_;
    buffer_ = o.buffer_;
    block_ = o.block_;
    offset_ = o.offset_;
    reserved_ = o.reserved_;
    size_ = o.size_;
    host_ = o.host_;
    mapped_ = o.mapped_;
    o.context_ = nullptr;
    o.buffer_ = VK_NULL_HANDLE;
  }
  return *this;
}

Result<uint32_t> find_memory_type(const Context& c, uint32_t bits, bool host_visible) {
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkPhysicalDeviceMemoryProperties& m = c.memory_;
  // Device-local buffers: device-local memory, mappable when staging is off and it exists.
  // Staging buffers: host-visible and coherent, preferably cached (reads back fast).
  int best = -1, best_score = -1;
  for (uint32_t i = 0; i < m.memoryTypeCount; ++i) {
    if ((bits & (1u << i)) == 0) continue;
    const VkMemoryPropertyFlags f = m.memoryTypes[i].propertyFlags;
    int score = -1;
    if (host_visible) {
      if ((f & host) == host) score = (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 2 : 1;
    } else if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
      const bool mappable = (f & host) == host;
      score = c.staging_ ? (mappable ? 1 : 2) : (mappable ? 2 : 1);
    }
    if (score > best_score) best = static_cast<int>(i), best_score = score;
  }
  if (best < 0)
    return unsupported(std::string("no ") + (host_visible ? "host-visible" : "device-local") +
                       " memory type for a buffer");
  return static_cast<uint32_t>(best);
}

Allocator::~Allocator() {
  const Api& vk = context_.api();
  for (Block& b : blocks_) {
    if (b.mapped != nullptr) vk.vkUnmapMemory(context_.device(), b.memory);
    vk.vkFreeMemory(context_.device(), b.memory, nullptr);
  }
}

Result<Buffer> Allocator::allocate(uint64_t size, bool host_visible) {
  const Api& vk = context_.api();
  VkDevice dev = context_.device();
  size = std::max<uint64_t>(size, 4);
  if (size > context_.info().max_storage_buffer_range) {
    return unsupported("a " + mib(size) + " tensor is over the device's largest storage buffer (" +
                       mib(context_.info().max_storage_buffer_range) + ")");
  }
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = size;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  Buffer out;
  TANDEM_RETURN_IF_ERROR(vk_check(vk.vkCreateBuffer(dev, &bi, nullptr, &out.buffer_), "vkCreateBuffer"));
  out.context_ = &context_;
  out.size_ = size;
  out.host_ = host_visible;
  VkMemoryRequirements req;
  vk.vkGetBufferMemoryRequirements(dev, out.buffer_, &req);
  const uint64_t align = std::max<uint64_t>(req.alignment, 256);  // >= minStorageBufferOffsetAlignment everywhere
  TANDEM_ASSIGN_OR_RETURN(uint32_t type, find_memory_type(context_, req.memoryTypeBits, host_visible));

  const uint64_t need = (req.size + align - 1) / align * align;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (uint32_t bi_ = 0; bi_ < blocks_.size() && out.reserved_ == 0; ++bi_) {
      Block& b = blocks_[bi_];
      if (b.host != host_visible || b.memory == VK_NULL_HANDLE) continue;
      for (size_t k = 0; k < b.free.size(); ++k) {
        Range& r = b.free[k];
        const uint64_t start = (r.offset + align - 1) / align * align;
        if (start + need > r.offset + r.size) continue;
        // Keep the alignment gap in front as its own free range.
        const uint64_t gap = start - r.offset, end = start + need, tail = r.offset + r.size - end;
        std::vector<Range> repl;
        if (gap) repl.push_back({r.offset, gap});
        if (tail) repl.push_back({end, tail});
        b.free.erase(b.free.begin() + static_cast<long>(k));
        b.free.insert(b.free.begin() + static_cast<long>(k), repl.begin(), repl.end());
        out.block_ = bi_;
        out.offset_ = start;
        out.reserved_ = need;
        break;
      }
    }
    if (out.reserved_ == 0) {
      Block b;
      b.size = std::max(kBlockBytes, need);
      b.host = host_visible;
      VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
      ai.allocationSize = b.size;
      ai.memoryTypeIndex = type;
      VkResult r = vk.vkAllocateMemory(dev, &ai, nullptr, &b.memory);
      if (r != VK_SUCCESS && b.size > need) {  // a full block did not fit: just this buffer
        b.size = ai.allocationSize = need;
        r = vk.vkAllocateMemory(dev, &ai, nullptr, &b.memory);
      }
      if (r != VK_SUCCESS) {
        vk.vkDestroyBuffer(dev, out.buffer_, nullptr);
        out.context_ = nullptr;
        out.buffer_ = VK_NULL_HANDLE;
        return out_of_memory("Vulkan device memory for a " + mib(need) + " buffer (" + result_name(r) + "; " +
                             mib(allocated_) + " already held)");
      }
      const VkMemoryPropertyFlags f = context_.memory_.memoryTypes[type].propertyFlags;
      if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (host_visible || !context_.staging_)) {
        vk.vkMapMemory(dev, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped);
      }
      if (b.size > need) b.free.push_back({need, b.size - need});
      (b.host ? allocated_host_ : allocated_) += b.size;
      // Reuse a slot freed by an emptied block.
      uint32_t slot = static_cast<uint32_t>(blocks_.size());
      for (uint32_t k = 0; k < blocks_.size(); ++k) {
        if (blocks_[k].memory == VK_NULL_HANDLE) slot = k;
      }
      if (slot == blocks_.size())
        blocks_.push_back(std::move(b));
      else
        blocks_[slot] = std::move(b);
      out.block_ = slot;
      out.offset_ = 0;
      out.reserved_ = need;
    }
    const Block& b = blocks_[out.block_];
    if (b.mapped != nullptr) out.mapped_ = static_cast<uint8_t*>(b.mapped) + out.offset_;
    memory = b.memory;
  }
  const VkResult r = vk.vkBindBufferMemory(dev, out.buffer_, memory, out.offset_);
  if (r != VK_SUCCESS) return vk_check(r, "vkBindBufferMemory");  // `out` gives its range back
  return out;
}

void Allocator::release(Buffer& buf) {
  if (buf.buffer_ == VK_NULL_HANDLE) return;
  const Api& vk = context_.api();
  vk.vkDestroyBuffer(context_.device(), buf.buffer_, nullptr);
  buf.buffer_ = VK_NULL_HANDLE;
  buf.context_ = nullptr;
  if (buf.reserved_ == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Block& b = blocks_[buf.block_];
  auto it = std::lower_bound(b.free.begin(), b.free.end(), buf.offset_,
                             [](const Range& r, uint64_t o) { return r.offset < o; });
  it = b.free.insert(it, {buf.offset_, buf.reserved_});
  // Merge with the neighbours.
  if (it + 1 != b.free.end() && it->offset + it->size == (it + 1)->offset) {
    it->size += (it + 1)->size;
    b.free.erase(it + 1);
  }
  if (it != b.free.begin() && (it - 1)->offset + (it - 1)->size == it->offset) {
    (it - 1)->size += it->size;
    it = b.free.erase(it) - 1;
  }
  // An empty block goes back to the driver: device memory is the scarce thing.
  if (b.free.size() == 1 && b.free[0].offset == 0 && b.free[0].size == b.size) {
    if (b.mapped != nullptr) vk.vkUnmapMemory(context_.device(), b.memory);
    vk.vkFreeMemory(context_.device(), b.memory, nullptr);
    (b.host ? allocated_host_ : allocated_) -= b.size;
    b = Block{};
  }
}

// ---- the context ----------------------------------------------------------------------------

Result<Context*> Context::get() {
  static Context* context = nullptr;
  static const Status status = [] {
    // Lives as long as the process: sessions may outlive main(). A device that failed its
    // self-test is kept open too, unused: destroying its instance unloads the driver, and
    // drivers (lavapipe's LLVM) leave allocations behind that nothing could then attribute.
    static Context* kept = nullptr;  // reachable: not a leak to LeakSanitizer
    kept = new Context();
    Status s = kept->init();
    if (s.is_ok()) s = kept->self_test();
    if (!s.is_ok()) return s;
    context = kept;
    return Status::ok();
  }();
  if (!status.is_ok()) return status;
  return context;
}

Context::~Context() {
  if (api_ == nullptr) return;
  if (device_ != VK_NULL_HANDLE) {
    api_->vkDeviceWaitIdle(device_);
    for (auto& [key, p] : pipelines_) {
      api_->vkDestroyPipeline(device_, p.pipeline, nullptr);
      api_->vkDestroyPipelineLayout(device_, p.layout, nullptr);
      api_->vkDestroyDescriptorSetLayout(device_, p.set_layout, nullptr);
    }
    allocator_.reset();
    if (fence_ != VK_NULL_HANDLE) api_->vkDestroyFence(device_, fence_, nullptr);
    if (pipeline_cache_ != VK_NULL_HANDLE) api_->vkDestroyPipelineCache(device_, pipeline_cache_, nullptr);
    if (command_pool_ != VK_NULL_HANDLE) api_->vkDestroyCommandPool(device_, command_pool_, nullptr);
    api_->vkDestroyDevice(device_, nullptr);
  }
  if (messenger_ != VK_NULL_HANDLE) api_->vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
  if (instance_ != VK_NULL_HANDLE) api_->vkDestroyInstance(instance_, nullptr);
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] == '1';
}

bool gpu_present() {
  static const bool present = [] {
    auto api = load_api();
    if (!api.is_ok()) return false;
    Api& vk = **api;
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    VkInstance instance = VK_NULL_HANDLE;
    if (vk.vkCreateInstance(&ci, nullptr, &instance) != VK_SUCCESS) return false;
    // A copy of the table with this probe instance's entries; Context::init loads its own.
    Api probe = vk;
    probe.load_instance(instance);
    bool gpu = false;
    if (auto device = choose_device(probe, instance); device.is_ok()) {
      VkPhysicalDeviceProperties p;
      probe.vkGetPhysicalDeviceProperties(*device, &p);
      gpu = p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU && p.deviceType != VK_PHYSICAL_DEVICE_TYPE_OTHER;
    }
    probe.vkDestroyInstance(instance, nullptr);
    return gpu;
  }();
  return present;
}

uint64_t Context::validation_messages() { return g_validation_messages.load(); }

Status Context::init() {
  TANDEM_ASSIGN_OR_RETURN(api_, load_api());
  const Api& vk = *api_;
  const char* validation = std::getenv("TANDEM_VULKAN_VALIDATION");
  const bool validate = validation != nullptr && (validation[0] == '1' || std::strcmp(validation, "fatal") == 0);
  staging_ = env_flag("TANDEM_VULKAN_STAGING");

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tandem";
  app.pEngineName = "tandem";
  app.apiVersion = VK_API_VERSION_1_1;
  std::vector<const char*> layers, extensions;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  if (validate) {
    uint32_t n = 0;
    vk.vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> available(n);
    vk.vkEnumerateInstanceLayerProperties(&n, available.data());
    const bool found = std::any_of(available.begin(), available.end(), [](const VkLayerProperties& l) {
      return std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
    });
    if (!found)
      return unavailable(
          "TANDEM_VULKAN_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed (apt-get install "
          "vulkan-validationlayers)");
    layers.push_back("VK_LAYER_KHRONOS_validation");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = enables;
    ci.pNext = &features;
  }
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  const VkResult created = vk.vkCreateInstance(&ci, nullptr, &instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER) {
    return unavailable(
        "no Vulkan driver found (the loader found no ICD): install the GPU's Vulkan driver, or "
        "mesa-vulkan-drivers for lavapipe on the CPU");
  }
  TANDEM_RETURN_IF_ERROR(vk_check(created, "vkCreateInstance"));
  api_->load_instance(instance_);
  if (validate && vk.vkCreateDebugUtilsMessengerEXT != nullptr) {
    VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mi.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mi.pfnUserCallback = on_validation;
    TANDEM_RETURN_IF_ERROR(vk_check(vk.vkCreateDebugUtilsMessengerEXT(instance_, &mi, nullptr, &messenger_),
                                    "vkCreateDebugUtilsMessengerEXT"));
  }

  TANDEM_ASSIGN_OR_RETURN(physical_, choose_device(vk, instance_));

  // Facts.
  std::vector<VkExtensionProperties> exts;
  {
    uint32_t n = 0;
    vk.vkEnumerateDeviceExtensionProperties(physical_, nullptr, &n, nullptr);
    exts.resize(n);
    vk.vkEnumerateDeviceExtensionProperties(physical_, nullptr, &n, exts.data());
  }
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &subgroup;
  const bool has_driver_props = has_extension(exts, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  if (has_driver_props) subgroup.pNext = &driver;
  vk.vkGetPhysicalDeviceProperties2(physical_, &props);
  const VkPhysicalDeviceProperties& p = props.properties;
  info_.name = p.deviceName;
  info_.type = type_name(p.deviceType);
  info_.is_gpu = p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU && p.deviceType != VK_PHYSICAL_DEVICE_TYPE_OTHER;
  info_.vendor_id = p.vendorID;
  info_.device_id = p.deviceID;
  info_.api_version = p.apiVersion;
  info_.driver = has_driver_props ? std::string(driver.driverName) + ": " + driver.driverInfo
                                  : "driver " + std::to_string(p.driverVersion);
  info_.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  info_.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  info_.max_push_constants = p.limits.maxPushConstantsSize;
  info_.subgroup_size = subgroup.subgroupSize;
  info_.timestamp_period_ns = p.limits.timestampPeriod;

  VkPhysicalDeviceShaderFloat16Int8Features f16i8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDevice16BitStorageFeatures s16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDevice8BitStorageFeatures s8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
  VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  feats.pNext = &s16;
  if (has_extension(exts, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)) s16.pNext = &f16i8;
  if (has_extension(exts, VK_KHR_8BIT_STORAGE_EXTENSION_NAME)) f16i8.pNext = &s8;
  vk.vkGetPhysicalDeviceFeatures2(physical_, &feats);
  info_.fp16 = f16i8.shaderFloat16 && s16.storageBuffer16BitAccess;
  info_.fp16_storage = s16.storageBuffer16BitAccess == VK_TRUE;
  info_.int8 = f16i8.shaderInt8 && s8.storageBuffer8BitAccess;

  // Memory: the largest device-local heap, and its budget when the driver reports one.
  vk.vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
  for (uint32_t h = 0; h < memory_.memoryHeapCount; ++h) {
    if ((memory_.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
        memory_.memoryHeaps[h].size > info_.device_local_bytes) {
      info_.device_local_bytes = memory_.memoryHeaps[h].size;
      device_heap_ = h;
    }
  }
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (uint32_t t = 0; t < memory_.memoryTypeCount; ++t) {
    const VkMemoryPropertyFlags f = memory_.memoryTypes[t].propertyFlags;
    if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (f & host) == host) info_.host_visible_device_memory = true;
  }
  info_.has_memory_budget = has_extension(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (info_.has_memory_budget) {
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 m2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    m2.pNext = &budget;
    vk.vkGetPhysicalDeviceMemoryProperties2(physical_, &m2);
    info_.budget_bytes = budget.heapBudget[device_heap_];
  }
  if (!info_.host_visible_device_memory) staging_ = true;

  // One compute queue.
  uint32_t families = 0;
  vk.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &families, nullptr);
  std::vector<VkQueueFamilyProperties> qf(families);
  vk.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &families, qf.data());
  int family = -1;
  for (uint32_t i = 0; i < families; ++i) {
    if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    // Prefer a compute family without graphics (async compute), then any.
    if (family < 0 || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) family = static_cast<int>(i);
  }
  if (family < 0) return unavailable(info_.name + " has no compute queue");
  queue_family_ = static_cast<uint32_t>(family);
  info_.timestamps = qf[queue_family_].timestampValidBits > 0 && info_.timestamp_period_ns > 0;

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qi.queueFamilyIndex = queue_family_;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  std::vector<const char*> dev_exts;
  if (info_.has_memory_budget) dev_exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  di.enabledExtensionCount = static_cast<uint32_t>(dev_exts.size());
  di.ppEnabledExtensionNames = dev_exts.data();
  VkPhysicalDevice16BitStorageFeatures enable16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  enable16.storageBuffer16BitAccess = VK_TRUE;
  if (info_.fp16_storage) di.pNext = &enable16;
  TANDEM_RETURN_IF_ERROR(vk_check(vk.vkCreateDevice(physical_, &di, nullptr, &device_), "vkCreateDevice"));
  TANDEM_RETURN_IF_ERROR(api_->load_device(device_));
  vk.vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pi.queueFamilyIndex = queue_family_;
  TANDEM_RETURN_IF_ERROR(
      vk_check(vk.vkCreateCommandPool(device_, &pi, nullptr, &command_pool_), "vkCreateCommandPool"));
  VkPipelineCacheCreateInfo pci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  TANDEM_RETURN_IF_ERROR(
      vk_check(vk.vkCreatePipelineCache(device_, &pci, nullptr, &pipeline_cache_), "vkCreatePipelineCache"));
  VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  TANDEM_RETURN_IF_ERROR(vk_check(vk.vkCreateFence(device_, &fi, nullptr, &fence_), "vkCreateFence"));
  allocator_ = std::make_unique<Allocator>(*this);
  return Status::ok();
}

uint64_t Context::memory_available() const {
  const uint64_t total =
      info_.has_memory_budget && info_.budget_bytes > 0 ? info_.budget_bytes : info_.device_local_bytes;
  const uint64_t held = allocator_ ? allocator_->allocated_bytes() : 0;
  return total > held ? total - held : 0;
}

Result<const Pipeline*> Context::pipeline(std::string_view shader, uint32_t bindings, uint32_t push_bytes,
                                          std::span<const uint32_t> specialization) {
  std::string key(shader);
  for (uint32_t v : specialization) {
    key.push_back(':');
    key.append(std::to_string(v));
  }
  std::lock_guard<std::mutex> lock(pipeline_mutex_);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return &it->second;
  const std::span<const uint32_t> code = shader_spirv(shader);
  if (code.empty()) return internal_error("no embedded shader '" + std::string(shader) + "'");
  const Api& vk = *api_;
  Pipeline p;
  p.bindings = bindings;
  p.push_bytes = push_bytes;
  std::vector<VkDescriptorSetLayoutBinding> b(bindings);
  for (uint32_t i = 0; i < bindings; ++i) {
    b[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  VkDescriptorSetLayoutCreateInfo li{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  li.bindingCount = bindings;
  li.pBindings = b.data();
  TANDEM_RETURN_IF_ERROR(
      vk_check(vk.vkCreateDescriptorSetLayout(device_, &li, nullptr, &p.set_layout), "vkCreateDescriptorSetLayout"));
  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &p.set_layout;
  pli.pushConstantRangeCount = push_bytes ? 1 : 0;
  pli.pPushConstantRanges = &range;
  TANDEM_RETURN_IF_ERROR(
      vk_check(vk.vkCreatePipelineLayout(device_, &pli, nullptr, &p.layout), "vkCreatePipelineLayout"));
  VkShaderModuleCreateInfo si{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  si.codeSize = code.size() * sizeof(uint32_t);
  si.pCode = code.data();
  VkShaderModule module = VK_NULL_HANDLE;
  TANDEM_RETURN_IF_ERROR(vk_check(vk.vkCreateShaderModule(device_, &si, nullptr, &module), "vkCreateShaderModule"));
  std::vector<VkSpecializationMapEntry> entries(specialization.size());
  for (uint32_t i = 0; i < entries.size(); ++i) entries[i] = {i, i * 4u, 4};
  VkSpecializationInfo spec{static_cast<uint32_t>(entries.size()), entries.data(), specialization.size() * 4,
                            specialization.data()};
  VkComputePipelineCreateInfo cpi{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cpi.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
               nullptr,
               0,
               VK_SHADER_STAGE_COMPUTE_BIT,
               module,
               "main",
               specialization.empty() ? nullptr : &spec};
  cpi.layout = p.layout;
  const VkResult r = vk.vkCreateComputePipelines(device_, pipeline_cache_, 1, &cpi, nullptr, &p.pipeline);
  vk.vkDestroyShaderModule(device_, module, nullptr);
  if (r != VK_SUCCESS) {
    vk.vkDestroyPipelineLayout(device_, p.layout, nullptr);
    vk.vkDestroyDescriptorSetLayout(device_, p.set_layout, nullptr);
    return vk_check(r, ("vkCreateComputePipelines (" + std::string(shader) + ")").c_str());
  }
  return &pipelines_.emplace(key, p).first->second;
}

VkDescriptorPool Context::descriptor_pool_for(uint32_t sets, uint32_t buffers) {
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, std::max(buffers, 1u)};
  VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  ci.maxSets = std::max(sets, 1u);
  ci.poolSizeCount = 1;
  ci.pPoolSizes = &size;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  if (api_->vkCreateDescriptorPool(device_, &ci, nullptr, &pool) != VK_SUCCESS) return VK_NULL_HANDLE;
  return pool;
}

Result<VkCommandBuffer> Context::allocate_command_buffer() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = command_pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  TANDEM_RETURN_IF_ERROR(vk_check(api_->vkAllocateCommandBuffers(device_, &ai, &cb), "vkAllocateCommandBuffers"));
  return cb;
}

void Context::free_command_buffer(VkCommandBuffer cb) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  api_->vkFreeCommandBuffers(device_, command_pool_, 1, &cb);
}

Status Context::submit_and_wait(VkCommandBuffer cb) {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  TANDEM_RETURN_IF_ERROR(vk_check(api_->vkQueueSubmit(queue_, 1, &si, fence_), "vkQueueSubmit"));
  // A bounded wait: a hung GPU becomes an error, not a hung process (60 s; lavapipe is slow).
  const VkResult r = api_->vkWaitForFences(device_, 1, &fence_, VK_TRUE, uint64_t{60} * 1000 * 1000 * 1000);
  api_->vkResetFences(device_, 1, &fence_);
  if (r == VK_TIMEOUT) return deadline_exceeded("the Vulkan device did not finish a run within 60 s");
  return vk_check(r, "vkWaitForFences");
}

}  // namespace tandem::vulkan
