// A runtime value: a tensor, a sequence of tensors, or an empty optional.
// ONNX optional<T> holding a value is represented by that value itself.
#pragma once

#include <vector>

#include "core/runtime/tensor.h"

namespace tandem {

class Value {
 public:
  enum class Kind { kEmpty, kTensor, kSequence, kNone };

  Value() = default;
  Value(Tensor t) : kind_(Kind::kTensor), tensor_(std::move(t)) {}  // NOLINT(google-explicit-constructor)
  static Value sequence(std::vector<Tensor> items) {
    Value v;
    v.kind_ = Kind::kSequence;
    v.sequence_ = std::move(items);
    return v;
  }
  static Value none() {
    Value v;
    v.kind_ = Kind::kNone;
    return v;
  }

  Kind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool empty() const { return kind_ == Kind::kEmpty; }

  Tensor& tensor() { return tensor_; }
  const Tensor& tensor() const { return tensor_; }
  std::vector<Tensor>& items() { return sequence_; }
  const std::vector<Tensor>& items() const { return sequence_; }

 private:
  Kind kind_ = Kind::kEmpty;
  Tensor tensor_;
  std::vector<Tensor> sequence_;
};

}  // namespace tandem
