#include "core/model/onnx_reader.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <protozero/exception.hpp>
#include <protozero/pbf_reader.hpp>

namespace tandem::model {
namespace {

using graph::Attribute;
using graph::Graph;
using graph::TypeInfo;
using protozero::pbf_reader;
using protozero::pbf_wire_type;

// Decoding uses an exception internally so each field handler stays short;
// it never leaves this file (see guarded()).
struct DecodeError {
  Status status;
};

[[noreturn]] void fail(std::string message) { throw DecodeError{invalid_model(std::move(message))}; }

constexpr int kMaxGraphDepth = 64;  // nested subgraphs; deeper is hostile, not a model

// protozero 1.7 compares a field's length with the bytes left through a signed
// ptrdiff_t: on 32-bit targets (wasm32) a length >= 2^31 passes the check and
// moves the read pointer out of the buffer. Check lengths here first.
void check_length(const pbf_reader& msg) {
  if (msg.wire_type() != pbf_wire_type::length_delimited) return;
  const protozero::data_view rest = msg.data();
  uint64_t len = 0;
  size_t i = 0;
  for (int shift = 0; i < rest.size() && shift < 64; shift += 7) {
    const auto byte = static_cast<uint8_t>(rest.data()[i++]);
    len |= static_cast<uint64_t>(byte & 0x7fu) << shift;
    if ((byte & 0x80u) == 0) {
      if (len > rest.size() - i) fail("a field's length runs past the end of the data (truncated file?)");
      return;
    }
  }
  fail("a field's length is malformed");
}

void expect_wire(const pbf_reader& msg, pbf_wire_type type, const char* what) {
  if (msg.wire_type() != type) fail(std::string("field '") + what + "' has the wrong wire type");
  check_length(msg);
}

// Skips an unknown field (with the length check above).
void skip(pbf_reader& msg) {
  check_length(msg);
  msg.skip();
}

std::string get_string(pbf_reader& msg, const char* what) {
  expect_wire(msg, pbf_wire_type::length_delimited, what);
  return msg.get_string();
}

pbf_reader get_message(pbf_reader& msg, const char* what) {
  expect_wire(msg, pbf_wire_type::length_delimited, what);
  return msg.get_message();
}

int64_t get_int64(pbf_reader& msg, const char* what) {
  expect_wire(msg, pbf_wire_type::varint, what);
  return msg.get_int64();
}

// Repeated scalars may be packed or not; accept both as the spec requires.
template <typename T, typename Packed, typename Single>
void get_repeated(pbf_reader& msg, std::vector<T>& out, pbf_wire_type single_type, Packed packed, Single single,
                  const char* what) {
  if (msg.wire_type() == pbf_wire_type::length_delimited) {
    check_length(msg);
    auto range = packed(msg);
    for (auto v : range) out.push_back(static_cast<T>(v));
  } else {
    expect_wire(msg, single_type, what);
    out.push_back(static_cast<T>(single(msg)));
  }
}

void get_int64s(pbf_reader& msg, std::vector<int64_t>& out, const char* what) {
  get_repeated(
      msg, out, pbf_wire_type::varint, [](pbf_reader& m) { return m.get_packed_int64(); },
      [](pbf_reader& m) { return m.get_int64(); }, what);
}
void get_int32s(pbf_reader& msg, std::vector<int32_t>& out, const char* what) {
  get_repeated(
      msg, out, pbf_wire_type::varint, [](pbf_reader& m) { return m.get_packed_int32(); },
      [](pbf_reader& m) { return m.get_int32(); }, what);
}
void get_uint64s(pbf_reader& msg, std::vector<uint64_t>& out, const char* what) {
  get_repeated(
      msg, out, pbf_wire_type::varint, [](pbf_reader& m) { return m.get_packed_uint64(); },
      [](pbf_reader& m) { return m.get_uint64(); }, what);
}
void get_floats(pbf_reader& msg, std::vector<float>& out, const char* what) {
  get_repeated(
      msg, out, pbf_wire_type::fixed32, [](pbf_reader& m) { return m.get_packed_float(); },
      [](pbf_reader& m) { return m.get_float(); }, what);
}
void get_doubles(pbf_reader& msg, std::vector<double>& out, const char* what) {
  get_repeated(
      msg, out, pbf_wire_type::fixed64, [](pbf_reader& m) { return m.get_packed_double(); },
      [](pbf_reader& m) { return m.get_double(); }, what);
}

bool safe_relative_path(const std::string& p) {
  if (p.empty() || p[0] == '/' || p[0] == '\\' || p.find(':') != std::string::npos) return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find_first_of("/\\", start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0) return false;
    start = end + 1;
  }
  return true;
}

class Decoder {
 public:
  explicit Decoder(const LoadOptions& options) : options_(options) {}

