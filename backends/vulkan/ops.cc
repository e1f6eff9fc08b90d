#include "backends/vulkan/ops.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <string_view>

#include "core/graph/resize_taps.h"

namespace tandem::vulkan {
namespace {

using graph::Graph;
using graph::Node;
using graph::ValueId;

constexpr size_t kMaxRank = 6;
// Conv output channels per group from which the implicit-GEMM kernel (conv_gemm) is used.
constexpr int64_t kConvGemmMinChannels = 16;

// ---- shader-side codes ---------------------------------------------------------------------
enum class UnaryOp : uint32_t {
  kExp = 16,
  kLog = 17,
  kSqrt = 18,
  kNeg = 19,
  kAbs = 20,
  kReciprocal = 21,
  kErf = 22,
  kFloor = 23,
  kCeil = 24,
  kCopy = 26,
  kSin = 27,
  kCos = 28,
  kSoftplus = 29,
  kMulAdd = 30,
};
enum class BinaryOp : uint32_t { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kPow = 4, kMax = 5, kMin = 6, kPRelu = 7 };
enum class ReduceOp : uint32_t {
  kSum = 0,
  kMean = 1,
  kMax = 2,
  kMin = 3,
  kProd = 4,
  kSumSquare = 5,
  kL2 = 6,
  kL1 = 7,
  kLogSumExp = 8
};

// Push constants, word by word.
struct Push {
  std::vector<uint32_t> words;
  Push& u(uint64_t v) {
    words.push_back(static_cast<uint32_t>(v));
    return *this;
  }
  Push& i(int64_t v) {
    words.push_back(static_cast<uint32_t>(static_cast<int32_t>(v)));
    return *this;
  }
  Push& f(float v) {
    words.push_back(std::bit_cast<uint32_t>(v));
    return *this;
  }
  Push& pad_to(size_t n) {
    words.resize(std::max(words.size(), n), 0);
    return *this;
  }
};

const graph::ValueEntry& entry(const Graph& g, ValueId v) { return g.values[static_cast<size_t>(v)]; }
DType dtype_of(const Graph& g, ValueId v) { return entry(g, v).type.dtype; }
bool is_float(const Graph& g, ValueId v) { return v != graph::kNoValue && dtype_of(g, v) == DType::kFloat32; }
bool is_constant(const Graph& g, ValueId v) { return v != graph::kNoValue && entry(g, v).constant.has_value(); }
int64_t rank_of(const Graph& g, ValueId v) {
  const graph::TypeInfo& t = entry(g, v).type;
  return t.has_shape ? static_cast<int64_t>(t.dims.size()) : -1;
}

bool reshape_like(const Node& n) {
  return n.domain.empty() && (n.op_type == "Reshape" || n.op_type == "Flatten" || n.op_type == "Squeeze" ||
                              n.op_type == "Unsqueeze" || n.op_type == "Identity");
}

// An int64/int32 tensor the host gives the device (graph input or constant, possibly reshaped
// on the way): the backend keeps it as int32, converted on upload. Indices computed on the
// device (ArgMax -> Gather) are not claimed.
bool host_index(const Graph& g, ValueId v) {
  for (int depth = 0; depth < 16 && v != graph::kNoValue; ++depth) {
    const DType t = dtype_of(g, v);
    if (t != DType::kInt64 && t != DType::kInt32) return false;
    const int32_t p = entry(g, v).producer;
    if (p < 0 || is_constant(g, v)) return true;
    const Node& n = g.nodes[static_cast<size_t>(p)];
    if (!reshape_like(n)) return false;
    v = n.inputs[0];
  }
  return false;
}

std::vector<int64_t> ints_of(const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = t.dtype() == DType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
  return out;
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t d = from; d < to && d < s.size(); ++d) p *= s[d];
  return p;
}

// An activation from FusedConv / FullyConnected's attributes.
struct Activation {
  Act act = Act::kNone;
  float p0 = 0, p1 = 0;
};

Result<Activation> fused_activation(const Node& n) {
  const std::string kind = n.attr_string("activation", "");
  const std::vector<float> params = n.attr_floats("activation_params");
  Activation a;
  if (kind.empty()) return a;
  if (kind == "Relu") {
    a.act = Act::kRelu;
  } else if (kind == "Sigmoid") {
    a.act = Act::kSigmoid;
  } else if (kind == "Tanh") {
    a.act = Act::kTanh;
  } else if (kind == "HardSwish") {
    a.act = Act::kHardSwish;
  } else if (kind == "Clip") {
    a.act = Act::kClip;
    a.p0 = params.size() >= 1 ? params[0] : -std::numeric_limits<float>::infinity();
    a.p1 = params.size() >= 2 ? params[1] : std::numeric_limits<float>::infinity();
  } else {
    return unsupported(n.describe() + ": activation " + kind + " on Vulkan");
  }
  return a;
}

// Clip's bounds: constant inputs (opset >= 11) or attributes.
Result<Activation> clip_bounds(const Node& n, const Graph& g) {
  Activation a{Act::kClip, -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
  if (g.opset() < 11) {
    a.p0 = n.attr_float("min", -std::numeric_limits<float>::max());
    a.p1 = n.attr_float("max", std::numeric_limits<float>::max());
    return a;
  }
  for (size_t k = 1; k <= 2; ++k) {
    if (!n.has_input(k)) continue;
    if (!is_constant(g, n.inputs[k])) return unsupported(n.describe() + ": Clip bounds must be constants on Vulkan");
    const Tensor& t = *entry(g, n.inputs[k]).constant;
    if (t.dtype() != DType::kFloat32 || t.numel() != 1)
      return unsupported(n.describe() + ": Clip bounds must be float32 scalars");
    (k == 1 ? a.p0 : a.p1) = t.data<float>()[0];
  }
  return a;
}

// ---- the claim -----------------------------------------------------------------------------

struct UnaryInfo {
  std::string_view op;
  uint32_t code;
};
constexpr UnaryInfo kUnary[] = {
    {"Relu", static_cast<uint32_t>(Act::kRelu)},
    {"Sigmoid", static_cast<uint32_t>(Act::kSigmoid)},
    {"Tanh", static_cast<uint32_t>(Act::kTanh)},
    {"HardSwish", static_cast<uint32_t>(Act::kHardSwish)},
    {"LeakyRelu", static_cast<uint32_t>(Act::kLeakyRelu)},
    {"HardSigmoid", static_cast<uint32_t>(Act::kHardSigmoid)},
    {"Elu", static_cast<uint32_t>(Act::kElu)},
    {"Exp", static_cast<uint32_t>(UnaryOp::kExp)},
    {"Log", static_cast<uint32_t>(UnaryOp::kLog)},
    {"Sqrt", static_cast<uint32_t>(UnaryOp::kSqrt)},
    {"Neg", static_cast<uint32_t>(UnaryOp::kNeg)},
    {"Abs", static_cast<uint32_t>(UnaryOp::kAbs)},
    {"Reciprocal", static_cast<uint32_t>(UnaryOp::kReciprocal)},
    {"Erf", static_cast<uint32_t>(UnaryOp::kErf)},
    {"Floor", static_cast<uint32_t>(UnaryOp::kFloor)},
    {"Ceil", static_cast<uint32_t>(UnaryOp::kCeil)},
    {"Sin", static_cast<uint32_t>(UnaryOp::kSin)},
    {"Cos", static_cast<uint32_t>(UnaryOp::kCos)},
    {"Softplus", static_cast<uint32_t>(UnaryOp::kSoftplus)},
};

// The entry of a table of {op, code} for `op`, or null.
template <typename Info, size_t N>
const Info* find_op(const Info (&table)[N], std::string_view op) {
  for (const Info& i : table) {
    if (i.op == op) return &i;
  }
  return nullptr;
}
const UnaryInfo* unary_info(std::string_view op) { return find_op(kUnary, op); }

struct BinaryInfo {
  std::string_view op;
  BinaryOp code;
};
constexpr BinaryInfo kBinary[] = {{"Add", BinaryOp::kAdd}, {"Sub", BinaryOp::kSub},    {"Mul", BinaryOp::kMul},
                                  {"Div", BinaryOp::kDiv}, {"Pow", BinaryOp::kPow},    {"Max", BinaryOp::kMax},
                                  {"Min", BinaryOp::kMin}, {"PRelu", BinaryOp::kPRelu}};

const BinaryInfo* binary_info(std::string_view op) { return find_op(kBinary, op); }

struct ReduceInfo {
  std::string_view op;
  ReduceOp code;
};
constexpr ReduceInfo kReduce[] = {
    {"ReduceSum", ReduceOp::kSum}, {"ReduceMean", ReduceOp::kMean}, {"ReduceMax", ReduceOp::kMax},
    {"ReduceMin", ReduceOp::kMin}, {"ReduceProd", ReduceOp::kProd}, {"ReduceSumSquare", ReduceOp::kSumSquare},
    {"ReduceL2", ReduceOp::kL2},   {"ReduceL1", ReduceOp::kL1},     {"ReduceLogSumExp", ReduceOp::kLogSumExp}};

const ReduceInfo* reduce_info(std::string_view op) { return find_op(kReduce, op); }

// The reduced axes (normalised, sorted), from the attribute or the constant second input.
Result<std::vector<int64_t>> reduce_axes(const Node& n, const Graph& g, int64_t rank) {
  std::vector<int64_t> axes;
  if (n.has_input(1)) {
    if (!is_constant(g, n.inputs[1])) return unsupported(n.describe() + ": axes must be a constant on Vulkan");
    axes = ints_of(*entry(g, n.inputs[1]).constant);
  } else {
    axes = n.attr_ints("axes");
  }
  if (axes.empty()) {
    if (n.attr_int("noop_with_empty_axes", 0) != 0) return axes;
    axes.resize(static_cast<size_t>(rank));
    std::iota(axes.begin(), axes.end(), 0);
  }
  for (int64_t& a : axes) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return invalid_model(n.describe() + ": axis out of range");
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  for (size_t k = 1; k < axes.size(); ++k) {
    if (axes[k] != axes[k - 1] + 1) return unsupported(n.describe() + ": non-adjacent reduction axes on Vulkan");
  }
  return axes;
}

bool all_float_io(const Node& n, const Graph& g, size_t inputs) {
  for (size_t k = 0; k < std::min(inputs, n.inputs.size()); ++k) {
    if (n.has_input(k) && !is_float(g, n.inputs[k])) return false;
  }
  for (ValueId o : n.outputs) {
    if (o != graph::kNoValue && !is_float(g, o)) return false;
  }
  return true;
}

bool rank_at_most(const Graph& g, ValueId v, int64_t r) {
  const int64_t k = rank_of(g, v);
  return k >= 0 && k <= r;
}

bool constant_inputs_from(const Node& n, const Graph& g, size_t first) {
  for (size_t k = first; k < n.inputs.size(); ++k) {
    if (n.has_input(k) && !is_constant(g, n.inputs[k])) return false;
  }
  return true;
}

}  // namespace

bool can_lower(const Node& n, const Graph& g) {
  if (n.outputs.empty() || !n.implicit_inputs.empty()) return false;
  // Buffers are sized at compile time: a value without even a known rank has a shape only
  // while running.
  for (const std::vector<ValueId>* list : {&n.inputs, &n.outputs}) {
    for (ValueId v : *list) {
      if (v == graph::kNoValue) continue;
      const graph::TypeInfo& t = entry(g, v).type;
      if (t.kind == graph::TypeInfo::Kind::kSequence || t.kind == graph::TypeInfo::Kind::kOptional) return false;
      if (!t.has_shape && !is_constant(g, v)) return false;
    }
  }
  const std::string& op = n.op_type;
  const ValueId x = n.inputs.empty() ? graph::kNoValue : n.inputs[0];
  const ValueId y = n.outputs[0];
  if (y == graph::kNoValue) return false;
  if (n.domain == "com.tandem") {
    if (op == "Gelu") return all_float_io(n, g, 1);
    if (op == "FullyConnected") return all_float_io(n, g, 3) && fused_activation(n).is_ok();
    if (op == "FusedConv") {
      return all_float_io(n, g, 3) && (rank_of(g, x) == 3 || rank_of(g, x) == 4) && fused_activation(n).is_ok();
    }
    return false;
  }
  if (!n.domain.empty() && n.domain != "ai.onnx") return false;
  if (n.outputs.size() > 1) {
    // Extra outputs only where they are optional and absent.
    for (size_t k = 1; k < n.outputs.size(); ++k) {
      if (n.outputs[k] != graph::kNoValue) return false;
    }
  }
  if (unary_info(op) != nullptr) return all_float_io(n, g, 1);
  if (op == "Gelu") return all_float_io(n, g, 1);
  if (op == "Clip") return is_float(g, x) && is_float(g, y) && clip_bounds(n, g).is_ok();
  if (op == "Dropout") {
    // Inference only: training_mode absent, or a constant false (training drops elements).
    if (n.has_input(2)) {
      const auto& c = entry(g, n.inputs[2]).constant;
      if (!c || c->numel() != 1 || c->get_as_double(0) != 0) return false;
    }
    return is_float(g, x) && is_float(g, y);
  }
  if (binary_info(op) != nullptr) {
    return n.inputs.size() == 2 && all_float_io(n, g, 2) && rank_at_most(g, y, kMaxRank) &&
           rank_at_most(g, n.inputs[0], kMaxRank) && rank_at_most(g, n.inputs[1], kMaxRank);
  }
  if (reshape_like(n)) {
    // The data input moves; shape / axes inputs are constants by now (or the node is folded).
    const bool data_ok = is_float(g, x) || host_index(g, x);
    return data_ok && dtype_of(g, x) == dtype_of(g, y) && constant_inputs_from(n, g, 1);
  }
  if (op == "Cast") {
    const int64_t to = n.attr_int("to", 0);
    if (to != 1 /* FLOAT */) return false;
    return is_float(g, x) || host_index(g, x);
  }
  if (op == "MatMul") return all_float_io(n, g, 2) && rank_of(g, x) >= 1 && rank_of(g, n.inputs[1]) >= 1;
  if (op == "Gemm") return all_float_io(n, g, 3) && rank_of(g, x) == 2 && rank_of(g, n.inputs[1]) == 2;
  if (op == "Conv") {
    return all_float_io(n, g, 3) && (rank_of(g, x) == 3 || rank_of(g, x) == 4);
  }
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    if (op == "MaxPool" && n.outputs.size() > 1 && n.outputs[1] != graph::kNoValue) return false;
    return all_float_io(n, g, 1) && (rank_of(g, x) == 3 || rank_of(g, x) == 4);
  }
  if (op == "Softmax" || op == "LogSoftmax") return all_float_io(n, g, 1) && rank_of(g, x) >= 1;
  if (op == "LayerNormalization") return all_float_io(n, g, 3) && rank_of(g, x) >= 1;
  if (reduce_info(op) != nullptr) {
    const int64_t r = rank_of(g, x);
    return all_float_io(n, g, 1) && r >= 0 && reduce_axes(n, g, r).is_ok();
  }
  if (op == "Transpose" || op == "Expand") {
    return is_float(g, x) && is_float(g, y) && rank_at_most(g, x, kMaxRank) && rank_at_most(g, y, kMaxRank) &&
           constant_inputs_from(n, g, 1);
  }
  if (op == "Concat") {
    return all_float_io(n, g, n.inputs.size()) && rank_at_most(g, y, kMaxRank);
  }
  if (op == "Slice") {
    return is_float(g, x) && is_float(g, y) && rank_at_most(g, x, kMaxRank) && constant_inputs_from(n, g, 1);
  }
  if (op == "Gather") {
    return is_float(g, x) && is_float(g, y) && n.inputs.size() == 2 && host_index(g, n.inputs[1]);
  }
  if (op == "Resize" || op == "Upsample") {
    // The taps are computed at compile time: scales / sizes / roi must be constants.
    return is_float(g, x) && is_float(g, y) && constant_inputs_from(n, g, 1);
  }
  if (op == "Pad") {
    const std::string mode = n.attr_string("mode", "constant");
    return (mode == "constant" || mode == "edge" || mode == "reflect") && is_float(g, x) && is_float(g, y) &&
           rank_at_most(g, x, kMaxRank) && constant_inputs_from(n, g, 1);
  }
  return false;
}

