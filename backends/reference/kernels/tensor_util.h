// Helpers shared by the tensor-family kernels (tensor*.cc): raw element
// dispatch, strided copies, and validated reading of shape-like inputs.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backends/reference/kernels/common.h"

namespace tandem::reference::tensor_detail {

// Data movement does not care what an element means, only its size: calls
// fn(T{}) with an unsigned integer of the dtype's width, or std::string.
template <typename Fn>
Status visit_bytes(DType dtype, Fn&& fn) {
  if (dtype == DType::kString) return fn(std::string{});
  switch (dtype_size(dtype)) {
    case 1: return fn(uint8_t{});
    case 2: return fn(uint16_t{});
    case 4: return fn(uint32_t{});
    case 8: return fn(uint64_t{});
    default: return unsupported(std::string("dtype ") + dtype_name(dtype) + " is not supported here");
  }
}

// Copies a strided view of src into contiguous dst. out_shape is the view's
// shape; src_strides (in elements, may be 0 or negative) walk src from `base`.
// Covers Transpose, Slice, Expand, Tile and DepthToSpace.
template <typename T>
void strided_copy(const T* src, int64_t base, const Shape& out_shape, const std::vector<int64_t>& src_strides,
                  T* dst) {
  const int64_t n = shape_numel(out_shape);
  if (n <= 0) return;
  const size_t r = out_shape.size();
  if (r == 0) {
    dst[0] = src[base];
    return;
  }
  const int64_t last = out_shape[r - 1];
  const int64_t ls = src_strides[r - 1];
  std::vector<int64_t> idx(r, 0);
  int64_t off = base;
  for (int64_t o = 0; o < n; o += last) {
    const T* s = src + off;
    if (ls == 1) {
      std::copy_n(s, last, dst + o);
    } else if (ls == 0) {
      std::fill_n(dst + o, last, s[0]);
    } else {
      for (int64_t j = 0; j < last; ++j) dst[o + j] = s[j * ls];
    }
    for (size_t d = r - 1; d-- > 0;) {
      off += src_strides[d];
      if (++idx[d] < out_shape[d]) break;
      off -= src_strides[d] * out_shape[d];
      idx[d] = 0;
    }
  }
}

// Dispatches strided_copy on the tensors' dtype; view_shape has dst's numel.
inline Status strided_copy_tensor(const Tensor& src, int64_t base, const Shape& view_shape,
                                  const std::vector<int64_t>& src_strides, Tensor& dst) {
  return visit_bytes(src.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    strided_copy<T>(src.data<T>(), base, view_shape, src_strides, dst.data<T>());
    return Status::ok();
  });
}

// Element i of src copied to element j of dst (same dtype); for rare paths.
inline void copy_element(const Tensor& src, int64_t i, Tensor& dst, int64_t j) {
  if (src.dtype() == DType::kString) {
    dst.strings()[static_cast<size_t>(j)] = src.strings()[static_cast<size_t>(i)];
    return;
  }
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw_data()) + static_cast<size_t>(j) * es,
              static_cast<const char*>(src.raw_data()) + static_cast<size_t>(i) * es, es);
}

// Reads a shape-like input (integer dtype, rank 0 or 1) as int64 values.
inline Result<std::vector<int64_t>> int_list_input(const KernelContext& ctx, size_t i, const char* what) {
  const Tensor& t = ctx.input(i);
  if (!dtype_is_integer(t.dtype())) {
    return ctx.error(std::string(what) + " must be an integer tensor, got " + dtype_name(t.dtype()));
  }
  if (t.rank() > 1) {
    return ctx.error(std::string(what) + " must be a 1-D tensor, got shape " + shape_to_string(t.shape()));
  }
  return t.to_int64_vector();
}

// Reads index element i of an int32/int64 indices tensor.
inline int64_t index_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
}

inline Status check_indices_dtype(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) {
    return ctx.error(std::string(what) + " must be int32 or int64, got " + dtype_name(t.dtype()));
  }
  return Status::ok();
}

// Wraps a kernel: input 0 must be present and every present input a tensor
// (a sequence or an undefined value reaching these kernels is a malformed model).
template <KernelFn F>
Status tensor_inputs(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("input 0 is required");
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && (!ctx.input_value(i).is_tensor() || !ctx.input(i).defined())) {
      return ctx.error("input " + std::to_string(i) + " must be a tensor");
    }
  }
  return F(ctx);
}

// A one-element tensor of dtype holding v (numeric, bool or half types).
Result<Tensor> scalar_of(DType dtype, double v);

// Kernel groups, registered by register_tensor_kernels() in tensor.cc.
void register_tensor_movement_kernels();
void register_tensor_index_kernels();
void register_tensor_misc_kernels();

}  // namespace tandem::reference::tensor_detail