  Tensor tensor(pbf_reader msg, const std::string& context) {
    Shape dims;
    int32_t data_type = 0;
    std::string name;
    std::string_view raw;
    bool has_raw = false;
    std::vector<float> floats;
    std::vector<int32_t> int32s;
    std::vector<int64_t> int64s;
    std::vector<double> doubles;
    std::vector<uint64_t> uint64s;
    std::vector<std::string> strings;
    std::map<std::string, std::string> external;
    int64_t location = 0;
    while (msg.next()) {
      switch (msg.tag()) {
        case 1:
          get_int64s(msg, dims, "TensorProto.dims");
          break;
        case 2:
          data_type = static_cast<int32_t>(get_int64(msg, "TensorProto.data_type"));
          break;
        case 4:
          get_floats(msg, floats, "TensorProto.float_data");
          break;
        case 5:
          get_int32s(msg, int32s, "TensorProto.int32_data");
          break;
        case 6:
          strings.push_back(get_string(msg, "TensorProto.string_data"));
          break;
        case 7:
          get_int64s(msg, int64s, "TensorProto.int64_data");
          break;
        case 8:
          name = get_string(msg, "TensorProto.name");
          break;
        case 9: {
          expect_wire(msg, pbf_wire_type::length_delimited, "TensorProto.raw_data");
          auto v = msg.get_view();
          raw = std::string_view(v.data(), v.size());
          has_raw = true;
          break;
        }
        case 10:
          get_doubles(msg, doubles, "TensorProto.double_data");
          break;
        case 11:
          get_uint64s(msg, uint64s, "TensorProto.uint64_data");
          break;
        case 13: {
          pbf_reader entry = get_message(msg, "TensorProto.external_data");
          std::string key, value;
          while (entry.next()) {
            if (entry.tag() == 1)
              key = get_string(entry, "external_data.key");
            else if (entry.tag() == 2)
              value = get_string(entry, "external_data.value");
            else
              skip(entry);
          }
          external[key] = value;
          break;
        }
        case 14:
          location = get_int64(msg, "TensorProto.data_location");
          break;
        default:
          skip(msg);
      }
    }
    const std::string where = context + (name.empty() ? "" : " '" + name + "'");
    if (!dtype_is_valid(data_type)) fail(where + " has unsupported data_type " + std::to_string(data_type));
    const DType dtype = static_cast<DType>(data_type);
    for (int64_t d : dims) {
      if (d < 0) fail(where + " has a negative dimension");
    }
    auto size = checked_byte_size(dtype, dims, options_.max_tensor_bytes);
    if (!size.is_ok()) fail(where + ": " + size.status().message());
    const auto numel = static_cast<size_t>(shape_numel(dims));

    std::string external_bytes;
    if (location == 1) {
      external_bytes = read_external(external, where, dtype == DType::kString ? 0 : *size);
      raw = external_bytes;
      has_raw = true;
    }

    auto allocated = Tensor::allocate(dtype, dims);
    if (!allocated.is_ok()) fail(where + ": " + allocated.status().message());
    Tensor t = std::move(allocated).value();
    auto count_check = [&](size_t have) {
      if (have != numel) {
        fail(where + " holds " + std::to_string(have) + " values but its shape " + shape_to_string(dims) + " needs " +
             std::to_string(numel));
      }
    };
    if (dtype == DType::kString) {
      count_check(strings.size());
      for (size_t i = 0; i < numel; ++i) t.strings()[i] = std::move(strings[i]);
      return t;
    }
    if (has_raw) {
      if (raw.size() != *size) {
        fail(where + " raw_data has " + std::to_string(raw.size()) + " bytes, expected " + std::to_string(*size));
      }
      if (*size > 0) std::memcpy(t.raw_data(), raw.data(), *size);
      return t;
    }
    switch (dtype) {
      case DType::kFloat32:
        count_check(floats.size());
        std::copy(floats.begin(), floats.end(), t.data<float>());
        break;
      case DType::kFloat64:
        count_check(doubles.size());
        std::copy(doubles.begin(), doubles.end(), t.data<double>());
        break;
      case DType::kInt64:
        count_check(int64s.size());
        std::copy(int64s.begin(), int64s.end(), t.data<int64_t>());
        break;
      case DType::kUInt32:
      case DType::kUInt64:
        count_check(uint64s.size());
        for (size_t i = 0; i < numel; ++i) {
          if (dtype == DType::kUInt32)
            t.data<uint32_t>()[i] = static_cast<uint32_t>(uint64s[i]);
          else
            t.data<uint64_t>()[i] = uint64s[i];
        }
        break;
      default:  // int32_data carries every type of 32 bits or fewer
        count_check(int32s.size());
        for (size_t i = 0; i < numel; ++i) {
          const int32_t v = int32s[i];
          switch (dtype) {
            case DType::kInt32:
              t.data<int32_t>()[i] = v;
              break;
            case DType::kInt16:
              t.data<int16_t>()[i] = static_cast<int16_t>(v);
              break;
            case DType::kUInt16:
            case DType::kFloat16:
            case DType::kBFloat16:
              t.data<uint16_t>()[i] = static_cast<uint16_t>(v);
              break;
            case DType::kInt8:
              t.data<int8_t>()[i] = static_cast<int8_t>(v);
              break;
            case DType::kUInt8:
              t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
              break;
            case DType::kBool:
              t.data<bool>()[i] = v != 0;
              break;
            default:
              fail(where + " has no data for dtype " + dtype_name(dtype));
          }
        }
    }
    return t;
  }

