// Tensors in the Open Inference Protocol's two encodings: JSON "data" arrays and the binary
// tensor data extension (raw little-endian elements; BYTES as a 4-byte length + bytes each).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "backends/remote/json.h"
#include "core/runtime/tensor.h"

namespace tandem::oip {

// "FP32", "INT64", "BYTES", ...; nullptr for dtypes OIP cannot name.
const char* oip_datatype(DType t);
std::optional<DType> dtype_from_oip(std::string_view name);

// Parses `shape` (an array of non-negative integers).
Result<Shape> shape_from_json(const rapidjson::Value& shape);
// Reads "data", flat or nested in any way (only the element order counts), into a tensor.
Result<Tensor> tensor_from_json(DType dtype, const Shape& shape, const rapidjson::Value& data);
Result<Tensor> tensor_from_binary(DType dtype, const Shape& shape, std::string_view bytes);

// Writes the tensor's elements as one flat JSON array.
void write_json_data(const Tensor& t, JsonWriter& w);
std::string to_binary(const Tensor& t);

}  // namespace tandem::oip