// float32 values as they are; int64/int32 (host indices, the only other values claimed) as int32.
static SlotType slot_type_of(const graph::ValueEntry& e) {
  return e.type.dtype == DType::kFloat32 ? SlotType::kFloat : SlotType::kIndex;
}

// ---- slots -----------------------------------------------------------------------------------

uint32_t Lowering::read(ValueId v) {
  if (auto it = slots_.find(v); it != slots_.end()) return it->second;
  const graph::ValueEntry& e = entry(g_, v);
  const SlotType type = slot_type_of(e);
  const int64_t numel = e.constant ? e.constant->numel() : shape_numel(e.type.concrete_shape());
  const uint32_t s = program_.add_slot(type, numel);
  if (e.constant) {
    program_.set_constant(s, *e.constant);
  } else {
    inputs_.push_back(v);
  }
  slots_[v] = s;
  return s;
}

uint32_t Lowering::write(ValueId v) {
  const graph::ValueEntry& e = entry(g_, v);
  const SlotType type = slot_type_of(e);
  const uint32_t s = program_.add_slot(type, shape_numel(e.type.concrete_shape()));
  slots_[v] = s;
  return s;
}

void Lowering::alias(ValueId out, ValueId in) {
  const uint32_t src = read(in);
  slots_[out] = program_.add_alias(src, shape_numel(shape(out)));
}

