// ONNX protobuf decoding (protozero wire format) into graph::Model.
// Every malformed input becomes a Status with the place it went wrong; nothing
// throws out of here and no allocation exceeds what the file can justify.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/graph/graph.h"
#include "core/runtime/status.h"
#include "core/runtime/value.h"

namespace tandem::model {

struct LoadOptions {
  // Directory that external-data locations are relative to. Empty: external
  // data is refused (a model given as bytes has no directory).
  std::string base_dir;
  // Upper bound for one tensor (initializer or constant) in bytes.
  uint64_t max_tensor_bytes = kMaxTensorBytes;
};

Result<graph::Model> load_model_bytes(std::span<const uint8_t> bytes, const LoadOptions& options = {});
Result<graph::Model> load_model_file(const std::string& path, LoadOptions options = {});

// A serialized TensorProto (the .pb files of ONNX test data, `tandem run --input x=t.pb`).
Result<Tensor> decode_tensor(std::span<const uint8_t> bytes, const LoadOptions& options = {});
// A serialized TensorProto, SequenceProto or OptionalProto, chosen by the expected kind.
Result<Value> decode_value(std::span<const uint8_t> bytes, graph::TypeInfo::Kind kind,
                           const LoadOptions& options = {});

Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

}  // namespace tandem::model
