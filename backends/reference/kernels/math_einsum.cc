// Reference kernel: Einsum. The equation is parsed into labels; every input gets
// a stride per label (repeated labels in one term add their strides, which walks
// the diagonal), and one odometer over all labels accumulates the products.
// Two-operand contractions that are plain batched matrix products could go to
// GEMM; the odometer keeps this kernel general and simple.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/math_common.h"
#include "core/graph/ops/math_einsum.h"

namespace tandem::reference {
namespace {

using graph::EinsumPlan;
using graph::plan_einsum;
using mathk::emit_from_float32;

template <typename T>
void einsum_run(const EinsumPlan& plan, const std::vector<const T*>& inputs, T* out, int64_t out_numel) {
  // Loop labels: output labels (outer) then the contracted ones.
  std::vector<int> loop = plan.output_labels;
  std::vector<bool> in_out(plan.sizes.size(), false);
  for (int l : plan.output_labels) in_out[static_cast<size_t>(l)] = true;
  for (size_t l = 0; l < plan.sizes.size(); ++l) {
    if (plan.sizes[l] >= 0 && !in_out[l]) loop.push_back(static_cast<int>(l));
  }
  const size_t nl = loop.size(), ni = inputs.size();
  std::vector<int64_t> extent(nl);
  // strides[k * nl + d]: stride of loop dim d in operand k (k == ni: output).
  std::vector<int64_t> strides((ni + 1) * nl, 0);
  for (size_t d = 0; d < nl; ++d) extent[d] = plan.sizes[static_cast<size_t>(loop[d])];
  for (size_t k = 0; k < ni; ++k) {
    const std::vector<int>& labels = plan.input_labels[k];
    int64_t s = 1;
    for (size_t dd = labels.size(); dd-- > 0;) {
      const size_t d = static_cast<size_t>(std::find(loop.begin(), loop.end(), labels[dd]) - loop.begin());
      const int64_t n = plan.input_dims[k][dd];
      if (n != 1) strides[k * nl + d] += s;  // broadcast ellipsis dims of size 1 stay at stride 0
      s *= n;
    }
  }
  {
    int64_t s = 1;
    for (size_t dd = plan.output_labels.size(); dd-- > 0;) {
      strides[ni * nl + dd] = s;
      s *= plan.sizes[static_cast<size_t>(plan.output_labels[dd])];
    }
  }
  std::fill(out, out + out_numel, T{});
  int64_t total = 1;
  for (int64_t e : extent) total *= e;
  if (total == 0) return;
  std::vector<int64_t> index(nl, 0), offs(ni + 1, 0);
  for (int64_t it = 0; it < total; ++it) {
    T prod = inputs[0][offs[0]];
    for (size_t k = 1; k < ni; ++k) prod *= inputs[k][offs[k]];
    out[offs[ni]] += prod;
    for (size_t d = nl; d-- > 0;) {
      ++index[d];
      for (size_t k = 0; k <= ni; ++k) offs[k] += strides[k * nl + d];
      if (index[d] < extent[d]) break;
      for (size_t k = 0; k <= ni; ++k) offs[k] -= strides[k * nl + d] * extent[d];
      index[d] = 0;
    }
  }
}

Status einsum(KernelContext& ctx) {
  const size_t n = ctx.num_inputs();
  if (n == 0) return ctx.error("needs at least one input");
  const DType dtype = ctx.input(0).dtype();
  std::vector<Shape> shapes;
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is missing");
    if (ctx.input(i).dtype() != dtype) return ctx.error("inputs must share one dtype");
    shapes.push_back(ctx.input(i).shape());
  }
  auto plan_or = plan_einsum(ctx.node().attr_string("equation", ""), shapes);
  if (!plan_or.is_ok()) return ctx.error(plan_or.status().message());
  const EinsumPlan plan = std::move(plan_or).value();

  const bool half = is_half(dtype);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < n; ++i) {
    TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(ctx.input(i)));
    xs.push_back(std::move(x));
  }
  Tensor y;
  if (half) {
    TANDEM_ASSIGN_OR_RETURN(y, Tensor::allocate(DType::kFloat32, plan.output_shape));
  } else {
    TANDEM_ASSIGN_OR_RETURN(y, ctx.allocate_output(0, dtype, plan.output_shape));
  }
  TANDEM_RETURN_IF_ERROR(visit_numeric(half ? DType::kFloat32 : dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    std::vector<const T*> ptrs;
    for (const Tensor& x : xs) ptrs.push_back(x.data<T>());
    einsum_run<T>(plan, ptrs, y.data<T>(), y.numel());
    return Status::ok();
  }));
  if (half) return emit_from_float32(ctx, 0, y, dtype);
  return Status::ok();
}

}  // namespace

void register_math_einsum_kernels() { register_kernel("", "Einsum", einsum); }

}  // namespace tandem::reference
