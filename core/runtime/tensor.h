// Tensor: dtype + shape + bytes. Either owns its storage (shared, so copies are
// cheap views) or points into memory owned by someone else (an arena slot).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/runtime/dtype.h"
#include "core/runtime/status.h"

namespace tandem {

using Shape = std::vector<int64_t>;

// Number of elements; nullopt-like -1 if any dim is negative or the product overflows int64.
int64_t shape_numel(std::span<const int64_t> shape);
std::string shape_to_string(std::span<const int64_t> shape);  // "[1, 3, 224, 224]"
// Bytes for numel elements of dtype, refusing overflow and anything above `limit`.
Result<size_t> checked_byte_size(DType dtype, std::span<const int64_t> shape,
                                 uint64_t limit = UINT64_MAX);

// Largest single tensor Tensor::allocate agrees to make. Guards against absurd
// dimensions in malformed models turning into huge allocations.
inline constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 34;  // 16 GiB (less on wasm32)

// Owned storage extends this many readable bytes past the data: SIMD kernels
// (XNNPACK's among them) may read, never write, a little beyond the last element.
inline constexpr size_t kTensorTailBytes = 64;

class Tensor {
 public:
  Tensor() = default;

  // Zero-initialised storage of the given dtype and shape.
  static Result<Tensor> allocate(DType dtype, Shape shape);
  // Wraps memory owned elsewhere (must outlive every copy of the Tensor).
  static Tensor borrow(DType dtype, Shape shape, void* data);
  // Copies from a typed vector; convenient in tests and kernels.
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  static Tensor from_strings(Shape shape, std::vector<std::string> values);
  static Tensor scalar_int64(int64_t v);
  static Tensor scalar_float(float v);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const { return shape_[i]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t byte_size() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return dtype_ != DType::kUndefined; }
  bool owns_storage() const { return storage_ != nullptr; }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<size_t>(numel())}; }
  template <typename T> std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(numel())};
  }
  std::vector<std::string>& strings() { return *strings_; }
  const std::vector<std::string>& strings() const { return *strings_; }

  // Same bytes, other shape (numel must match). Shares storage.
  Result<Tensor> reshaped(Shape shape) const;
  // Deep copy into fresh owned storage.
  Result<Tensor> clone() const;
  // Reads element i of any numeric dtype as double / int64 (for shape ops and tests).
  double get_as_double(int64_t i) const;
  int64_t get_as_int64(int64_t i) const;
  // Whole tensor as int64 values (int32/int64/uint*); used for shape-like inputs.
  std::vector<int64_t> to_int64_vector() const;
  std::vector<float> to_float_vector() const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;                     // null when borrowed
  std::shared_ptr<std::vector<std::string>> strings_;  // only for kString
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t = allocate(DTypeOf<T>::value, std::move(shape)).value();
  for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.numel()); ++i) t.data<T>()[i] = values[i];
  return t;
}

}  // namespace tandem
