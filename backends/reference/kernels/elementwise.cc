// Reference kernels: elementwise family. The kernels live in
// elementwise_unary.cc, elementwise_binary.cc and elementwise_cast.cc; this
// file holds their shared helpers and the family's registration.
#include "backends/reference/kernels/elementwise_internal.h"

namespace tandem::reference {

Result<const Tensor*> ew_tensor_input(const KernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is required");
  const Value& v = ctx.input_value(i);
  if (!v.is_tensor() || !v.tensor().defined()) return ctx.error("input " + std::to_string(i) + " must be a tensor");
  return &v.tensor();
}

Result<EwPlan> ew_make_plan(const std::vector<Shape>& input_shapes) {
  EwPlan plan;
  for (const Shape& s : input_shapes) {
    TANDEM_ASSIGN_OR_RETURN(plan.out_shape, graph::broadcast_shapes(plan.out_shape, s));
  }
  plan.numel = shape_numel(plan.out_shape);
  if (plan.numel < 0) return invalid_argument("broadcast shape " + shape_to_string(plan.out_shape) + " overflows");
  const size_t rank = plan.out_shape.size();
  const size_t n_in = input_shapes.size();

  // Full-rank strides per input (0 where broadcast), skipping output dims of size 1.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides(n_in);
  std::vector<std::vector<int64_t>> own(n_in);
  for (size_t k = 0; k < n_in; ++k) own[k] = strides_of(input_shapes[k]);
  for (size_t d = 0; d < rank; ++d) {
    if (plan.out_shape[d] == 1) continue;
    dims.push_back(plan.out_shape[d]);
    for (size_t k = 0; k < n_in; ++k) {
      const Shape& s = input_shapes[k];
      const size_t lead = rank - s.size();
      const bool present = d >= lead && s[d - lead] != 1;
      strides[k].push_back(present ? own[k][d - lead] : 0);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (auto& st : strides) st.push_back(0);
  }

  // Merge dim d into its inner neighbour where every input walks them as one.
  plan.dims.push_back(dims[0]);
  plan.strides.assign(n_in, {});
  for (size_t k = 0; k < n_in; ++k) plan.strides[k].push_back(strides[k][0]);
  for (size_t d = 1; d < dims.size(); ++d) {
    bool mergeable = true;
    for (size_t k = 0; k < n_in && mergeable; ++k) {
      mergeable = plan.strides[k].back() == strides[k][d] * dims[d];
    }
    if (mergeable) {
      plan.dims.back() *= dims[d];
      for (size_t k = 0; k < n_in; ++k) plan.strides[k].back() = strides[k][d];
    } else {
      plan.dims.push_back(dims[d]);
      for (size_t k = 0; k < n_in; ++k) plan.strides[k].push_back(strides[k][d]);
    }
  }
  return plan;
}

Status ew_store_output(KernelContext& ctx, size_t i, const Tensor& computed) {
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(i, computed.dtype(), computed.shape()));
  if (computed.dtype() == DType::kString) {
    for (size_t j = 0; j < computed.strings().size(); ++j) out.strings()[j] = computed.strings()[j];
  } else if (computed.byte_size() > 0) {
    std::memcpy(out.raw_data(), computed.raw_data(), computed.byte_size());
  }
  return Status::ok();
}

void register_elementwise_kernels() {
  register_elementwise_unary_kernels();
  register_elementwise_binary_kernels();
  register_elementwise_cast_kernels();
}

}  // namespace tandem::reference
