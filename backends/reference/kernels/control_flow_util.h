// Helpers shared by the control-flow and sequence kernels: moving whole
// slices of tensors of any dtype (strings included), and detaching values
// from arena memory before they outlive the node that produced them.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "backends/reference/kernels/common.h"

namespace tandem::reference {

// Copies n elements src[src_off..] -> dst[dst_off..] (same dtype).
inline void copy_elements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t n) {
  if (n <= 0) return;
  if (src.dtype() == DType::kString) {
    for (int64_t i = 0; i < n; ++i) {
      dst.strings()[static_cast<size_t>(dst_off + i)] = src.strings()[static_cast<size_t>(src_off + i)];
    }
    return;
  }
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<uint8_t*>(dst.raw_data()) + static_cast<size_t>(dst_off) * es,
              static_cast<const uint8_t*>(src.raw_data()) + static_cast<size_t>(src_off) * es,
              static_cast<size_t>(n) * es);
}

// A tensor that owns its storage: values kept in sequences, or handed out by
// If/Loop/Scan, must not point into arena slots that are reused later.
inline Result<Tensor> owned(const Tensor& t) {
  if (t.owns_storage() || !t.defined() || t.dtype() == DType::kString) return t;
  return t.clone();
}

inline Result<Value> detach(const Value& v) {
  if (v.is_tensor()) {
    TANDEM_ASSIGN_OR_RETURN(Tensor t, owned(v.tensor()));
    return Value(std::move(t));
  }
  if (v.is_sequence()) {
    std::vector<Tensor> items;
    items.reserve(v.items().size());
    for (const Tensor& t : v.items()) {
      TANDEM_ASSIGN_OR_RETURN(Tensor o, owned(t));
      items.push_back(std::move(o));
    }
    return Value::sequence(std::move(items));
  }
  return v;
}

// Product of dims in [from, to).
inline int64_t dims_product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) p *= s[i];
  return p;
}

// t[..., index, ...] along axis (rank drops by one). axis and index must be valid.
inline Result<Tensor> slice_along(const Tensor& t, int64_t axis, int64_t index) {
  Shape out_shape = t.shape();
  const int64_t n = out_shape[static_cast<size_t>(axis)];
  out_shape.erase(out_shape.begin() + axis);
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(t.dtype(), out_shape));
  const int64_t outer = dims_product(t.shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = dims_product(t.shape(), static_cast<size_t>(axis) + 1, t.rank());
  for (int64_t o = 0; o < outer; ++o) copy_elements(t, (o * n + index) * inner, out, o * inner, inner);
  return out;
}

// Stacks equally shaped tensors along a new axis (in order, or reversed).
// `what` names the items in error messages.
inline Result<Tensor> stack_along(const std::vector<Tensor>& items, int64_t axis, bool reverse,
                                  const std::string& what) {
  if (items.empty()) return invalid_argument("cannot stack zero " + what);
  const Tensor& first = items.front();
  for (const Tensor& t : items) {
    if (t.dtype() != first.dtype() || t.shape() != first.shape()) {
      return invalid_argument(what + " differ in dtype or shape: " + shape_to_string(first.shape()) + " vs " +
                              shape_to_string(t.shape()));
    }
  }
  const auto count = static_cast<int64_t>(items.size());
  Shape out_shape = first.shape();
  out_shape.insert(out_shape.begin() + axis, count);
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(first.dtype(), out_shape));
  const int64_t outer = dims_product(first.shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = dims_product(first.shape(), static_cast<size_t>(axis), first.rank());
  for (int64_t i = 0; i < count; ++i) {
    const Tensor& t = items[static_cast<size_t>(reverse ? count - 1 - i : i)];
    for (int64_t o = 0; o < outer; ++o) copy_elements(t, o * inner, out, (o * count + i) * inner, inner);
  }
  return out;
}

}  // namespace tandem::reference
