// The device's self-test, run once when the context is made: small golden kernels (a fully
// connected layer with bias and ReLU, a strided padded convolution with Clip, a depthwise one,
// a broadcast Add, a Softmax) through the same lowering models use, compared with results
// computed here on the CPU. Vulkan drivers are known to return wrong results silently on some
// GPUs; a mismatch marks the device unusable, with the reason, and sessions run elsewhere.
//
// Where the device has 16-bit storage, the same kernels run again with fp16 storage (looser
// tolerance); a mismatch there only turns fp16 storage off (DeviceInfo::fp16_refused says why).
//
// TANDEM_VULKAN_SELFTEST_FAULT=1 corrupts one element of the device's first answer, =fp16 the
// first fp16 answer (tests prove that a mismatch is caught and routed around).
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "backends/vulkan/context.h"
#include "backends/vulkan/ops.h"
#include "backends/vulkan/program.h"

namespace tandem::vulkan {
namespace {

using graph::ValueId;

// Deterministic values in [-1, 1).
std::vector<float> values(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / static_cast<float>(1 << 23) - 1.0f;
  }
  return v;
}

// A one-node graph: inputs (runtime), constants, one float32 output.
struct Case {
  std::string name;
  graph::Graph g;
  std::vector<Tensor> feeds;  // for the runtime inputs, in order
  std::vector<float> expected;

  ValueId value(const std::string& n, const Shape& s, std::optional<std::vector<float>> constant = std::nullopt) {
    const ValueId id = g.add_value(n);  // runtime inputs are listed in g.inputs by the case
    g.values[static_cast<size_t>(id)].type = graph::TypeInfo::tensor(DType::kFloat32, s);
    if (constant) {
      g.values[static_cast<size_t>(id)].constant = Tensor::from_vector<float>(s, *constant);
    }
    return id;
  }
  graph::Node& node(const std::string& op, const std::string& domain, std::vector<ValueId> in, ValueId out) {
    graph::Node n;
    n.name = name;
    n.op_type = op;
    n.domain = domain;
    n.inputs = std::move(in);
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
    g.outputs = {out};
    return g.nodes.back();
  }
};

Case fully_connected() {
  Case c;
  c.name = "FullyConnected 37x19 @ 19x23 + bias, ReLU";
  const int64_t M = 37, K = 19, N = 23;
  const std::vector<float> x = values(M * K, 1), w = values(K * N, 2), b = values(N, 3);
  const ValueId X = c.value("x", {M, K}), W = c.value("w", {K, N}, w), B = c.value("b", {N}, b),
                Y = c.value("y", {M, N});
  c.g.inputs = {X};
  c.node("FullyConnected", "com.tandem", {X, W, B}, Y).attributes = {graph::Attribute::of_string("activation", "Relu")};
  c.feeds = {Tensor::from_vector<float>({M, K}, x)};
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = b[static_cast<size_t>(n)];
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(x[static_cast<size_t>(m * K + k)]) * w[static_cast<size_t>(k * N + n)];
      c.expected.push_back(static_cast<float>(std::max(acc, 0.0)));
    }
  }
  return c;
}

// Conv 2-D over [1, C, 9, 9], 3 x 3, stride 2, pad 1, Clip [0, 1]; `group` = C makes it depthwise.
Case conv(int64_t C, int64_t OC, int64_t group) {
  Case c;
  c.name = group == 1 ? "Conv 3x3 stride 2 pad 1, Clip" : "depthwise Conv 3x3 stride 2 pad 1, Clip";
  const int64_t H = 9, OH = 5, K = 3, cg = C / group, ocg = OC / group;
  const std::vector<float> x = values(C * H * H, 4), w = values(OC * cg * K * K, 5), b = values(OC, 6);
  const ValueId X = c.value("x", {1, C, H, H}), W = c.value("w", {OC, cg, K, K}, w), B = c.value("b", {OC}, b);
  const ValueId Y = c.value("y", {1, OC, OH, OH});
  c.g.inputs = {X};
  using A = graph::Attribute;
  c.node("FusedConv", "com.tandem", {X, W, B}, Y).attributes = {
      A::of_ints("strides", {2, 2}),      A::of_ints("pads", {1, 1, 1, 1}),
      A::of_ints("kernel_shape", {K, K}), A::of_int("group", group),
      A::of_string("activation", "Clip"), A::of_floats("activation_params", {0.0f, 1.0f})};
  c.feeds = {Tensor::from_vector<float>({1, C, H, H}, x)};
  for (int64_t oc = 0; oc < OC; ++oc) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OH; ++ow) {
        double acc = b[static_cast<size_t>(oc)];
        for (int64_t ci = 0; ci < cg; ++ci) {
          const int64_t ch = (oc / ocg) * cg + ci;
          for (int64_t kh = 0; kh < K; ++kh) {
            for (int64_t kw = 0; kw < K; ++kw) {
              const int64_t ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= H) continue;
              acc += static_cast<double>(x[static_cast<size_t>((ch * H + ih) * H + iw)]) *
                     w[static_cast<size_t>(((oc * cg + ci) * K + kh) * K + kw)];
            }
          }
        }
        c.expected.push_back(static_cast<float>(std::min(std::max(acc, 0.0), 1.0)));
      }
    }
  }
  return c;
}

