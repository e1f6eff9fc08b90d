#include "core/model/npy.h"

#include <cstdio>
#include <cstring>

#include "core/model/onnx_reader.h"

namespace tandem::model {
namespace {

const char* descr_of(DType t) {
  switch (t) {
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
    case DType::kFloat16: return "<f2";
    case DType::kInt8: return "|i1";
    case DType::kUInt8: return "|u1";
    case DType::kInt16: return "<i2";
    case DType::kUInt16: return "<u2";
    case DType::kInt32: return "<i4";
    case DType::kUInt32: return "<u4";
    case DType::kInt64: return "<i8";
    case DType::kUInt64: return "<u8";
    case DType::kBool: return "|b1";
    default: return nullptr;
  }
}

DType dtype_of_descr(const std::string& d) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt8, DType::kUInt8, DType::kInt16,
                  DType::kUInt16, DType::kInt32, DType::kUInt32, DType::kInt64, DType::kUInt64, DType::kBool}) {
    const char* own = descr_of(t);
    if (d == own || (d.size() == 3 && d.substr(1) == std::string(own).substr(1) && d[0] == '=')) return t;
  }
  return DType::kUndefined;
}

// Value of a key in the header dict: 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
std::string header_value(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t p = header.find(':', k);
  if (p == std::string::npos) return "";
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) return "";
  if (header[p] == '\'') {
    const size_t e = header.find('\'', p + 1);
    return e == std::string::npos ? "" : header.substr(p + 1, e - p - 1);
  }
  if (header[p] == '(') {
    const size_t e = header.find(')', p);
    return e == std::string::npos ? "" : header.substr(p, e - p + 1);
  }
  const size_t e = header.find_first_of(",}", p);
  return header.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

}  // namespace

Result<Tensor> read_npy(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  const std::string bad = "'" + path + "' is not a valid .npy file";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) return invalid_argument(bad + " (no magic)");
  const uint8_t major = bytes[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    offset = 10;
  } else {
    if (bytes.size() < 12) return invalid_argument(bad);
    header_len = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<size_t>(bytes[11]) << 24);
    offset = 12;
  }
  if (offset + header_len > bytes.size()) return invalid_argument(bad + " (truncated header)");
  const std::string header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  const std::string descr = header_value(header, "descr");
  const DType dtype = dtype_of_descr(descr);
  if (dtype == DType::kUndefined) return unsupported(bad + ": dtype '" + descr + "' is not supported");
  if (header_value(header, "fortran_order").find("True") != std::string::npos) {
    return unsupported(bad + ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
  }
  std::string shape_text = header_value(header, "shape");
  Shape shape;
  for (size_t p = 0; p < shape_text.size();) {
    if (std::isdigit(static_cast<unsigned char>(shape_text[p]))) {
      char* end = nullptr;
      shape.push_back(std::strtoll(shape_text.c_str() + p, &end, 10));
      p = static_cast<size_t>(end - shape_text.c_str());
    } else {
      ++p;
    }
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  const size_t data_offset = offset + header_len;
  if (bytes.size() - data_offset != t.byte_size()) {
    return invalid_argument(bad + ": data has " + std::to_string(bytes.size() - data_offset) + " bytes, shape " +
                            shape_to_string(shape) + " needs " + std::to_string(t.byte_size()));
  }
  if (t.byte_size() > 0) std::memcpy(t.raw_data(), bytes.data() + data_offset, t.byte_size());
  return t;
}

Status write_npy(const std::string& path, const Tensor& t) {
  const char* descr = descr_of(t.dtype());
  if (descr == nullptr) return unsupported(std::string("cannot write dtype ") + dtype_name(t.dtype()) + " as .npy");
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); ++i) shape += std::to_string(t.dim(i)) + (t.rank() == 1 || i + 1 < t.rank() ? "," : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return io_error("cannot write '" + path + "': " + std::strerror(errno));
  const uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xff),
                           static_cast<uint8_t>(header.size() >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f) == 10 && std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            (t.byte_size() == 0 || std::fwrite(t.raw_data(), 1, t.byte_size(), f) == t.byte_size());
  ok = (std::fclose(f) == 0) && ok;
  return ok ? Status::ok() : io_error("error writing '" + path + "'");
}

}  // namespace tandem::model