  // SparseTensorProto -> dense tensor.
  Tensor sparse_tensor(pbf_reader msg, const std::string& context) {
    Tensor values, indices;
    Shape dims;
    while (msg.next()) {
      switch (msg.tag()) {
        case 1:
          values = tensor(get_message(msg, "SparseTensorProto.values"), context + " values");
          break;
        case 2:
          indices = tensor(get_message(msg, "SparseTensorProto.indices"), context + " indices");
          break;
        case 3:
          get_int64s(msg, dims, "SparseTensorProto.dims");
          break;
        default:
          skip(msg);
      }
    }
    if (!values.defined() || !indices.defined()) fail(context + ": sparse tensor lacks values or indices");
    auto dense_r = Tensor::allocate(values.dtype(), dims);
    if (!dense_r.is_ok()) fail(context + ": " + dense_r.status().message());
    Tensor dense = std::move(dense_r).value();
    const int64_t nnz = values.numel();
    const int64_t total = dense.numel();
    const size_t elem = dtype_size(values.dtype());
    if (values.dtype() == DType::kString || indices.dtype() != DType::kInt64) {
      fail(context + ": sparse tensor must have int64 indices and numeric values");
    }
    const bool linear = indices.rank() == 1;
    if (!(linear && indices.dim(0) == nnz) &&
        !(indices.rank() == 2 && indices.dim(0) == nnz && indices.dim(1) == static_cast<int64_t>(dims.size()))) {
      fail(context + ": sparse indices shape " + shape_to_string(indices.shape()) + " does not fit values");
    }
    for (int64_t k = 0; k < nnz; ++k) {
      int64_t offset = 0;
      if (linear) {
        offset = indices.data<int64_t>()[k];
      } else {
        for (size_t d = 0; d < dims.size(); ++d) {
          const int64_t ix = indices.data<int64_t>()[k * static_cast<int64_t>(dims.size()) + static_cast<int64_t>(d)];
          if (ix < 0 || ix >= dims[d]) fail(context + ": sparse index out of range");
          offset = offset * dims[d] + ix;
        }
      }
      if (offset < 0 || offset >= total) fail(context + ": sparse index out of range");
      std::memcpy(static_cast<char*>(dense.raw_data()) + offset * static_cast<int64_t>(elem),
                  static_cast<const char*>(values.raw_data()) + k * static_cast<int64_t>(elem), elem);
    }
    return dense;
  }