// ---- lowering ----------------------------------------------------------------------------------
namespace {

// One dispatch of `shader` over this grid of workgroups.
Status add_grid(Lowering& l, const Node& n, std::string_view shader, std::vector<uint32_t> slots, const Push& push,
                const uint64_t (&groups)[3]) {
  for (uint64_t g : groups) {
    if (g > 65535) return unsupported(n.describe() + ": grid too large for Vulkan");
  }
  TANDEM_ASSIGN_OR_RETURN(const Pipeline* p,
                          l.context().pipeline(l.program().shader(shader), static_cast<uint32_t>(slots.size()),
                                               static_cast<uint32_t>(push.words.size() * 4)));
  Step s;
  s.pipeline = p;
  s.slots = std::move(slots);
  s.push = push.words;
  for (size_t d = 0; d < 3; ++d) s.groups[d] = static_cast<uint32_t>(groups[d]);
  s.label = n.name.empty() ? n.op_type : n.name + " (" + n.op_type + ")";
  l.program().add_step(std::move(s));
  return Status::ok();
}

// One dispatch over `invocations` (a 1-D index; shaders use flat_index()).
Status add(Lowering& l, const Node& n, std::string_view shader, std::vector<uint32_t> slots, const Push& push,
           uint64_t invocations, uint32_t local_size = 256) {
  uint32_t g[3];
  Program::grid((invocations + local_size - 1) / local_size, g);
  return add_grid(l, n, shader, std::move(slots), push, {g[0], g[1], g[2]});
}

Status unary(Lowering& l, const Node& n, uint32_t op, float p0 = 0, float p1 = 0) {
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  const int64_t count = l.program().slot_numel(y);
  return add(l, n, "unary", {x, y}, Push().u(count).u(op).f(p0).f(p1), count);
}

// Strides of `in` (right-aligned) broadcast to `out`: 0 where it has size 1.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  const std::vector<int64_t> c = contiguous_strides(in);
  const size_t off = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) st[d + off] = in[d] == 1 ? 0 : c[d];
  return st;
}

