#include "backends/vulkan/program.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

#include <fp16.h>

namespace tandem::vulkan {
namespace {

Status check(VkResult r, const char* what) {
  if (r == VK_SUCCESS) return Status::ok();
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_POOL_MEMORY) {
    return out_of_memory(std::string(what) + ": " + result_name(r));
  }
  return internal_error(std::string(what) + " failed: " + result_name(r));
}

void memory_barrier(const Api& vk, VkCommandBuffer cb, VkPipelineStageFlags src_stage, VkAccessFlags src,
                    VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = src;
  b.dstAccessMask = dst;
  vk.vkCmdPipelineBarrier(cb, src_stage, dst_stage, 0, 1, &b, 0, nullptr, 0, nullptr);
}

}  // namespace

void Program::grid(uint64_t count, uint32_t groups[3]) {
  constexpr uint64_t kMaxX = 65535;
  groups[0] = static_cast<uint32_t>(std::min(count, kMaxX));
  groups[1] = static_cast<uint32_t>(count == 0 ? 0 : (count + kMaxX - 1) / kMaxX);
  groups[2] = 1;
}

Program::~Program() {
  const Api& vk = context_.api();
  if (cb_ != VK_NULL_HANDLE) context_.free_command_buffer(cb_);
  if (pool_ != VK_NULL_HANDLE) vk.vkDestroyDescriptorPool(context_.device(), pool_, nullptr);
  if (queries_ != VK_NULL_HANDLE) vk.vkDestroyQueryPool(context_.device(), queries_, nullptr);
}

uint32_t Program::add_slot(SlotType type, int64_t numel) {
  Slot s;
  s.type = type;
  s.numel = numel;
  slots_.push_back(std::move(s));
  return static_cast<uint32_t>(slots_.size() - 1);
}

uint32_t Program::add_alias(uint32_t of, int64_t numel) {
  Slot s;
  s.type = slots_[of].type;
  s.numel = numel;
  s.alias_of = root(of);
  slots_.push_back(std::move(s));
  return static_cast<uint32_t>(slots_.size() - 1);
}

Status Program::set_index_bound(uint32_t slot, int64_t bound) {
  Slot& s = slots_[root(slot)];
  if (s.index_bound != 0 && s.index_bound != bound)
    return unsupported("indices shared by two Gathers of different sizes");
  s.index_bound = bound;
  return Status::ok();
}

// Buffers by liveness: a value's buffer returns to a free list after the last step that reads
// it and serves a later value (the barrier between steps orders the reuse). Inputs, outputs and
// constants keep theirs.
Status Program::assign_buffers() {
  const size_t n = slots_.size();
  std::vector<int> first(n, -1), last(n, -1);
  std::vector<bool> pinned(n, false);
  for (uint32_t s : inputs_) pinned[root(s)] = true;
  for (uint32_t s : outputs_) pinned[root(s)] = true;
  for (uint32_t s = 0; s < n; ++s) {
    if (slots_[root(s)].shared) pinned[root(s)] = true;  // a constant: its buffer is shared
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (uint32_t s : steps_[i].slots) {
      const uint32_t r = root(s);
      if (first[r] < 0) first[r] = static_cast<int>(i);
      last[r] = static_cast<int>(i);
    }
  }
  std::vector<int> free_list;  // indices into buffers_
  auto take = [&](uint32_t r) -> Status {
    const uint64_t bytes = slot_bytes(r);
    int best = -1;
    for (size_t k = 0; k < free_list.size(); ++k) {
      const uint64_t size = buffers_[static_cast<size_t>(free_list[k])].size();
      if (size >= bytes && size <= 2 * bytes + 4096 &&
          (best < 0 || size < buffers_[static_cast<size_t>(free_list[static_cast<size_t>(best)])].size())) {
        best = static_cast<int>(k);
      }
    }
    if (best >= 0) {
      slots_[r].buffer = free_list[static_cast<size_t>(best)];
      free_list.erase(free_list.begin() + best);
      return Status::ok();
    }
    TANDEM_ASSIGN_OR_RETURN(Buffer b, context_.allocator().allocate(bytes, false));
    device_bytes_ += b.size();
    buffers_.push_back(std::move(b));
    slots_[r].buffer = static_cast<int>(buffers_.size() - 1);
    return Status::ok();
  };
  // Pinned roots first (they live throughout), then the rest in step order.
  for (uint32_t r = 0; r < n; ++r) {
    if (root(r) == r && pinned[r] && !slots_[r].shared) TANDEM_RETURN_IF_ERROR(take(r));
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (uint32_t s : steps_[i].slots) {
      const uint32_t r = root(s);
      if (slots_[r].buffer < 0 && !slots_[r].shared) TANDEM_RETURN_IF_ERROR(take(r));
    }
    for (uint32_t s : steps_[i].slots) {
      const uint32_t r = root(s);
      if (!pinned[r] && last[r] == static_cast<int>(i) && slots_[r].buffer >= 0 &&
          std::find(free_list.begin(), free_list.end(), slots_[r].buffer) == free_list.end()) {
        free_list.push_back(slots_[r].buffer);
      }
    }
  }
  // Staging twins for the host's inputs and outputs.
  if (context_.staging()) {
    for (uint32_t s : inputs_) {
      if (!slots_[root(s)].staging.valid()) {
        TANDEM_ASSIGN_OR_RETURN(slots_[root(s)].staging, context_.allocator().allocate(slot_bytes(root(s)), true));
      }
    }
    for (uint32_t s : outputs_) {
      if (!slots_[root(s)].staging.valid()) {
        TANDEM_ASSIGN_OR_RETURN(slots_[root(s)].staging, context_.allocator().allocate(slot_bytes(root(s)), true));
      }
    }
  }
  return Status::ok();
}