  TypeInfo type(pbf_reader msg, int depth = 0) {
    if (depth > kMaxGraphDepth) fail("TypeProto nests too deeply");
    TypeInfo info;
    while (msg.next()) {
      switch (msg.tag()) {
        case 1: {  // tensor_type
          info.kind = TypeInfo::Kind::kTensor;
          pbf_reader tt = get_message(msg, "TypeProto.tensor_type");
          while (tt.next()) {
            if (tt.tag() == 1) {
              const int64_t et = get_int64(tt, "TypeProto.Tensor.elem_type");
              info.dtype = dtype_is_valid(static_cast<int32_t>(et)) ? static_cast<DType>(et) : DType::kUndefined;
            } else if (tt.tag() == 2) {
              info.has_shape = true;
              pbf_reader shape = get_message(tt, "TypeProto.Tensor.shape");
              while (shape.next()) {
                if (shape.tag() != 1) {
                  skip(shape);
                  continue;
                }
                pbf_reader dim = get_message(shape, "TensorShapeProto.dim");
                graph::Dim d;
                while (dim.next()) {
                  if (dim.tag() == 1)
                    d.value = get_int64(dim, "Dimension.dim_value");
                  else if (dim.tag() == 2)
                    d.symbol = get_string(dim, "Dimension.dim_param");
                  else
                    skip(dim);
                }
                if (d.value < 0) d.value = -1;
                info.dims.push_back(std::move(d));
              }
            } else {
              skip(tt);
            }
          }
          break;
        }
        case 4: {  // sequence_type
          pbf_reader st = get_message(msg, "TypeProto.sequence_type");
          while (st.next()) {
            if (st.tag() == 1) {
              TypeInfo elem = type(get_message(st, "Sequence.elem_type"), depth + 1);
              info = elem;
            } else {
              skip(st);
            }
          }
          info.kind = TypeInfo::Kind::kSequence;
          break;
        }
        case 9: {  // optional_type
          pbf_reader ot = get_message(msg, "TypeProto.optional_type");
          while (ot.next()) {
            if (ot.tag() == 1) {
              TypeInfo elem = type(get_message(ot, "Optional.elem_type"), depth + 1);
              info = elem;
              info.optional_of = elem.kind;
            } else {
              skip(ot);
            }
          }
          info.kind = TypeInfo::Kind::kOptional;
          break;
        }
        default:
          skip(msg);
      }
    }
    return info;
  }

