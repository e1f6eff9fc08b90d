#include "backends/reference/kernels/common.h"

#include <algorithm>

namespace tandem::reference {

bool is_half(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

Result<Tensor> to_float32(const Tensor& t) {
  if (!is_half(t.dtype())) return t;
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(DType::kFloat32, t.shape()));
  const uint16_t* src = t.data<uint16_t>();
  float* dst = out.data<float>();
  const int64_t n = t.numel();
  if (t.dtype() == DType::kFloat16) {
    for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16_to_float(src[i]);
  }
  return out;
}

Result<Tensor> from_float32(const Tensor& t, DType dtype) {
  if (dtype == DType::kFloat32) return t;
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dtype, t.shape()));
  const float* src = t.data<float>();
  const int64_t n = t.numel();
  switch (dtype) {
    case DType::kFloat16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = float_to_half(src[i]);
      break;
    case DType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = float_to_bfloat16(src[i]);
      break;
    case DType::kFloat64:
      for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = src[i];
      break;
    default: return unsupported(std::string("cannot convert float32 to ") + dtype_name(dtype));
  }
  return out;
}

Result<Broadcaster> Broadcaster::make(const std::vector<Shape>& input_shapes) {
  Broadcaster b;
  Shape out;
  for (const Shape& s : input_shapes) {
    TANDEM_ASSIGN_OR_RETURN(out, graph::broadcast_shapes(out, s));
  }
  b.out_shape_ = out;
  b.size_ = shape_numel(out);
  if (b.size_ < 0) return invalid_argument("broadcast shape " + shape_to_string(out) + " overflows");
  const size_t rank = out.size();
  for (const Shape& s : input_shapes) {
    std::vector<int64_t> st(rank, 0);
    const std::vector<int64_t> own = strides_of(s);
    for (size_t d = 0; d < s.size(); ++d) {
      const size_t od = rank - s.size() + d;
      st[od] = s[d] == 1 ? 0 : own[d];
    }
    b.strides_.push_back(std::move(st));
  }
  return b;
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * std::max<int64_t>(shape[d], 1);
  return s;
}

Result<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

Result<std::vector<int64_t>> axes_from(const KernelContext& ctx, size_t input_index, const char* attr_name,
                                       int64_t rank) {
  std::vector<int64_t> axes;
  if (ctx.has_input(input_index)) {
    axes = ctx.input(input_index).to_int64_vector();
  } else {
    axes = ctx.node().attr_ints(attr_name);
  }
  for (int64_t& a : axes) {
    TANDEM_ASSIGN_OR_RETURN(a, normalize_axis(a, rank));
  }
  return axes;
}

}  // namespace tandem::reference