void* Program::host_view(uint32_t slot) {
  Slot& s = slots_[root(slot)];
  if (s.staging.valid()) return s.staging.mapped();
  return device_buffer(root(slot)).mapped();
}

Status Program::write_slot(uint32_t slot, const Tensor& t, void* dst) {
  const Slot& s = slots_[root(slot)];
  const int64_t n = t.numel();
  if (n != slots_[slot].numel)
    return internal_error("a Vulkan input has " + std::to_string(n) + " elements, planned " +
                          std::to_string(slots_[slot].numel));
  if (s.type == SlotType::kFloat) {
    if (t.dtype() != DType::kFloat32)
      return internal_error("a Vulkan float input is " + std::string(dtype_name(t.dtype())));
    if (fp16_) {
      const float* in = t.data<float>();
      auto* out = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = fp16_ieee_from_fp32_value(in[i]);
    } else {
      std::memcpy(dst, t.raw_data(), static_cast<size_t>(n) * 4);
    }
    return Status::ok();
  }
  auto* out = static_cast<int32_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = t.dtype() == DType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
    if (s.index_bound > 0) {
      if (v < -s.index_bound || v >= s.index_bound) {
        return invalid_argument("Gather index " + std::to_string(v) + " is out of range for an axis of " +
                                std::to_string(s.index_bound));
      }
      if (v < 0) v += s.index_bound;
    }
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      return unsupported("the Vulkan backend keeps int64 tensors as int32; " + std::to_string(v) + " does not fit");
    }
    out[i] = static_cast<int32_t>(v);
  }
  return Status::ok();
}

Status Program::read_slot(uint32_t slot, const void* src, Tensor& t) {
  const int64_t n = slots_[slot].numel;
  if (t.numel() != n) return internal_error("a Vulkan output's size differs from its plan");
  if (slots_[root(slot)].type == SlotType::kFloat) {
    if (fp16_) {
      const auto* in = static_cast<const uint16_t*>(src);
      float* out = t.data<float>();
      for (int64_t i = 0; i < n; ++i) out[i] = fp16_ieee_to_fp32_value(in[i]);
    } else {
      std::memcpy(t.raw_data(), src, static_cast<size_t>(n) * 4);
    }
    return Status::ok();
  }
  const auto* in = static_cast<const int32_t*>(src);
  if (t.dtype() == DType::kInt64) {
    for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = in[i];
  } else {
    std::memcpy(t.raw_data(), src, static_cast<size_t>(n) * 4);
  }
  return Status::ok();
}