  std::shared_ptr<Graph> graph(pbf_reader msg, const std::map<std::string, int64_t>& opsets, bool is_subgraph,
                               int depth) {
    if (depth > kMaxGraphDepth) fail("subgraphs nest more than " + std::to_string(kMaxGraphDepth) + " levels");
    auto g = std::make_shared<Graph>();
    g->opsets = opsets;
    struct PendingNode {
      pbf_reader msg;
    };
    std::vector<pbf_reader> node_msgs, input_msgs, output_msgs, vi_msgs, init_msgs, sparse_msgs;
    while (msg.next()) {
      switch (msg.tag()) {
        case 1:
          node_msgs.push_back(get_message(msg, "GraphProto.node"));
          break;
        case 2:
          g->name = get_string(msg, "GraphProto.name");
          break;
        case 5:
          init_msgs.push_back(get_message(msg, "GraphProto.initializer"));
          break;
        case 11:
          input_msgs.push_back(get_message(msg, "GraphProto.input"));
          break;
        case 12:
          output_msgs.push_back(get_message(msg, "GraphProto.output"));
          break;
        case 13:
          vi_msgs.push_back(get_message(msg, "GraphProto.value_info"));
          break;
        case 15:
          sparse_msgs.push_back(get_message(msg, "GraphProto.sparse_initializer"));
          break;
        default:
          skip(msg);
      }
    }
    const std::string gname = "graph '" + g->name + "'";
    for (pbf_reader& m : init_msgs) {
      // The name is inside the TensorProto; decode then intern.
      pbf_reader copy = m;
      std::string name;
      while (copy.next()) {
        if (copy.tag() == 8)
          name = get_string(copy, "TensorProto.name");
        else
          skip(copy);
      }
      if (name.empty()) fail(gname + " has an initializer without a name");
      Tensor t = tensor(m, "initializer");
      const graph::ValueId id = g->intern(name);
      if (g->values[static_cast<size_t>(id)].constant.has_value()) fail("initializer '" + name + "' is defined twice");
      g->values[static_cast<size_t>(id)].type = TypeInfo::tensor(t.dtype(), t.shape());
      g->values[static_cast<size_t>(id)].constant = std::move(t);
    }
    for (pbf_reader& m : sparse_msgs) {
      pbf_reader copy = m;
      std::string name;
      while (copy.next()) {  // SparseTensorProto.values(1).name(8)
        if (copy.tag() == 1) {
          pbf_reader vals = get_message(copy, "SparseTensorProto.values");
          while (vals.next()) {
            if (vals.tag() == 8)
              name = get_string(vals, "TensorProto.name");
            else
              skip(vals);
          }
        } else {
          skip(copy);
        }
      }
      Tensor t = sparse_tensor(m, "sparse initializer '" + name + "'");
      const graph::ValueId id = g->intern(name);
      g->values[static_cast<size_t>(id)].type = TypeInfo::tensor(t.dtype(), t.shape());
      g->values[static_cast<size_t>(id)].constant = std::move(t);
    }
    auto value_info = [&](pbf_reader m, const char* what) -> std::pair<std::string, TypeInfo> {
      std::string name;
      TypeInfo info;
      while (m.next()) {
        if (m.tag() == 1)
          name = get_string(m, what);
        else if (m.tag() == 2)
          info = type(get_message(m, "ValueInfoProto.type"));
        else
          skip(m);
      }
      return {name, info};
    };
    for (pbf_reader& m : input_msgs) {
      auto [name, info] = value_info(m, "GraphProto.input.name");
      if (name.empty()) fail(gname + " has an input without a name");
      const graph::ValueId id = g->intern(name);
      graph::ValueEntry& v = g->values[static_cast<size_t>(id)];
      if (v.constant.has_value()) continue;  // old-style: initializers listed as inputs are constants
      if (v.is_graph_input) fail(gname + " lists input '" + name + "' twice");
      v.type = info;
      v.is_graph_input = true;
      g->inputs.push_back(id);
    }
    for (pbf_reader& m : vi_msgs) {
      auto [name, info] = value_info(m, "GraphProto.value_info.name");
      const graph::ValueId id = g->intern(name);
      if (!g->values[static_cast<size_t>(id)].constant.has_value()) g->values[static_cast<size_t>(id)].type = info;
    }
    std::vector<std::pair<std::string, TypeInfo>> outputs;
    for (pbf_reader& m : output_msgs) outputs.push_back(value_info(m, "GraphProto.output.name"));

    for (pbf_reader& m : node_msgs) node(m, *g, depth);

    for (auto& [name, info] : outputs) {
      if (name.empty()) fail(gname + " has an output without a name");
      const graph::ValueId id = g->intern(name);
      graph::ValueEntry& v = g->values[static_cast<size_t>(id)];
      if (!v.constant.has_value() && info.kind != TypeInfo::Kind::kUnknown) v.type = info;
      g->outputs.push_back(id);
    }
    if (is_subgraph) {
      // Anything read but not defined here comes from an enclosing scope.
      std::vector<bool> defined(g->values.size(), false);
      for (graph::ValueId id : g->inputs) defined[static_cast<size_t>(id)] = true;
      for (size_t i = 0; i < g->values.size(); ++i) {
        if (g->values[i].constant.has_value()) defined[i] = true;
      }
      for (const graph::Node& n : g->nodes) {
        for (graph::ValueId o : n.outputs) {
          if (o != graph::kNoValue) defined[static_cast<size_t>(o)] = true;
        }
      }
      for (size_t i = 0; i < g->values.size(); ++i) {
        if (!defined[i] && !g->values[i].name.empty()) {
          g->values[i].is_outer_ref = true;
          g->outer_refs.push_back(static_cast<graph::ValueId>(i));
        }
      }
    }
    Status st = g->finalize();
    if (!st.is_ok()) throw DecodeError{st.with_context(gname)};
    return g;
  }