Status binary(Lowering& l, const Node& n, BinaryOp op) {
  const Shape sa = l.shape(n.inputs[0]), sb = l.shape(n.inputs[1]), so = l.shape(n.outputs[0]);
  if (so.size() > kMaxRank || sa.size() > so.size() || sb.size() > so.size())
    return unsupported(n.describe() + ": rank over 6 on Vulkan");
  const uint32_t a = l.read(n.inputs[0]), b = l.read(n.inputs[1]);
  const uint32_t y = l.write(n.outputs[0]);
  const std::vector<int64_t> as = broadcast_strides(sa, so), bs = broadcast_strides(sb, so);
  Push p;
  const int64_t count = shape_numel(so);
  p.u(count).u(so.size()).u(static_cast<uint32_t>(op)).u(0);
  for (size_t d = 0; d < kMaxRank; ++d) p.u(d < so.size() ? so[d] : 1);
  for (size_t d = 0; d < kMaxRank; ++d) p.u(d < so.size() ? as[d] : 0);
  for (size_t d = 0; d < kMaxRank; ++d) p.u(d < so.size() ? bs[d] : 0);
  return add(l, n, "binary", {a, b, y}, p, count);
}

// A strided copy: shape, source strides/offset, destination strides/offset.
Status copy(Lowering& l, const Node& n, uint32_t x, uint32_t y, const Shape& shape,
            const std::vector<int64_t>& in_stride, int64_t in_offset, const std::vector<int64_t>& out_stride,
            int64_t out_offset) {
  if (shape.size() > kMaxRank) return unsupported(n.describe() + ": rank over 6 on Vulkan");
  const int64_t count = shape_numel(shape);
  Push p;
  p.u(count).u(shape.size()).i(in_offset).i(out_offset);
  for (size_t d = 0; d < kMaxRank; ++d) p.u(d < shape.size() ? shape[d] : 1);
  for (size_t d = 0; d < kMaxRank; ++d) p.i(d < shape.size() ? in_stride[d] : 0);
  for (size_t d = 0; d < kMaxRank; ++d) p.i(d < shape.size() ? out_stride[d] : 0);
  return add(l, n, "copy", {x, y}, p, count);
}

struct MatMulArgs {
  uint32_t a = 0, b = 0, bias = 0, c = 0;
  int64_t M = 0, N = 0, K = 0, batch = 1;
  int64_t a_batch = 0, a_row = 0, a_col = 1, b_batch = 0, b_row = 0, b_col = 1;
  int64_t bias_batch = 0, bias_row = 0, bias_col = 0;
  bool has_bias = false;
  float alpha = 1, beta = 1;
  Activation act;
};

Status matmul_step(Lowering& l, const Node& n, const MatMulArgs& m) {
  if (m.M > UINT32_MAX / 2 || m.N > UINT32_MAX / 2 || m.K > UINT32_MAX / 2)
    return unsupported(n.describe() + ": too large for Vulkan");
  Push p;
  p.u(m.M).u(m.N).u(m.K).u(m.has_bias ? 1 : 0);
  p.u(m.a_batch).u(m.a_row).u(m.a_col).u(m.b_batch).u(m.b_row).u(m.b_col);
  p.u(m.bias_batch).u(m.bias_row).u(m.bias_col).u(static_cast<uint32_t>(m.act.act));
  p.f(m.alpha).f(m.beta).f(m.act.p0).f(m.act.p1);
  // 64 x 64 tiles of C per workgroup; an unused bias binding still needs a buffer.
  const uint64_t groups[3] = {static_cast<uint64_t>(m.N + 63) / 64, static_cast<uint64_t>(m.M + 63) / 64,
                              static_cast<uint64_t>(m.batch)};
  return add_grid(l, n, "matmul", {m.a, m.b, m.has_bias ? m.bias : m.a, m.c}, p, groups);
}

