#include "core/runtime/tensor.h"

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sys/mman.h>
#endif

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

namespace tandem {

int64_t shape_numel(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string shape_to_string(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return s + "]";
}

Result<size_t> checked_byte_size(DType dtype, std::span<const int64_t> shape, uint64_t limit) {
  const int64_t n = shape_numel(shape);
  if (n < 0) return invalid_argument("shape " + shape_to_string(shape) + " is negative or overflows");
  const uint64_t elem = dtype == DType::kString ? 1 : dtype_size(dtype);
  if (elem != 0 && static_cast<uint64_t>(n) > limit / elem) {
    return out_of_memory("tensor of shape " + shape_to_string(shape) + " and dtype " + dtype_name(dtype) +
                         " would need more than " + std::to_string(limit) + " bytes");
  }
  const uint64_t bytes = static_cast<uint64_t>(n) * elem;
  if (bytes > std::numeric_limits<size_t>::max()) return out_of_memory("tensor too large for this platform");
  return static_cast<size_t>(bytes);
}

namespace {
constexpr size_t kAlignment = 64;

std::shared_ptr<void> aligned_storage(size_t bytes) {
  size_t alignment = kAlignment;
#if defined(MADV_HUGEPAGE)
  // Big buffers (weights, arenas) on 2 MB pages: far fewer page faults when first touched.
  constexpr size_t kHugePage = size_t{2} << 20;
  if (bytes >= 2 * kHugePage) alignment = kHugePage;
#endif
  const size_t rounded = (bytes + kTensorTailBytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (p == nullptr) return nullptr;
#if defined(MADV_HUGEPAGE)
  if (alignment != kAlignment) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  std::memset(p, 0, rounded == 0 ? kAlignment : rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Result<Tensor> Tensor::allocate(DType dtype, Shape shape) {
  if (dtype == DType::kUndefined) return invalid_argument("cannot allocate a tensor of undefined dtype");
  const uint64_t limit = std::min<uint64_t>(kMaxTensorBytes, std::numeric_limits<size_t>::max() / 2);
  TANDEM_ASSIGN_OR_RETURN(size_t bytes, checked_byte_size(dtype, shape, limit));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  if (dtype == DType::kString) {
    t.strings_ = std::make_shared<std::vector<std::string>>(bytes);
    t.storage_ = std::shared_ptr<void>(t.strings_, t.strings_.get());
    t.data_ = t.strings_->data();
    return t;
  }
  t.storage_ = aligned_storage(bytes);
  if (t.storage_ == nullptr) {
    return out_of_memory("could not allocate " + std::to_string(bytes) + " bytes for a tensor of shape " +
                         shape_to_string(t.shape_));
  }
  t.data_ = t.storage_.get();
  return t;
}

Tensor Tensor::borrow(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::from_strings(Shape shape, std::vector<std::string> values) {
  Tensor t = allocate(DType::kString, std::move(shape)).value();
  for (size_t i = 0; i < values.size() && i < t.strings().size(); ++i) t.strings()[i] = std::move(values[i]);
  return t;
}

Tensor Tensor::scalar_int64(int64_t v) { return from_vector<int64_t>({}, {v}); }
Tensor Tensor::scalar_float(float v) { return from_vector<float>({}, {v}); }

Result<Tensor> Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel()) {
    return invalid_argument("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Result<Tensor> Tensor::clone() const {
  TANDEM_ASSIGN_OR_RETURN(Tensor t, allocate(dtype_, shape_));
  if (dtype_ == DType::kString) {
    t.strings() = strings();
  } else if (byte_size() > 0) {
    std::memcpy(t.raw_data(), raw_data(), byte_size());
  }
  return t;
}

double Tensor::get_as_double(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32: return data<float>()[i];
    case DType::kFloat64: return data<double>()[i];
    case DType::kFloat16: return half_to_float(data<uint16_t>()[i]);
    case DType::kBFloat16: return bfloat16_to_float(data<uint16_t>()[i]);
    case DType::kUInt8: return data<uint8_t>()[i];
    case DType::kInt8: return data<int8_t>()[i];
    case DType::kUInt16: return data<uint16_t>()[i];
    case DType::kInt16: return data<int16_t>()[i];
    case DType::kInt32: return data<int32_t>()[i];
    case DType::kInt64: return static_cast<double>(data<int64_t>()[i]);
    case DType::kUInt32: return data<uint32_t>()[i];
    case DType::kUInt64: return static_cast<double>(data<uint64_t>()[i]);
    case DType::kBool: return data<bool>()[i] ? 1.0 : 0.0;
    default: return 0.0;
  }
}

int64_t Tensor::get_as_int64(int64_t i) const {
  switch (dtype_) {
    case DType::kInt64: return data<int64_t>()[i];
    case DType::kInt32: return data<int32_t>()[i];
    case DType::kUInt64: return static_cast<int64_t>(data<uint64_t>()[i]);
    case DType::kUInt32: return data<uint32_t>()[i];
    case DType::kInt16: return data<int16_t>()[i];
    case DType::kUInt16: return data<uint16_t>()[i];
    case DType::kInt8: return data<int8_t>()[i];
    case DType::kUInt8: return data<uint8_t>()[i];
    case DType::kBool: return data<bool>()[i] ? 1 : 0;
    default: return static_cast<int64_t>(get_as_double(i));
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(std::max<int64_t>(numel(), 0)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = get_as_int64(static_cast<int64_t>(i));
  return v;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> v(static_cast<size_t>(std::max<int64_t>(numel(), 0)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(get_as_double(static_cast<int64_t>(i)));
  return v;
}

}  // namespace tandem
