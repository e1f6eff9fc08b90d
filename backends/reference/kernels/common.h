// Helpers shared by reference kernels: dtype dispatch, broadcasting, axes.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "core/graph/shape_inference.h"

namespace tandem::reference {

// Calls fn(T{}) with T the C++ type of dtype. Float16/BFloat16 are not
// arithmetic types: kernels convert them with to_float32()/from_float32().
template <typename Fn>
Status visit_numeric(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    case DType::kInt8: return fn(int8_t{});
    case DType::kUInt8: return fn(uint8_t{});
    case DType::kInt16: return fn(int16_t{});
    case DType::kUInt16: return fn(uint16_t{});
    case DType::kUInt32: return fn(uint32_t{});
    case DType::kUInt64: return fn(uint64_t{});
    default: return unsupported(std::string("dtype ") + dtype_name(dtype) + " is not supported here");
  }
}

template <typename Fn>
Status visit_float(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    default: return unsupported(std::string("dtype ") + dtype_name(dtype) + " is not supported here");
  }
}

// Any fixed-size dtype including bool, treated as raw elements (for data movement ops).
template <typename Fn>
Status visit_any(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kBool: return fn(bool{});
    case DType::kFloat16: case DType::kBFloat16: return fn(uint16_t{});
    case DType::kString: return fn(std::string{});
    default: return visit_numeric(dtype, fn);
  }
}

bool is_half(DType t);  // float16 or bfloat16
// float16/bfloat16 -> float32 copy (other dtypes: returned as is).
Result<Tensor> to_float32(const Tensor& t);
// float32 -> dtype (float16/bfloat16/float32/float64).
Result<Tensor> from_float32(const Tensor& t, DType dtype);

// Walks every element of an output shape, giving the matching offsets of
// inputs broadcast to it (numpy rules).
class Broadcaster {
 public:
  // Fails when the shapes cannot be broadcast together.
  static Result<Broadcaster> make(const std::vector<Shape>& input_shapes);
  const Shape& output_shape() const { return out_shape_; }
  int64_t size() const { return size_; }
  // Calls fn(out_index, offsets) for every output element; offsets[k] indexes input k.
  template <typename Fn>
  void for_each(Fn&& fn) const;

 private:
  Shape out_shape_;
  std::vector<std::vector<int64_t>> strides_;  // per input, per output dim; 0 where broadcast
  int64_t size_ = 0;
};

template <typename Fn>
void Broadcaster::for_each(Fn&& fn) const {
  const size_t rank = out_shape_.size();
  const size_t n_in = strides_.size();
  std::vector<int64_t> index(rank, 0);
  std::vector<int64_t> offsets(n_in, 0);
  for (int64_t i = 0; i < size_; ++i) {
    fn(i, offsets.data());
    for (size_t d = rank; d-- > 0;) {
      ++index[d];
      for (size_t k = 0; k < n_in; ++k) offsets[k] += strides_[k][d];
      if (index[d] < out_shape_[d]) break;
      for (size_t k = 0; k < n_in; ++k) offsets[k] -= strides_[k][d] * out_shape_[d];
      index[d] = 0;
    }
  }
}

// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& shape);
// Normalises a possibly negative axis into [0, rank); fails when out of range.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);
// Axes from an attribute or (opset >= 13 style) an optional int64 input.
Result<std::vector<int64_t>> axes_from(const KernelContext& ctx, size_t input_index, const char* attr_name,
                                       int64_t rank);

}  // namespace tandem::reference