Status lower_matmul(Lowering& l, const Node& n) {
  Shape sa = l.shape(n.inputs[0]), sb = l.shape(n.inputs[1]);
  const Shape so = l.shape(n.outputs[0]);
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  MatMulArgs m;
  m.M = sa[sa.size() - 2];
  m.K = sa.back();
  m.N = sb.back();
  if (sb[sb.size() - 2] != m.K) return invalid_model(n.describe() + ": inner dimensions differ");
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  const int64_t pa = shape_numel(batch_a), pb = shape_numel(batch_b);
  m.a_row = m.K;
  m.b_row = m.N;
  if (pb == 1) {
    // B is one matrix: fold A's batch into its rows (contiguous), one big GEMM.
    m.M *= pa;
    m.batch = 1;
  } else if (pa == 1) {
    m.batch = pb;
    m.b_batch = m.K * m.N;
  } else if (batch_a.size() == batch_b.size() && batch_a == batch_b) {
    m.batch = pa;
    m.a_batch = m.M * m.K;
    m.b_batch = m.K * m.N;
  } else {
    return unsupported(n.describe() + ": MatMul batch broadcasting between " + shape_to_string(batch_a) + " and " +
                       shape_to_string(batch_b) + " on Vulkan");
  }
  if (shape_numel(so) != m.batch * m.M * m.N) return internal_error(n.describe() + ": MatMul output size");
  m.a = l.read(n.inputs[0]);
  m.b = l.read(n.inputs[1]);
  m.c = l.write(n.outputs[0]);
  return matmul_step(l, n, m);
}

Status lower_gemm(Lowering& l, const Node& n) {
  const Shape sa = l.shape(n.inputs[0]), sb = l.shape(n.inputs[1]);
  const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
  MatMulArgs m;
  m.M = ta ? sa[1] : sa[0];
  m.K = ta ? sa[0] : sa[1];
  m.N = tb ? sb[0] : sb[1];
  // A[m, k] at m * a_row + k * a_col: transposes are strides.
  m.a_row = ta ? 1 : sa[1];
  m.a_col = ta ? sa[1] : 1;
  m.b_row = tb ? 1 : sb[1];
  m.b_col = tb ? sb[1] : 1;
  m.alpha = n.attr_float("alpha", 1.0f);
  m.beta = n.attr_float("beta", 1.0f);
  m.a = l.read(n.inputs[0]);
  m.b = l.read(n.inputs[1]);
  if (n.has_input(2)) {
    const Shape sc = l.shape(n.inputs[2]);
    if (sc.size() > 2) return invalid_model(n.describe() + ": C has rank > 2");
    const int64_t rows = sc.size() == 2 ? sc[0] : 1, cols = sc.empty() ? 1 : sc.back();
    m.has_bias = true;
    m.bias = l.read(n.inputs[2]);
    m.bias_row = rows == 1 ? 0 : cols;
    m.bias_col = cols == 1 ? 0 : 1;
  }
  m.c = l.write(n.outputs[0]);
  return matmul_step(l, n, m);
}

Status lower_fully_connected(Lowering& l, const Node& n) {
  const Shape sx = l.shape(n.inputs[0]), sw = l.shape(n.inputs[1]);
  TANDEM_ASSIGN_OR_RETURN(Activation act, fused_activation(n));
  MatMulArgs m;
  m.K = sw[0];
  m.N = sw[1];
  m.M = sx.empty() ? 1 : shape_numel(sx) / std::max<int64_t>(m.K, 1);
  m.a_row = m.K;
  m.b_row = m.N;
  m.act = act;
  m.a = l.read(n.inputs[0]);
  m.b = l.read(n.inputs[1]);
  if (n.has_input(2)) {
    m.has_bias = true;
    m.bias = l.read(n.inputs[2]);
    m.bias_col = l.program().slot_numel(m.bias) == 1 ? 0 : 1;
  }
  m.c = l.write(n.outputs[0]);
  return matmul_step(l, n, m);
}

// Window facts shared by Conv and pooling: 1-D inputs become H = 1.
struct Window {
  int64_t N = 0, C = 0, H = 1, W = 0, OH = 1, OW = 0, KH = 1, KW = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0, ph_end = 0, pw_end = 0;
};

Result<Window> window(const Node& n, const Shape& x, const Shape& y, std::vector<int64_t> kernel, bool dilations) {
  const size_t r = x.size() - 2;
  if (kernel.size() != r) return invalid_model(n.describe() + ": kernel rank differs from the input's");
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(r, 1));
  std::vector<int64_t> dil =
      dilations ? n.attr_ints("dilations", std::vector<int64_t>(r, 1)) : std::vector<int64_t>(r, 1);
  std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  if (strides.size() != r || dil.size() != r || pads.size() != 2 * r)
    return invalid_model(n.describe() + ": strides/dilations/pads sizes");
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> begin(r), end(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = x[2 + d], out = y[2 + d], eff = (kernel[d] - 1) * dil[d] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[d] + eff - in);
      begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end[d] = total - begin[d];
    } else if (auto_pad == "VALID") {
      begin[d] = end[d] = 0;
    } else {
      begin[d] = pads[d];
      end[d] = pads[d + r];
    }
  }
  Window w;
  w.N = x[0];
  w.C = x[1];
  if (r == 2) {
    w.H = x[2];
    w.OH = y[2];
    w.KH = kernel[0];
    w.sh = strides[0];
    w.dh = dil[0];
    w.ph = begin[0];
    w.ph_end = end[0];
  }
  const size_t wi = r - 1;  // the W dimension among the spatial ones
  w.W = x[2 + wi];
  w.OW = y[2 + wi];
  w.KW = kernel[wi];
  w.sw = strides[wi];
  w.dw = dil[wi];
  w.pw = begin[wi];
  w.pw_end = end[wi];
  return w;
}