Case broadcast_add() {
  Case c;
  c.name = "Add [2, 3, 4] + [3, 1]";
  const std::vector<float> a = values(24, 7), b = values(3, 8);
  const ValueId A = c.value("a", {2, 3, 4}), B = c.value("b", {3, 1}), Y = c.value("y", {2, 3, 4});
  c.g.inputs = {A, B};
  c.node("Add", "", {A, B}, Y);
  c.feeds = {Tensor::from_vector<float>({2, 3, 4}, a), Tensor::from_vector<float>({3, 1}, b)};
  for (int i = 0; i < 24; ++i) c.expected.push_back(a[static_cast<size_t>(i)] + b[static_cast<size_t>((i / 4) % 3)]);
  return c;
}

Case softmax() {
  Case c;
  c.name = "Softmax [5, 37]";
  const std::vector<float> x = values(5 * 37, 9);
  const ValueId X = c.value("x", {5, 37}), Y = c.value("y", {5, 37});
  c.g.inputs = {X};
  c.g.opsets[""] = 17;
  c.node("Softmax", "", {X}, Y);
  c.feeds = {Tensor::from_vector<float>({5, 37}, x)};
  for (int r = 0; r < 5; ++r) {
    double mx = -1e30, sum = 0;
    for (int k = 0; k < 37; ++k) mx = std::max<double>(mx, x[static_cast<size_t>(r * 37 + k)]);
    for (int k = 0; k < 37; ++k) sum += std::exp(x[static_cast<size_t>(r * 37 + k)] - mx);
    for (int k = 0; k < 37; ++k)
      c.expected.push_back(static_cast<float>(std::exp(x[static_cast<size_t>(r * 37 + k)] - mx) / sum));
  }
  return c;
}

// fp16 storage rounds inputs, weights and outputs to 11 significant bits (relative 4.9e-4).
constexpr float kTolerance = 1e-4f, kFp16Tolerance = 1e-2f;

Status run_case(Context& context, Case& c, bool corrupt, bool fp16) {
  for (ValueId v : c.g.inputs) c.g.values[static_cast<size_t>(v)].is_graph_input = true;
  TANDEM_RETURN_IF_ERROR(c.g.finalize());
  Program program(context, fp16);
  Lowering l(c.g, program, context);
  for (const graph::Node& n : c.g.nodes) TANDEM_RETURN_IF_ERROR(lower(n, l));
  std::vector<uint32_t> in_slots;
  std::vector<const Tensor*> feeds;
  for (graph::ValueId v : l.inputs()) {
    in_slots.push_back(l.slot(v));
    for (size_t k = 0; k < c.g.inputs.size(); ++k) {
      if (c.g.inputs[k] == v) feeds.push_back(&c.feeds[k]);
    }
  }
  const ValueId y = c.g.outputs[0];
  TANDEM_RETURN_IF_ERROR(program.finalize(in_slots, {l.slot(y)}));
  TANDEM_ASSIGN_OR_RETURN(Tensor out,
                          Tensor::allocate(DType::kFloat32, c.g.values[static_cast<size_t>(y)].type.concrete_shape()));
  TANDEM_RETURN_IF_ERROR(program.run(feeds, {&out}));
  if (corrupt) out.data<float>()[0] += 1.0f;
  const float tol = fp16 ? kFp16Tolerance : kTolerance;
  for (size_t i = 0; i < c.expected.size(); ++i) {
    const float got = out.data<float>()[i], want = c.expected[i];
    if (!(std::abs(got - want) <= tol + tol * std::abs(want))) {
      return unavailable(std::string("the Vulkan self-test failed on ") + c.name + (fp16 ? " with fp16 storage" : "") +
                         ": element " + std::to_string(i) + " is " + std::to_string(got) + ", expected " +
                         std::to_string(want) +
                         (fp16 ? "" : " (the driver computes wrong results: Tandem will not use this device)"));
    }
  }
  return Status::ok();
}

}  // namespace

Status Context::self_test() {
  const char* fault = std::getenv("TANDEM_VULKAN_SELFTEST_FAULT");
  const std::string_view fault_in = fault != nullptr ? fault : "";
  const std::function<Case()> cases[] = {fully_connected, [] { return conv(3, 4, 1); }, [] { return conv(3, 3, 3); },
                                         broadcast_add, softmax};
  auto run_all = [&](bool fp16, bool corrupt) -> Status {
    for (const auto& make : cases) {
      Case c = make();
      const Status s = run_case(*this, c, corrupt, fp16);
      if (!s.is_ok()) {
        return s.code() == StatusCode::kUnavailable
                   ? s
                   : unavailable("the Vulkan self-test could not run " + c.name + ": " + s.message());
      }
      corrupt = false;
    }
    return Status::ok();
  };
  TANDEM_RETURN_IF_ERROR(run_all(false, fault_in.starts_with("1")));
  if (info_.fp16_storage) {
    if (Status s = run_all(true, fault_in == "fp16"); !s.is_ok()) {
      info_.fp16_storage = false;
      info_.fp16_refused = s.message();
    }
  }
  return Status::ok();
}

}  // namespace tandem::vulkan