  void node(pbf_reader msg, Graph& g, int depth) {
    graph::Node n;
    std::vector<std::string> inputs, outputs;
    std::vector<pbf_reader> attr_msgs;
    while (msg.next()) {
      switch (msg.tag()) {
        case 1:
          inputs.push_back(get_string(msg, "NodeProto.input"));
          break;
        case 2:
          outputs.push_back(get_string(msg, "NodeProto.output"));
          break;
        case 3:
          n.name = get_string(msg, "NodeProto.name");
          break;
        case 4:
          n.op_type = get_string(msg, "NodeProto.op_type");
          break;
        case 5:
          attr_msgs.push_back(get_message(msg, "NodeProto.attribute"));
          break;
        case 7:
          n.domain = get_string(msg, "NodeProto.domain");
          break;
        default:
          skip(msg);
      }
    }
    if (n.domain == "ai.onnx") n.domain.clear();
    if (n.op_type.empty()) fail("a node in graph '" + g.name + "' has no op_type");
    if (n.name.empty()) n.name = n.op_type + "_" + std::to_string(g.nodes.size());
    for (pbf_reader& a : attr_msgs) n.attributes.push_back(attribute(a, g, depth, n.describe()));
    for (const std::string& s : inputs) n.inputs.push_back(s.empty() ? graph::kNoValue : g.intern(s));
    for (const std::string& s : outputs) n.outputs.push_back(s.empty() ? graph::kNoValue : g.intern(s));
    // Subgraph outer references become implicit inputs of this node.
    for (const Attribute& a : n.attributes) {
      auto add_refs = [&](const Graph& sub) {
        for (graph::ValueId r : sub.outer_refs) {
          const graph::ValueId id = g.intern(sub.values[static_cast<size_t>(r)].name);
          if (std::find(n.implicit_inputs.begin(), n.implicit_inputs.end(), id) == n.implicit_inputs.end()) {
            n.implicit_inputs.push_back(id);
          }
        }
      };
      if (a.g) add_refs(*a.g);
      for (const auto& sg : a.graphs) add_refs(*sg);
    }
    g.nodes.push_back(std::move(n));
  }

  Attribute attribute(pbf_reader msg, Graph& g, int depth, const std::string& owner) {
    Attribute a;
    bool has_type = false;
    std::vector<pbf_reader> graphs;
    pbf_reader single_graph;
    bool has_graph = false;
    while (msg.next()) {
      switch (msg.tag()) {
        case 1:
          a.name = get_string(msg, "AttributeProto.name");
          break;
        case 2:
          expect_wire(msg, pbf_wire_type::fixed32, "AttributeProto.f");
          a.f = msg.get_float();
          break;
        case 3:
          a.i = get_int64(msg, "AttributeProto.i");
          break;
        case 4:
          a.s = get_string(msg, "AttributeProto.s");
          break;
        case 5:
          a.t = tensor(get_message(msg, "AttributeProto.t"), owner + " attribute tensor");
          break;
        case 6:
          single_graph = get_message(msg, "AttributeProto.g");
          has_graph = true;
          break;
        case 7:
          get_floats(msg, a.floats, "AttributeProto.floats");
          break;
        case 8:
          get_int64s(msg, a.ints, "AttributeProto.ints");
          break;
        case 9:
          a.strings.push_back(get_string(msg, "AttributeProto.strings"));
          break;
        case 10:
          a.tensors.push_back(tensor(get_message(msg, "AttributeProto.tensors"), owner + " attribute tensor"));
          break;
        case 11:
          graphs.push_back(get_message(msg, "AttributeProto.graphs"));
          break;
        case 20:
          a.type = static_cast<Attribute::Type>(get_int64(msg, "AttributeProto.type"));
          has_type = true;
          break;
        case 21:
          a.ref_attr_name = get_string(msg, "AttributeProto.ref_attr_name");
          break;
        case 22:
          a.t = sparse_tensor(get_message(msg, "AttributeProto.sparse_tensor"), owner + " sparse attribute");
          break;
        default:
          skip(msg);
      }
    }
    if (a.name.empty()) fail(owner + " has an attribute without a name");
    if (has_graph) a.g = graph(single_graph, g.opsets, true, depth + 1);
    for (pbf_reader& gm : graphs) a.graphs.push_back(graph(gm, g.opsets, true, depth + 1));
    if (!has_type) {  // IR < 3 files omit the type; infer it from what is set
      if (a.g)
        a.type = Attribute::Type::kGraph;
      else if (a.t.defined())
        a.type = Attribute::Type::kTensor;
      else if (!a.floats.empty())
        a.type = Attribute::Type::kFloats;
      else if (!a.ints.empty())
        a.type = Attribute::Type::kInts;
      else if (!a.strings.empty())
        a.type = Attribute::Type::kStrings;
      else if (!a.s.empty())
        a.type = Attribute::Type::kString;
      else if (a.f != 0)
        a.type = Attribute::Type::kFloat;
      else
        a.type = Attribute::Type::kInt;
    }
    if (static_cast<int>(a.type) < 0 || static_cast<int>(a.type) > 14) {
      fail(owner + " attribute '" + a.name + "' has unknown type " + std::to_string(static_cast<int>(a.type)));
    }
    return a;
  }