Status lower_conv(Lowering& l, const Node& n, const Activation& act) {
  const Shape sx = l.shape(n.inputs[0]), sw = l.shape(n.inputs[1]), sy = l.shape(n.outputs[0]);
  const std::vector<int64_t> kernel(sw.begin() + 2, sw.end());
  TANDEM_ASSIGN_OR_RETURN(Window w, window(n, sx, sy, kernel, true));
  const int64_t group = n.attr_int("group", 1);
  const int64_t OC = sw[0];
  if (group <= 0 || w.C % group != 0 || OC % group != 0 || sw[1] != w.C / group)
    return invalid_model(n.describe() + ": group/channels mismatch");
  const uint32_t x = l.read(n.inputs[0]), wt = l.read(n.inputs[1]);
  const bool has_bias = n.has_input(2);
  const uint32_t b = has_bias ? l.read(n.inputs[2]) : wt;
  const uint32_t y = l.write(n.outputs[0]);
  Push p;
  p.u(w.N).u(w.C).u(w.H).u(w.W).u(OC).u(w.OH).u(w.OW).u(w.KH).u(w.KW);
  p.u(w.sh).u(w.sw).u(w.dh).u(w.dw).i(w.ph).i(w.pw);
  p.u(group).u(has_bias ? 1 : 0).u(static_cast<uint32_t>(act.act)).f(act.p0).f(act.p1);
  // Enough output channels per group: an implicit GEMM, 64 channels x 64 pixels per workgroup
  // with its operands staged in shared memory. Depthwise and narrow groups: one output per
  // invocation (a 64-channel tile would be mostly empty).
  if (OC / group >= kConvGemmMinChannels) {
    const uint64_t groups[3] = {static_cast<uint64_t>(w.N * w.OH * w.OW + 63) / 64,
                                static_cast<uint64_t>(OC / group + 63) / 64, static_cast<uint64_t>(group)};
    return add_grid(l, n, "conv_gemm", {x, wt, b, y}, p, groups);
  }
  return add(l, n, "conv2d", {x, wt, b, y}, p, shape_numel(sy));
}

Status lower_pool(Lowering& l, const Node& n) {
  const Shape sx = l.shape(n.inputs[0]), sy = l.shape(n.outputs[0]);
  const bool global = n.op_type == "GlobalAveragePool" || n.op_type == "GlobalMaxPool";
  const bool is_max = n.op_type == "MaxPool" || n.op_type == "GlobalMaxPool";
  std::vector<int64_t> kernel = global ? std::vector<int64_t>(sx.begin() + 2, sx.end()) : n.attr_ints("kernel_shape");
  Window w;
  if (global) {
    w.N = sx[0];
    w.C = sx[1];
    if (sx.size() == 4) w.H = sx[2], w.KH = sx[2];
    w.W = sx.back();
    w.KW = sx.back();
    w.OW = 1;
  } else {
    TANDEM_ASSIGN_OR_RETURN(w, window(n, sx, sy, kernel, n.op_type == "MaxPool"));
  }
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  Push p;
  p.u(w.N * w.C).u(w.H).u(w.W).u(w.OH).u(w.OW).u(w.KH).u(w.KW).u(w.sh).u(w.sw).u(w.dh).u(w.dw).i(w.ph).i(w.pw);
  p.u(is_max ? 1 : 0).u(n.attr_int("count_include_pad", 0) != 0 ? 1 : 0).u(w.ph_end).u(w.pw_end);
  return add(l, n, "pool2d", {x, y}, p, shape_numel(sy));
}

Status lower_softmax(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]);
  const auto r = static_cast<int64_t>(s.size());
  const bool legacy = l.graph().opset() < 13;  // opset < 13: over the flattened [axis, ...) block
  int64_t axis = n.attr_int("axis", legacy ? 1 : -1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= std::max<int64_t>(r, 1)) return invalid_model(n.describe() + ": axis out of range");
  const auto a = static_cast<size_t>(axis);
  const int64_t outer = product(s, 0, a);
  const int64_t L = legacy ? product(s, a, s.size()) : (s.empty() ? 1 : s[a]);
  const int64_t inner = legacy ? 1 : product(s, a + 1, s.size());
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  const int64_t rows = outer * inner;
  return add(l, n, "softmax", {x, y}, Push().u(rows).u(L).u(inner).u(n.op_type == "LogSoftmax" ? 1 : 0), rows * 128,
             128);
}

Status lower_layer_norm(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]);
  int64_t axis = n.attr_int("axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  const int64_t L = product(s, static_cast<size_t>(axis), s.size());
  if (shape_numel(l.shape(n.inputs[1])) != L || (n.has_input(2) && shape_numel(l.shape(n.inputs[2])) != L)) {
    return unsupported(n.describe() + ": broadcast LayerNormalization scale/bias on Vulkan");
  }
  const uint32_t x = l.read(n.inputs[0]), gamma = l.read(n.inputs[1]);
  const uint32_t beta = n.has_input(2) ? l.read(n.inputs[2]) : gamma;
  const uint32_t y = l.write(n.outputs[0]);
  const int64_t rows = shape_numel(s) / std::max<int64_t>(L, 1);
  return add(l, n, "layernorm", {x, gamma, beta, y},
             Push().u(rows).u(L).u(n.has_input(2) ? 1 : 0).f(n.attr_float("epsilon", 1e-5f)), rows * 128, 128);
}

Status lower_reduce(Lowering& l, const Node& n, ReduceOp op) {
  const Shape s = l.shape(n.inputs[0]);
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, reduce_axes(n, l.graph(), static_cast<int64_t>(s.size())));
  if (axes.empty()) {  // noop_with_empty_axes
    l.alias(n.outputs[0], n.inputs[0]);
    return Status::ok();
  }
  const auto a0 = static_cast<size_t>(axes.front()), a1 = static_cast<size_t>(axes.back()) + 1;
  const int64_t outer = product(s, 0, a0), R = product(s, a0, a1), inner = product(s, a1, s.size());
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  return add(l, n, "reduce", {x, y}, Push().u(outer).u(R).u(inner).u(static_cast<uint32_t>(op)), outer * inner);
}

Status lower_transpose(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]);
  std::vector<int64_t> perm = n.attr_ints("perm");
  if (perm.empty()) {
    perm.resize(s.size());
    for (size_t d = 0; d < s.size(); ++d) perm[d] = static_cast<int64_t>(s.size() - 1 - d);
  }
  const std::vector<int64_t> in = contiguous_strides(s);
  Shape out(s.size());
  std::vector<int64_t> in_stride(s.size());
  for (size_t d = 0; d < s.size(); ++d) {
    const auto p = static_cast<size_t>(perm[d] < 0 ? perm[d] + static_cast<int64_t>(s.size()) : perm[d]);
    out[d] = s[p];
    in_stride[d] = in[p];
  }
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  return copy(l, n, x, y, out, in_stride, 0, contiguous_strides(out), 0);
}

