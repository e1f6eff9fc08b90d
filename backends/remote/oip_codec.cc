#include "backends/remote/oip_codec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace tandem::oip {
namespace {

struct NameOf {
  DType dtype;
  const char* name;
};
constexpr NameOf kNames[] = {
    {DType::kBool, "BOOL"},     {DType::kUInt8, "UINT8"},   {DType::kUInt16, "UINT16"}, {DType::kUInt32, "UINT32"},
    {DType::kUInt64, "UINT64"}, {DType::kInt8, "INT8"},     {DType::kInt16, "INT16"},   {DType::kInt32, "INT32"},
    {DType::kInt64, "INT64"},   {DType::kFloat16, "FP16"},  {DType::kFloat32, "FP32"},  {DType::kFloat64, "FP64"},
    {DType::kString, "BYTES"},  {DType::kBFloat16, "BF16"},
};

// Appends the leaves of a (possibly nested) JSON array in order.
Status flatten(const rapidjson::Value& v, std::vector<const rapidjson::Value*>* out, int depth) {
  if (depth > 64) return invalid_argument("\"data\" is nested too deeply");
  if (!v.IsArray()) {
    out->push_back(&v);
    return Status::ok();
  }
  for (const auto& e : v.GetArray()) TANDEM_RETURN_IF_ERROR(flatten(e, out, depth + 1));
  return Status::ok();
}

template <typename T>
bool read_int(const rapidjson::Value& v, T* out) {
  if constexpr (std::is_signed_v<T>) {
    if (!v.IsInt64()) return false;
    const int64_t x = v.GetInt64();
    if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        x > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      return false;
    }
    *out = static_cast<T>(x);
  } else {
    if (!v.IsUint64()) return false;
    const uint64_t x = v.GetUint64();
    if (x > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(x);
  }
  return true;
}

template <typename T>
void put_int(T v, JsonWriter& w) {
  if constexpr (std::is_signed_v<T>) {
    w.Int64(static_cast<int64_t>(v));
  } else {
    w.Uint64(static_cast<uint64_t>(v));
  }
}

void put_float(float v, JsonWriter& w) {
  if (!std::isfinite(v)) {
    w.Double(static_cast<double>(v));  // NaN, Infinity, -Infinity (JsonWriter's tokens)
    return;
  }
  char buf[40];
  char* end = std::to_chars(buf, buf + sizeof buf - 2, v).ptr;  // shortest round-trip form
  // "1" -> "1.0", as RapidJSON writes doubles: a float tensor's values still read as floats.
  if (std::find_if(buf, end, [](char c) { return c == '.' || c == 'e'; }) == end) {
    *end++ = '.';
    *end++ = '0';
  }
  w.RawValue(buf, static_cast<size_t>(end - buf), rapidjson::kNumberType);
}

}  // namespace

const char* oip_datatype(DType t) {
  for (const auto& n : kNames) {
    if (n.dtype == t) return n.name;
  }
  return nullptr;
}

std::optional<DType> dtype_from_oip(std::string_view name) {
  for (const auto& n : kNames) {
    if (name == n.name) return n.dtype;
  }
  return std::nullopt;
}

Result<Shape> shape_from_json(const rapidjson::Value& shape) {
  if (!shape.IsArray()) return invalid_argument("\"shape\" must be an array of integers");
  Shape s;
  for (const auto& d : shape.GetArray()) {
    if (!d.IsInt64() || d.GetInt64() < 0) return invalid_argument("\"shape\" must hold non-negative integers");
    s.push_back(d.GetInt64());
  }
  if (shape_numel(s) < 0) return invalid_argument("\"shape\" " + shape_to_string(s) + " is too large");
  return s;
}

Result<Tensor> tensor_from_json(DType dtype, const Shape& shape, const rapidjson::Value& data) {
  std::vector<const rapidjson::Value*> leaves;
  TANDEM_RETURN_IF_ERROR(flatten(data, &leaves, 0));
  const int64_t n = shape_numel(shape);
  if (static_cast<int64_t>(leaves.size()) != n) {
    return invalid_argument("\"data\" has " + std::to_string(leaves.size()) + " elements but shape " +
                            shape_to_string(shape) + " needs " + std::to_string(n));
  }
  if (dtype == DType::kString) {
    std::vector<std::string> strings;
    strings.reserve(leaves.size());
    for (const auto* v : leaves) {
      if (!v->IsString()) return invalid_argument("BYTES \"data\" must hold strings");
      strings.emplace_back(v->GetString(), v->GetStringLength());
    }
    return Tensor::from_strings(shape, std::move(strings));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  const char* name = oip_datatype(dtype);
  auto bad = [&](int64_t i) {
    return invalid_argument(std::string("element ") + std::to_string(i) + " of \"data\" is not a valid " + name);
  };
  for (int64_t i = 0; i < n; ++i) {
    const rapidjson::Value& v = *leaves[static_cast<size_t>(i)];
    bool ok = true;
    switch (dtype) {
      case DType::kBool:
        if (v.IsBool())
          t.data<bool>()[i] = v.GetBool();
        else if (v.IsInt() && (v.GetInt() == 0 || v.GetInt() == 1))
          t.data<bool>()[i] = v.GetInt() == 1;
        else
          ok = false;
        break;
      case DType::kUInt8:
        ok = read_int(v, &t.data<uint8_t>()[i]);
        break;
      case DType::kUInt16:
        ok = read_int(v, &t.data<uint16_t>()[i]);
        break;
      case DType::kUInt32:
        ok = read_int(v, &t.data<uint32_t>()[i]);
        break;
      case DType::kUInt64:
        ok = read_int(v, &t.data<uint64_t>()[i]);
        break;
      case DType::kInt8:
        ok = read_int(v, &t.data<int8_t>()[i]);
        break;
      case DType::kInt16:
        ok = read_int(v, &t.data<int16_t>()[i]);
        break;
      case DType::kInt32:
        ok = read_int(v, &t.data<int32_t>()[i]);
        break;
      case DType::kInt64:
        ok = read_int(v, &t.data<int64_t>()[i]);
        break;
      case DType::kFloat16:
        if (v.IsNumber())
          t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v.GetDouble()));
        else
          ok = false;
        break;
      case DType::kBFloat16:
        if (v.IsNumber())
          t.data<uint16_t>()[i] = float_to_bfloat16(static_cast<float>(v.GetDouble()));
        else
          ok = false;
        break;
      case DType::kFloat32:
        if (v.IsNumber())
          t.data<float>()[i] = static_cast<float>(v.GetDouble());
        else
          ok = false;
        break;
      case DType::kFloat64:
        if (v.IsNumber())
          t.data<double>()[i] = v.GetDouble();
        else
          ok = false;
        break;
      default:
        return unsupported(std::string("datatype ") + dtype_name(dtype) + " is not served");
    }
    if (!ok) return bad(i);
  }
  return t;
}

