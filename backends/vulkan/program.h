// A partition compiled for the device: a slot per value (device buffers reused once a value's
// last reader has run), one step per kernel dispatch, and one command buffer recorded at compile
// time and submitted by every run (the shapes are fixed per compile). Between steps a
// compute -> compute barrier; host transfers are mapped copies, or staging buffers with transfer
// barriers on devices whose memory the host cannot map. With fp16 storage, float slots hold fp16
// (half the memory and bandwidth), converted on the host on the way in and out; the shaders'
// _f16 variants compute in fp32.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "backends/vulkan/context.h"
#include "core/runtime/tensor.h"

namespace tandem::vulkan {

// int64 tensors (indices, masks) live on the device as int32: kIndex slots convert on the way
// in and out, refusing values that do not fit.
enum class SlotType { kFloat, kIndex };

// A constant (weights) on the device, shared by every program that reads the same host tensor
// in the same form: a session compiles one program per set of input shapes, and its weights
// belong on the device once.
struct DeviceConstant {
  Buffer buffer;
  Tensor host;  // holds the host bytes (the cache's key) so their address cannot be reused while shared
};

struct Step {
  const Pipeline* pipeline = nullptr;
  std::vector<uint32_t> slots;  // one per binding, in binding order
  std::vector<uint32_t> push;   // push-constant words
  uint32_t groups[3] = {1, 1, 1};
  std::string label;  // the node, for profiles: "conv1 (FusedConv)"
};

class Program {
 public:
  explicit Program(Context& context, bool fp16 = false) : context_(context), fp16_(fp16) {}
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  uint32_t add_slot(SlotType type, int64_t numel);
  // A slot that shares `root`'s buffer (Reshape and friends: same bytes, another shape).
  uint32_t add_alias(uint32_t root, int64_t numel);
  SlotType slot_type(uint32_t slot) const { return slots_[slot].type; }
  // The embedded shader for this program's storage: NAME or NAME_f16.
  std::string shader(std::string_view name) const { return fp16_ ? std::string(name) + "_f16" : std::string(name); }
  int64_t slot_numel(uint32_t slot) const { return slots_[slot].numel; }
  // Gather indices must lie in [-bound, bound): checked (and made non-negative) on upload.
  Status set_index_bound(uint32_t slot, int64_t bound);
  // Constants are uploaded at finalize(), or found on the device already (DeviceConstant).
  void set_constant(uint32_t slot, Tensor value) { slots_[root(slot)].constant = std::move(value); }
  void add_step(Step step) { steps_.push_back(std::move(step)); }
  size_t steps() const { return steps_.size(); }

  // Allocates the buffers (constants uploaded), writes the descriptor sets, records the command
  // buffer. `inputs` are written by the host before each run, `outputs` read after it.
  Status finalize(std::vector<uint32_t> inputs, std::vector<uint32_t> outputs);
  // One run: inputs[i] into slot inputs()[i]; outputs[i] (allocated by the caller, right dtype
  // and size) from slot outputs()[i].
  Status run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs);

  // Per-step GPU times of the last run (ms; empty without timestamps or profiling).
  std::vector<std::pair<std::string, double>> last_profile() const;
  uint64_t device_bytes() const { return device_bytes_; }

  // Grid for `count` workgroups: x up to 65535, the rest in y (shaders use flat_group()).
  static void grid(uint64_t count, uint32_t groups[3]);

 private:
  struct Slot {
    SlotType type = SlotType::kFloat;
    int64_t numel = 0;
    uint32_t alias_of = UINT32_MAX;          // UINT32_MAX: owns its buffer
    int64_t index_bound = 0;                 // > 0: gather indices in [-bound, bound)
    Tensor constant;                         // defined: uploaded once
    int buffer = -1;                         // into buffers_ (roots only)
    Buffer staging;                          // host-visible twin for inputs/outputs when staging
    std::shared_ptr<DeviceConstant> shared;  // constants: the device copy, instead of `buffer`
  };
  uint32_t root(uint32_t s) const { return slots_[s].alias_of == UINT32_MAX ? s : slots_[s].alias_of; }
  uint64_t element_bytes(uint32_t s) const { return fp16_ && slots_[root(s)].type == SlotType::kFloat ? 2 : 4; }
  // Rounded up to whole words.
  uint64_t slot_bytes(uint32_t s) const {
    return (static_cast<uint64_t>(std::max<int64_t>(slots_[s].numel, 1)) * element_bytes(s) + 3) / 4 * 4;
  }
  Status assign_buffers();
  Status share_constants();
  Status upload(uint32_t slot, const Tensor& value, Buffer& device);
  const Buffer& device_buffer(uint32_t r) const {
    return slots_[r].shared ? slots_[r].shared->buffer : buffers_[static_cast<size_t>(slots_[r].buffer)];
  }
  Status record();
  Status write_slot(uint32_t slot, const Tensor& t, void* dst);
  Status read_slot(uint32_t slot, const void* src, Tensor& t);
  void* host_view(uint32_t slot);  // mapped buffer or its staging twin

  Context& context_;
  bool fp16_ = false;
  std::vector<Slot> slots_;
  std::vector<Step> steps_;
  std::vector<Buffer> buffers_;
  std::vector<uint32_t> inputs_, outputs_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorSet> sets_;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  bool profile_ = false;
  uint64_t device_bytes_ = 0;
  std::mutex run_mutex_;  // a program's buffers serve one run at a time
};

}  // namespace tandem::vulkan