namespace {

struct ConstantKey {
  const void* data;
  int64_t numel;
  DType dtype;
  SlotType type;
  bool fp16;
  int64_t index_bound;
  auto operator<=>(const ConstantKey&) const = default;
};

std::mutex& constants_mutex() {
  static std::mutex m;
  return m;
}
std::map<ConstantKey, std::weak_ptr<DeviceConstant>>& constants() {
  static std::map<ConstantKey, std::weak_ptr<DeviceConstant>> c;
  return c;
}

}  // namespace

// Writes `value` into `device`: in place where the host can map it, else through a staging
// buffer and one copy (waited for, so later submits see it).
Status Program::upload(uint32_t slot, const Tensor& value, Buffer& device) {
  if (device.mapped() != nullptr) return write_slot(slot, value, device.mapped());
  TANDEM_ASSIGN_OR_RETURN(Buffer staged, context_.allocator().allocate(slot_bytes(slot), true));
  TANDEM_RETURN_IF_ERROR(write_slot(slot, value, staged.mapped()));
  const Api& vk = context_.api();
  TANDEM_ASSIGN_OR_RETURN(VkCommandBuffer cb, context_.allocate_command_buffer());
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vk.vkBeginCommandBuffer(cb, &bi);
  VkBufferCopy region{0, 0, slot_bytes(slot)};
  vk.vkCmdCopyBuffer(cb, staged.handle(), device.handle(), 1, &region);
  vk.vkEndCommandBuffer(cb);
  const Status s = context_.submit_and_wait(cb);
  context_.free_command_buffer(cb);
  return s;
}

// Each constant's device copy: the one another program already holds (same host bytes, same
// form), or a new upload that later programs find. Under the cache's lock from lookup to
// upload, so no program sees a buffer before its bytes are there.
Status Program::share_constants() {
  std::lock_guard<std::mutex> lock(constants_mutex());
  auto& cache = constants();
  std::erase_if(cache, [](const auto& entry) { return entry.second.expired(); });
  for (uint32_t r = 0; r < slots_.size(); ++r) {
    Slot& s = slots_[r];
    if (root(r) != r || !s.constant.defined()) continue;
    const ConstantKey key{s.constant.raw_data(), s.constant.numel(), s.constant.dtype(), s.type, fp16_, s.index_bound};
    if (auto it = cache.find(key); it != cache.end()) {
      if ((s.shared = it->second.lock())) {
        s.constant = Tensor();
        continue;
      }
    }
    auto shared = std::make_shared<DeviceConstant>();
    TANDEM_ASSIGN_OR_RETURN(shared->buffer, context_.allocator().allocate(slot_bytes(r), false));
    TANDEM_RETURN_IF_ERROR(upload(r, s.constant, shared->buffer));
    device_bytes_ += shared->buffer.size();
    shared->host = std::move(s.constant);
    s.constant = Tensor();
    cache[key] = shared;
    s.shared = std::move(shared);
  }
  return Status::ok();
}