  graph::Model model(pbf_reader msg) {
    graph::Model m;
    std::map<std::string, int64_t> opsets;
    pbf_reader graph_msg;
    bool has_graph = false;
    bool saw_field = false;
    while (msg.next()) {
      saw_field = true;
      switch (msg.tag()) {
        case 1:
          m.ir_version = get_int64(msg, "ModelProto.ir_version");
          break;
        case 2:
          m.producer_name = get_string(msg, "ModelProto.producer_name");
          break;
        case 3:
          m.producer_version = get_string(msg, "ModelProto.producer_version");
          break;
        case 4:
          m.domain = get_string(msg, "ModelProto.domain");
          break;
        case 5:
          m.model_version = get_int64(msg, "ModelProto.model_version");
          break;
        case 6:
          m.doc_string = get_string(msg, "ModelProto.doc_string");
          break;
        case 7:
          graph_msg = get_message(msg, "ModelProto.graph");
          has_graph = true;
          break;
        case 8: {
          pbf_reader os = get_message(msg, "ModelProto.opset_import");
          std::string domain;
          int64_t version = 0;
          while (os.next()) {
            if (os.tag() == 1)
              domain = get_string(os, "OperatorSetIdProto.domain");
            else if (os.tag() == 2)
              version = get_int64(os, "OperatorSetIdProto.version");
            else
              skip(os);
          }
          if (domain == "ai.onnx") domain.clear();
          opsets[domain] = version;
          break;
        }
        case 14: {
          pbf_reader entry = get_message(msg, "ModelProto.metadata_props");
          std::string key, value;
          while (entry.next()) {
            if (entry.tag() == 1)
              key = get_string(entry, "metadata.key");
            else if (entry.tag() == 2)
              value = get_string(entry, "metadata.value");
            else
              skip(entry);
          }
          m.metadata[key] = value;
          break;
        }
        default:
          skip(msg);
      }
    }
    if (!saw_field) fail("the file is empty or not an ONNX model");
    if (!has_graph) fail("the model has no graph (is this an ONNX ModelProto file?)");
    if (m.ir_version < 3 || m.ir_version > 10) {
      fail("IR version " + std::to_string(m.ir_version) + " is not supported (Tandem reads IR versions 3 to 10)");
    }
    if (opsets.find("") == opsets.end()) opsets[""] = 1;
    const int64_t onnx_opset = opsets[""];
    if (onnx_opset < 1 || onnx_opset > 21) {
      fail("opset " + std::to_string(onnx_opset) + " of the default domain is not supported (Tandem supports 7 to 21)");
    }
    m.graph = graph(graph_msg, opsets, false, 0);
    return m;
  }

 private:
  std::string read_external(const std::map<std::string, std::string>& entries, const std::string& where,
                            size_t expected) {
    auto it = entries.find("location");
    if (it == entries.end()) fail(where + " is external but names no location");
    const std::string& location = it->second;
    if (options_.base_dir.empty()) {
      fail(where + " keeps its data in external file '" + location +
           "'; load the model from its file path (not bytes) so that file can be found");
    }
    if (!safe_relative_path(location)) {
      fail(where + " external data location '" + location + "' must be a relative path inside the model's folder");
    }
    int64_t offset = 0;
    int64_t length = -1;
    if (auto o = entries.find("offset"); o != entries.end()) offset = std::strtoll(o->second.c_str(), nullptr, 10);
    if (auto l = entries.find("length"); l != entries.end()) length = std::strtoll(l->second.c_str(), nullptr, 10);
    if (offset < 0) fail(where + " external data has a negative offset");
    if (length >= 0 && static_cast<uint64_t>(length) != expected) {
      fail(where + " external data length " + std::to_string(length) + " does not match its shape (" +
           std::to_string(expected) + " bytes)");
    }
    const std::string path = options_.base_dir + "/" + location;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) fail(where + ": cannot open external data file '" + path + "'");
    std::string bytes(expected, '\0');
    const bool ok = std::fseek(f, static_cast<long>(offset), SEEK_SET) == 0 &&  // NOLINT(google-runtime-int)
                    std::fread(bytes.data(), 1, expected, f) == expected;
    std::fclose(f);
    if (!ok) fail(where + ": external data file '" + path + "' is shorter than offset + length");
    return bytes;
  }

