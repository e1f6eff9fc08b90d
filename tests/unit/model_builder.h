// Builds small ONNX models in memory for tests (protozero writer), so tests
// need no files and can make deliberately broken models.
#pragma once

#include <protozero/pbf_writer.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/runtime/session.h"
#include "core/runtime/tensor.h"

namespace tandem::testing {

struct AttrSpec {
  std::string name;
  enum { kInt, kFloat, kInts, kString } kind = kInt;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::string s;
};

inline AttrSpec attr_int(std::string n, int64_t v) { return {std::move(n), AttrSpec::kInt, v, 0, {}, {}}; }
inline AttrSpec attr_float(std::string n, float v) { return {std::move(n), AttrSpec::kFloat, 0, v, {}, {}}; }
inline AttrSpec attr_ints(std::string n, std::vector<int64_t> v) {
  return {std::move(n), AttrSpec::kInts, 0, 0, std::move(v), {}};
}
inline AttrSpec attr_string(std::string n, std::string v) {
  return {std::move(n), AttrSpec::kString, 0, 0, {}, std::move(v)};
}

struct NodeSpec {
  std::string op;
  std::vector<std::string> inputs, outputs;
  std::vector<AttrSpec> attrs;
  std::string domain;
};

struct IoSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> dims;              // -1 = symbolic
  std::vector<std::string> symbols;       // names for -1 dims (optional)
};

struct InitSpec {
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> values;
  std::string external_location;  // non-empty: data lives in this file (offset 0)
};

class ModelBuilder {
 public:
  int64_t ir_version = 8;
  int64_t opset = 17;
  std::vector<NodeSpec> nodes;
  std::vector<IoSpec> inputs, outputs;
  std::vector<InitSpec> initializers;

  std::string build() const {
    std::string out;
    protozero::pbf_writer model(out);
    model.add_int64(1, ir_version);
    model.add_string(2, "tandem-tests");
    {
      protozero::pbf_writer os(model, 8);
      os.add_string(1, "");
      os.add_int64(2, opset);
    }
    std::string g;
    {
      protozero::pbf_writer graph(g);
      for (const NodeSpec& n : nodes) {
        protozero::pbf_writer node(graph, 1);
        for (const auto& i : n.inputs) node.add_string(1, i);
        for (const auto& o : n.outputs) node.add_string(2, o);
        node.add_string(4, n.op);
        if (!n.domain.empty()) node.add_string(7, n.domain);
        for (const AttrSpec& a : n.attrs) {
          protozero::pbf_writer attr(node, 5);
          attr.add_string(1, a.name);
          switch (a.kind) {
            case AttrSpec::kInt: attr.add_int64(3, a.i); attr.add_int32(20, 2); break;
            case AttrSpec::kFloat: attr.add_float(2, a.f); attr.add_int32(20, 1); break;
            case AttrSpec::kInts: attr.add_packed_int64(8, a.ints.begin(), a.ints.end()); attr.add_int32(20, 7); break;
            case AttrSpec::kString: attr.add_string(4, a.s); attr.add_int32(20, 3); break;
          }
        }
      }
      graph.add_string(2, "test_graph");
      for (const InitSpec& init : initializers) {
        protozero::pbf_writer t(graph, 5);
        t.add_packed_int64(1, init.dims.begin(), init.dims.end());
        t.add_int32(2, 1);
        t.add_string(8, init.name);
        if (init.external_location.empty()) {
          t.add_packed_float(4, init.values.begin(), init.values.end());
        } else {
          auto entry = [&](const std::string& k, const std::string& v) {
            protozero::pbf_writer e(t, 13);
            e.add_string(1, k);
            e.add_string(2, v);
          };
          entry("location", init.external_location);
          entry("offset", "0");
          entry("length", std::to_string(init.values.size() * sizeof(float)));
          t.add_int32(14, 1);
        }
      }
      auto write_io = [&](int field, const IoSpec& io) {
        protozero::pbf_writer vi(graph, field);
        vi.add_string(1, io.name);
        protozero::pbf_writer type(vi, 2);
        protozero::pbf_writer tt(type, 1);
        tt.add_int32(1, static_cast<int32_t>(io.dtype));
        protozero::pbf_writer shape(tt, 2);
        for (size_t d = 0; d < io.dims.size(); ++d) {
          protozero::pbf_writer dim(shape, 1);
          if (io.dims[d] >= 0) dim.add_int64(1, io.dims[d]);
          else dim.add_string(2, d < io.symbols.size() ? io.symbols[d] : "N");
        }
      };
      for (const IoSpec& io : inputs) write_io(11, io);
      for (const IoSpec& io : outputs) write_io(12, io);
    }
    model.add_message(7, g);
    return out;
  }
};

inline std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Loads the model and runs it once.
inline Result<NamedValues> run_model(const ModelBuilder& b, const NamedValues& feeds) {
  const std::string bytes = b.build();
  TANDEM_ASSIGN_OR_RETURN(auto session, Session::load(as_bytes(bytes)));
  return session->run(feeds);
}

// Seeded uniform [-1, 1) values.
inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = u(gen);
  return v;
}

}  // namespace tandem::testing