Status Program::record() {
  const Api& vk = context_.api();
  VkDevice dev = context_.device();
  uint32_t bindings = 0;
  for (const Step& s : steps_) bindings += static_cast<uint32_t>(s.slots.size());
  pool_ = context_.descriptor_pool_for(static_cast<uint32_t>(steps_.size()), bindings);
  if (pool_ == VK_NULL_HANDLE) return out_of_memory("a Vulkan descriptor pool");
  sets_.resize(steps_.size());
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pool_;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &s.pipeline->set_layout;
    TANDEM_RETURN_IF_ERROR(check(vk.vkAllocateDescriptorSets(dev, &ai, &sets_[i]), "vkAllocateDescriptorSets"));
    std::vector<VkDescriptorBufferInfo> infos(s.slots.size());
    std::vector<VkWriteDescriptorSet> writes(s.slots.size());
    for (size_t k = 0; k < s.slots.size(); ++k) {
      const uint32_t r = root(s.slots[k]);
      infos[k] = {device_buffer(r).handle(), 0, slot_bytes(r)};
      writes[k] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      writes[k].dstSet = sets_[i];
      writes[k].dstBinding = static_cast<uint32_t>(k);
      writes[k].descriptorCount = 1;
      writes[k].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[k].pBufferInfo = &infos[k];
    }
    vk.vkUpdateDescriptorSets(dev, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
  }

  profile_ = env_flag("TANDEM_VULKAN_PROFILE") && context_.info().timestamps;
  const auto queries = static_cast<uint32_t>(steps_.size() + 1);
  if (profile_) {
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = queries;
    TANDEM_RETURN_IF_ERROR(check(vk.vkCreateQueryPool(dev, &qi, nullptr, &queries_), "vkCreateQueryPool"));
  }

  TANDEM_ASSIGN_OR_RETURN(cb_, context_.allocate_command_buffer());
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vk.vkBeginCommandBuffer(cb_, &bi);
  // The host's writes are visible to the device at submit; with staging, copy them over first.
  if (context_.staging()) {
    for (uint32_t s : inputs_) {
      const uint32_t r = root(s);
      VkBufferCopy region{0, 0, slot_bytes(r)};
      vk.vkCmdCopyBuffer(cb_, slots_[r].staging.handle(), device_buffer(r).handle(), 1, &region);
    }
    memory_barrier(vk, cb_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  }
  if (profile_) {
    vk.vkCmdResetQueryPool(cb_, queries_, 0, queries);
    vk.vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    if (i > 0) {
      // Each step reads what earlier steps wrote and may overwrite a buffer they read.
      memory_barrier(vk, cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    }
    vk.vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, s.pipeline->pipeline);
    vk.vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, s.pipeline->layout, 0, 1, &sets_[i], 0, nullptr);
    if (!s.push.empty()) {
      vk.vkCmdPushConstants(cb_, s.pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                            static_cast<uint32_t>(s.push.size() * 4), s.push.data());
    }
    if (s.groups[0] && s.groups[1] && s.groups[2]) vk.vkCmdDispatch(cb_, s.groups[0], s.groups[1], s.groups[2]);
    if (profile_)
      vk.vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, queries_, static_cast<uint32_t>(i + 1));
  }
  if (context_.staging()) {
    memory_barrier(vk, cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                   VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    for (uint32_t s : outputs_) {
      const uint32_t r = root(s);
      VkBufferCopy region{0, 0, slot_bytes(r)};
      vk.vkCmdCopyBuffer(cb_, device_buffer(r).handle(), slots_[r].staging.handle(), 1, &region);
    }
    memory_barrier(vk, cb_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_HOST_READ_BIT);
  } else {
    memory_barrier(vk, cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                   VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  }
  return check(vk.vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
}

Status Program::finalize(std::vector<uint32_t> inputs, std::vector<uint32_t> outputs) {
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
  TANDEM_RETURN_IF_ERROR(share_constants());
  TANDEM_RETURN_IF_ERROR(assign_buffers());
  return record();
}

Status Program::run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  for (size_t i = 0; i < inputs_.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(write_slot(inputs_[i], *inputs[i], host_view(inputs_[i])));
  }
  TANDEM_RETURN_IF_ERROR(context_.submit_and_wait(cb_));
  for (size_t i = 0; i < outputs_.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(read_slot(outputs_[i], host_view(outputs_[i]), *outputs[i]));
  }
  return Status::ok();
}

std::vector<std::pair<std::string, double>> Program::last_profile() const {
  std::vector<std::pair<std::string, double>> out;
  if (!profile_) return out;
  std::vector<uint64_t> ts(steps_.size() + 1);
  const Api& vk = context_.api();
  if (vk.vkGetQueryPoolResults(context_.device(), queries_, 0, static_cast<uint32_t>(ts.size()), ts.size() * 8,
                               ts.data(), 8, VK_QUERY_RESULT_64_BIT) != VK_SUCCESS) {
    return out;
  }
  const double period = context_.info().timestamp_period_ns;
  for (size_t i = 0; i < steps_.size(); ++i) {
    out.emplace_back(steps_[i].label, static_cast<double>(ts[i + 1] - ts[i]) * period / 1e6);
  }
  return out;
}

}  // namespace tandem::vulkan