Result<Tensor> tensor_from_binary(DType dtype, const Shape& shape, std::string_view bytes) {
  const int64_t n = shape_numel(shape);
  if (dtype == DType::kString) {
    std::vector<std::string> strings;
    size_t pos = 0;
    while (pos < bytes.size()) {
      if (bytes.size() - pos < 4) return invalid_argument("BYTES binary data ends inside a length prefix");
      uint32_t len = 0;
      for (int b = 0; b < 4; ++b) len |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos + b])) << (8 * b);
      pos += 4;
      if (bytes.size() - pos < len) return invalid_argument("BYTES binary data ends inside an element");
      strings.emplace_back(bytes.substr(pos, len));
      pos += len;
    }
    if (static_cast<int64_t>(strings.size()) != n) {
      return invalid_argument("BYTES binary data holds " + std::to_string(strings.size()) + " elements but shape " +
                              shape_to_string(shape) + " needs " + std::to_string(n));
    }
    return Tensor::from_strings(shape, std::move(strings));
  }
  TANDEM_ASSIGN_OR_RETURN(size_t want, checked_byte_size(dtype, shape));
  if (bytes.size() != want) {
    return invalid_argument("binary data has " + std::to_string(bytes.size()) + " bytes but " + oip_datatype(dtype) +
                            " " + shape_to_string(shape) + " needs " + std::to_string(want));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  if (want > 0) std::memcpy(t.raw_data(), bytes.data(), want);
  if (dtype == DType::kBool) {
    // Any non-zero byte is true; keep bools canonical (0/1) for the kernels.
    for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = t.data<uint8_t>()[i] != 0;
  }
  return t;
}

void write_json_data(const Tensor& t, JsonWriter& w) {
  w.StartArray();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DType::kBool:
        w.Bool(t.data<bool>()[i]);
        break;
      case DType::kUInt8:
        put_int(t.data<uint8_t>()[i], w);
        break;
      case DType::kUInt16:
        put_int(t.data<uint16_t>()[i], w);
        break;
      case DType::kUInt32:
        put_int(t.data<uint32_t>()[i], w);
        break;
      case DType::kUInt64:
        put_int(t.data<uint64_t>()[i], w);
        break;
      case DType::kInt8:
        put_int(t.data<int8_t>()[i], w);
        break;
      case DType::kInt16:
        put_int(t.data<int16_t>()[i], w);
        break;
      case DType::kInt32:
        put_int(t.data<int32_t>()[i], w);
        break;
      case DType::kInt64:
        put_int(t.data<int64_t>()[i], w);
        break;
      // Floats go out as the shortest decimal that reads back to the same value: of a float for
      // FP16/BF16/FP32 (0.1f is "0.1", not "0.10000000149011612"), of a double for FP64.
      case DType::kFloat16:
        put_float(half_to_float(t.data<uint16_t>()[i]), w);
        break;
      case DType::kBFloat16:
        put_float(bfloat16_to_float(t.data<uint16_t>()[i]), w);
        break;
      case DType::kFloat32:
        put_float(t.data<float>()[i], w);
        break;
      case DType::kFloat64:
        w.Double(t.data<double>()[i]);
        break;
      case DType::kString: {
        const std::string& s = t.strings()[static_cast<size_t>(i)];
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
        break;
      }
      default:
        w.Null();
        break;
    }
  }
  w.EndArray();
}

std::string to_binary(const Tensor& t) {
  if (t.dtype() == DType::kString) {
    std::string out;
    for (const std::string& s : t.strings()) {
      const auto len = static_cast<uint32_t>(s.size());
      for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((len >> (8 * b)) & 0xff));
      out += s;
    }
    return out;
  }
  return std::string(static_cast<const char*>(t.raw_data()), t.byte_size());
}

}  // namespace tandem::oip