Status lower_concat(Lowering& l, const Node& n) {
  const Shape so = l.shape(n.outputs[0]);
  int64_t axis = n.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(so.size());
  const std::vector<int64_t> out_stride = contiguous_strides(so);
  std::vector<uint32_t> ins;
  for (ValueId v : n.inputs) ins.push_back(l.read(v));
  const uint32_t y = l.write(n.outputs[0]);
  int64_t offset = 0;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const Shape s = l.shape(n.inputs[k]);
    if (shape_numel(s) > 0) {
      TANDEM_RETURN_IF_ERROR(copy(l, n, ins[k], y, s, contiguous_strides(s), 0, out_stride,
                                  offset * out_stride[static_cast<size_t>(axis)]));
    }
    offset += s[static_cast<size_t>(axis)];
  }
  return Status::ok();
}

Result<std::vector<int64_t>> const_ints(const Lowering& l, const Node& n, size_t k) {
  if (!n.has_input(k)) return std::vector<int64_t>{};
  const auto& c = l.graph().values[static_cast<size_t>(n.inputs[k])].constant;
  if (!c) return unsupported(n.describe() + ": input " + std::to_string(k) + " must be a constant on Vulkan");
  return ints_of(*c);
}

Status lower_slice(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]), so = l.shape(n.outputs[0]);
  std::vector<int64_t> starts, ends, axes, steps;
  if (l.graph().opset() < 10) {
    starts = n.attr_ints("starts");
    ends = n.attr_ints("ends");
    axes = n.attr_ints("axes");
  } else {
    TANDEM_ASSIGN_OR_RETURN(starts, const_ints(l, n, 1));
    TANDEM_ASSIGN_OR_RETURN(ends, const_ints(l, n, 2));
    TANDEM_ASSIGN_OR_RETURN(axes, const_ints(l, n, 3));
    TANDEM_ASSIGN_OR_RETURN(steps, const_ints(l, n, 4));
  }
  if (axes.empty()) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  const std::vector<int64_t> in = contiguous_strides(s);
  std::vector<int64_t> in_stride = in;
  int64_t offset = 0;
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + static_cast<int64_t>(s.size()) : axes[k];
    const auto d = static_cast<size_t>(a);
    const int64_t dim = s[d], step = steps[k];
    if (step == 0) return invalid_model(n.describe() + ": a step of 0");
    int64_t start = starts[k] < 0 ? starts[k] + dim : starts[k];
    start = step > 0 ? std::clamp<int64_t>(start, 0, dim) : std::clamp<int64_t>(start, 0, dim - 1);
    offset += start * in[d];
    in_stride[d] = in[d] * step;
  }
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  if (shape_numel(so) == 0) return Status::ok();
  return copy(l, n, x, y, so, in_stride, offset, contiguous_strides(so), 0);
}

Status lower_expand(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]), so = l.shape(n.outputs[0]);
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  return copy(l, n, x, y, so, broadcast_strides(s, so), 0, contiguous_strides(so), 0);
}

Status lower_gather(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]);
  int64_t axis = n.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  const auto a = static_cast<size_t>(axis);
  const uint32_t data = l.read(n.inputs[0]);
  const uint32_t idx = l.read(n.inputs[1]);
  TANDEM_RETURN_IF_ERROR(l.program().set_index_bound(idx, s[a]));
  const uint32_t y = l.write(n.outputs[0]);
  const int64_t outer = product(s, 0, a), inner = product(s, a + 1, s.size()), count = l.program().slot_numel(idx);
  return add(l, n, "gather", {data, idx, y}, Push().u(outer).u(s[a]).u(inner).u(count), outer * count * inner);
}

Status lower_pad(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]), so = l.shape(n.outputs[0]);
  std::vector<int64_t> pads;
  float value = 0;
  if (l.graph().opset() < 11) {
    pads = n.attr_ints("pads");
    value = n.attr_float("value", 0.0f);
  } else {
    TANDEM_ASSIGN_OR_RETURN(pads, const_ints(l, n, 1));
    if (n.has_input(2)) {
      const auto& c = l.graph().values[static_cast<size_t>(n.inputs[2])].constant;
      if (!c || c->dtype() != DType::kFloat32 || c->numel() != 1)
        return unsupported(n.describe() + ": constant_value on Vulkan");
      value = c->data<float>()[0];
    }
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, const_ints(l, n, 3));
  const size_t r = s.size();
  std::vector<int64_t> begin(r, 0);
  if (axes.empty()) {
    if (pads.size() != 2 * r) return invalid_model(n.describe() + ": pads needs 2 x rank values");
    for (size_t d = 0; d < r; ++d) begin[d] = pads[d];
  } else {
    for (size_t k = 0; k < axes.size(); ++k)
      begin[static_cast<size_t>(axes[k] < 0 ? axes[k] + static_cast<int64_t>(r) : axes[k])] = pads[k];
  }
  const std::string mode = n.attr_string("mode", "constant");
  const uint32_t x = l.read(n.inputs[0]);
  const uint32_t y = l.write(n.outputs[0]);
  Push p;
  const int64_t count = shape_numel(so);
  p.u(count).u(r).u(mode == "constant" ? 0 : mode == "edge" ? 1 : 2).f(value);
  for (size_t d = 0; d < kMaxRank; ++d) p.u(d < r ? so[d] : 1);
  for (size_t d = 0; d < kMaxRank; ++d) p.u(d < r ? s[d] : 1);
  for (size_t d = 0; d < kMaxRank; ++d) p.i(d < r ? begin[d] : 0);
  return add(l, n, "pad", {x, y}, p, count);
}