  const LoadOptions& options_;
};

template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const DecodeError& e) {
    return e.status;
  } catch (const protozero::exception& e) {
    return invalid_model(std::string("the protobuf data is malformed (") + e.what() +
                         "); the file may be truncated or not an ONNX model");
  } catch (const std::bad_alloc&) {
    return out_of_memory("out of memory while decoding the model");
  } catch (const std::length_error&) {
    return out_of_memory("the model asks for an impossible size");
  }
}

pbf_reader reader_of(std::span<const uint8_t> bytes) {
  return pbf_reader(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

Result<graph::Model> load_model_bytes(std::span<const uint8_t> bytes, const LoadOptions& options) {
  return guarded([&]() -> Result<graph::Model> {
    Decoder d(options);
    return d.model(reader_of(bytes));
  });
}

Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return not_found("cannot open '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  try {
    // Reserve the file's size: growing by doubling would copy the bytes read so far each time,
    // holding up to twice a large model while loading (the router budgets one copy).
    if (std::fseek(f, 0, SEEK_END) == 0) {
      const long size = std::ftell(f);
      if (size > 0 && static_cast<uint64_t>(size) <= max_bytes) bytes.reserve(static_cast<size_t>(size));
      std::rewind(f);
    }
    uint8_t chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
      if (bytes.size() + n > max_bytes) {
        std::fclose(f);
        return out_of_memory("'" + path + "' is larger than the limit of " + std::to_string(max_bytes) + " bytes");
      }
      bytes.insert(bytes.end(), chunk, chunk + n);
    }
  } catch (const std::bad_alloc&) {
    std::fclose(f);
    return out_of_memory("out of memory reading '" + path + "'");
  }
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) return io_error("error reading '" + path + "'");
  return bytes;
}

Result<graph::Model> load_model_file(const std::string& path, LoadOptions options) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  if (options.base_dir.empty()) {
    const size_t slash = path.find_last_of('/');
    options.base_dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  }
  auto m = load_model_bytes(bytes, options);
  if (!m.is_ok()) return m.status().with_context("cannot load '" + path + "'");
  return m;
}

Result<Tensor> decode_tensor(std::span<const uint8_t> bytes, const LoadOptions& options) {
  return guarded([&]() -> Result<Tensor> {
    Decoder d(options);
    return d.tensor(reader_of(bytes), "tensor");
  });
}

Result<Value> decode_value(std::span<const uint8_t> bytes, TypeInfo::Kind kind, const LoadOptions& options) {
  return guarded([&]() -> Result<Value> {
    Decoder d(options);
    std::function<Value(pbf_reader, TypeInfo::Kind, int)> decode = [&](pbf_reader msg, TypeInfo::Kind k,
                                                                       int depth) -> Value {
      if (depth > 8) fail("value nests too deeply");
      if (k == TypeInfo::Kind::kTensor || k == TypeInfo::Kind::kUnknown) return Value(d.tensor(msg, "tensor"));
      if (k == TypeInfo::Kind::kSequence) {  // SequenceProto: tensor_values = 3
        std::vector<Tensor> items;
        while (msg.next()) {
          if (msg.tag() == 3)
            items.push_back(d.tensor(get_message(msg, "SequenceProto.tensor_values"), "tensor"));
          else
            skip(msg);
        }
        return Value::sequence(std::move(items));
      }
      // OptionalProto: elem_type = 2, tensor_value = 3, sequence_value = 5
      Value v = Value::none();
      while (msg.next()) {
        if (msg.tag() == 3)
          v = Value(d.tensor(get_message(msg, "OptionalProto.tensor_value"), "tensor"));
        else if (msg.tag() == 5)
          v = decode(get_message(msg, "OptionalProto.sequence_value"), TypeInfo::Kind::kSequence, depth + 1);
        else
          skip(msg);
      }
      return v;
    };
    return decode(reader_of(bytes), kind, 0);
  });
}

}  // namespace tandem::model