// Resize as one dispatch per resized axis (separable taps from core/graph/resize_taps), through
// intermediate buffers; an axis left unchanged costs nothing.
Status lower_resize(Lowering& l, const Node& n) {
  const Shape s = l.shape(n.inputs[0]);
  std::vector<const Tensor*> inputs(n.inputs.size(), nullptr);
  for (size_t k = 1; k < n.inputs.size(); ++k) {
    if (n.has_input(k)) inputs[k] = &*l.graph().values[static_cast<size_t>(n.inputs[k])].constant;
  }
  Result<graph::ResizeParams> p = graph::resize_params(n, l.graph().opset(), s, inputs);
  if (!p.is_ok()) return invalid_model(n.describe() + ": " + p.status().message());
  if (p->out != l.shape(n.outputs[0])) return internal_error(n.describe() + ": output shape differs from its taps");
  // An output the device cannot hold goes to the fallback before any tap table is built (an
  // absurd size would otherwise allocate taps per output index on the host).
  if (static_cast<double>(shape_numel(p->out)) * 4 > static_cast<double>(l.context().info().max_storage_buffer_range))
    return unsupported(n.describe() + ": output over the device's storage buffer limit");
  std::vector<size_t> axes;
  std::vector<graph::ResizeTaps> maps;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 0 || p->out[d] == 0) return unsupported(n.describe() + ": empty tensors on Vulkan");
    Result<graph::ResizeTaps> m = graph::resize_taps(*p, d, s[d]);
    if (!m.is_ok()) return invalid_model(n.describe() + ": " + m.status().message());
    if (m->identity) continue;
    axes.push_back(d);
    maps.push_back(std::move(*m));
  }
  if (axes.empty()) {
    l.alias(n.outputs[0], n.inputs[0]);
    return Status::ok();
  }
  uint32_t cur = l.read(n.inputs[0]);
  Shape shape = s;
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t d = axes[k];
    const graph::ResizeTaps& m = maps[k];
    const int64_t entries = p->out[d] * m.taps;
    TANDEM_ASSIGN_OR_RETURN(Tensor table, Tensor::allocate(DType::kInt32, {2 * entries}));
    int32_t* words = table.data<int32_t>();
    for (int64_t e = 0; e < entries; ++e) {
      const bool outside = m.outside[static_cast<size_t>(e / m.taps)] != 0;
      words[2 * e] = outside ? -1 : static_cast<int32_t>(m.idx[static_cast<size_t>(e)]);
      words[2 * e + 1] = std::bit_cast<int32_t>(static_cast<float>(m.w[static_cast<size_t>(e)]));
    }
    const uint32_t taps = l.program().add_slot(SlotType::kIndex, 2 * entries);
    l.program().set_constant(taps, std::move(table));
    const int64_t outer = product(shape, 0, d), inner = product(shape, d + 1, shape.size()), in_len = shape[d];
    shape[d] = p->out[d];
    const uint32_t next =
        k + 1 == axes.size() ? l.write(n.outputs[0]) : l.program().add_slot(SlotType::kFloat, shape_numel(shape));
    const int64_t count = outer * shape[d] * inner;
    Push push;
    push.u(outer).u(in_len).u(shape[d]).u(inner).u(m.taps).f(static_cast<float>(p->extrapolation));
    TANDEM_RETURN_IF_ERROR(add(l, n, "resize", {cur, taps, next}, push, count));
    cur = next;
  }
  return Status::ok();
}

}  // namespace

Status lower(const Node& n, Lowering& l) {
  const std::string& op = n.op_type;
  if (n.domain == "com.tandem") {
    if (op == "Gelu") {
      return unary(l, n,
                   static_cast<uint32_t>(n.attr_string("approximate", "none") == "tanh" ? Act::kGeluTanh : Act::kGelu));
    }
    if (op == "FullyConnected") return lower_fully_connected(l, n);
    if (op == "FusedConv") {
      TANDEM_ASSIGN_OR_RETURN(Activation act, fused_activation(n));
      return lower_conv(l, n, act);
    }
    return unsupported(n.describe() + " on Vulkan");
  }
  if (const UnaryInfo* u = unary_info(op)) {
    float p0 = 0, p1 = 0;
    if (op == "LeakyRelu") p0 = n.attr_float("alpha", 0.01f);
    if (op == "Elu") p0 = n.attr_float("alpha", 1.0f);
    if (op == "HardSigmoid") p0 = n.attr_float("alpha", 0.2f), p1 = n.attr_float("beta", 0.5f);
    return unary(l, n, u->code, p0, p1);
  }
  if (op == "Gelu") {
    return unary(l, n,
                 static_cast<uint32_t>(n.attr_string("approximate", "none") == "tanh" ? Act::kGeluTanh : Act::kGelu));
  }
  if (op == "Clip") {
    TANDEM_ASSIGN_OR_RETURN(Activation a, clip_bounds(n, l.graph()));
    return unary(l, n, static_cast<uint32_t>(Act::kClip), a.p0, a.p1);
  }
  if (const BinaryInfo* b = binary_info(op)) return binary(l, n, b->code);
  if (reshape_like(n) || op == "Dropout") {
    l.alias(n.outputs[0], n.inputs[0]);
    return Status::ok();
  }
  if (op == "Cast") {
    if (dtype_of(l.graph(), n.inputs[0]) == DType::kFloat32) {
      l.alias(n.outputs[0], n.inputs[0]);
      return Status::ok();
    }
    const uint32_t x = l.read(n.inputs[0]);
    const uint32_t y = l.write(n.outputs[0]);
    const int64_t count = l.program().slot_numel(y);
    return add(l, n, "cast", {x, y}, Push().u(count), count);
  }
  if (op == "MatMul") return lower_matmul(l, n);
  if (op == "Gemm") return lower_gemm(l, n);
  if (op == "Conv") return lower_conv(l, n, Activation{});
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool")
    return lower_pool(l, n);
  if (op == "Softmax" || op == "LogSoftmax") return lower_softmax(l, n);
  if (op == "LayerNormalization") return lower_layer_norm(l, n);
  if (const ReduceInfo* r = reduce_info(op)) return lower_reduce(l, n, r->code);
  if (op == "Transpose") return lower_transpose(l, n);
  if (op == "Concat") return lower_concat(l, n);
  if (op == "Slice") return lower_slice(l, n);
  if (op == "Expand") return lower_expand(l, n);
  if (op == "Gather") return lower_gather(l, n);
  if (op == "Pad") return lower_pad(l, n);
  if (op == "Resize" || op == "Upsample") return lower_resize(l, n);
  return unsupported(n.describe() + " on Vulkan");
}

}  // namespace tandem::vulkan
