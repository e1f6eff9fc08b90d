// The Vulkan backend on whatever Vulkan device this machine has (lavapipe in CI, pinned by
// VK_DRIVER_FILES in tests/vulkan/CMakeLists.txt), with the validation layer and synchronization
// validation on: every op the backend claims against the reference backend on odd sizes, with
// TANDEM_VULKAN_STRICT=1 so a claimed node that does not lower fails instead of falling back;
// staging, the fallback for shapes the kernels refuse, run-time index errors, the self-test.
// TANDEM_TEST_VULKAN_BACKEND=vulkan-fp16 runs the same cases with fp16 storage, at fp16's
// tolerance (1e-2 relative to the output's scale). Skips (not fails) where there is no Vulkan
// at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include <fp16.h>

#include "backends/reference/reference_backend.h"
#include "backends/vulkan/context.h"
#include "backends/vulkan/vulkan_backend.h"
#include "core/runtime/session.h"
#include "native/lib/backends.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::ModelBuilder;

// The backend under test: "vulkan" (fp32) or "vulkan-fp16".
const std::string& backend_under_test() {
  static const std::string name = [] {
    const char* v = std::getenv("TANDEM_TEST_VULKAN_BACKEND");
    return std::string(v != nullptr && v[0] != 0 ? v : "vulkan");
  }();
  return name;
}
bool fp16_under_test() { return backend_under_test() == "vulkan-fp16"; }

#define REQUIRE_VULKAN()                                                                                        \
  do {                                                                                                          \
    auto info = vulkan::device_info();                                                                          \
    if (!info.is_ok()) GTEST_SKIP() << "no usable Vulkan: " << info.status().message();                         \
    auto named = backends_named(backend_under_test());                                                          \
    if (!named.is_ok()) GTEST_SKIP() << backend_under_test() << " is not usable: " << named.status().message(); \
  } while (0)

// Every test: no validation message (TANDEM_VULKAN_VALIDATION=1 counts them).
class VulkanTest : public ::testing::Test {
 protected:
  void SetUp() override { before_ = vulkan::Context::validation_messages(); }
  void TearDown() override {
    EXPECT_EQ(vulkan::Context::validation_messages(), before_) << "Vulkan validation messages (stderr)";
  }
  uint64_t before_ = 0;
};

Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1, float hi = 1) {
  const auto n = static_cast<size_t>(shape_numel(shape));
  std::vector<float> v = testing::random_floats(n, seed);
  for (float& x : v) x = lo + (x + 1) * 0.5f * (hi - lo);
  return Tensor::from_vector<float>(std::move(shape), v);
}

struct Ran {
  NamedValues out;
  std::vector<std::string> placement;
};

// A session of `b` on the named backends.
Result<std::unique_ptr<Session>> load_on(const ModelBuilder& b, const std::string& backend) {
  SessionOptions o;
  TANDEM_ASSIGN_OR_RETURN(o.backends, backends_named(backend));
  const std::string bytes = b.build();
  return Session::load(testing::as_bytes(bytes), o);
}

Result<Ran> run_on(const ModelBuilder& b, const NamedValues& feeds, const std::string& backend) {
  TANDEM_ASSIGN_OR_RETURN(auto s, load_on(b, backend));
  Ran r;
  TANDEM_ASSIGN_OR_RETURN(r.out, s->run(feeds));
  r.placement = s->placement();
  return r;
}

// Runs `b` on Vulkan and on the reference kernels; every output within 1e-4 relative (fp16
// storage: 1e-2 relative, and 1e-2 of the output's largest magnitude absolute), and the whole
// graph in one Vulkan partition.
// With fp16 storage the float feeds are first rounded to fp16, for both sides: the comparison
// is then of the kernels, not of fp16's rounding of the inputs (Floor of -2.0001 is -3, of its
// fp16 value -2).
void expect_matches_reference(const ModelBuilder& b, const NamedValues& given, float rtol = 1e-4f, float atol = 1e-5f) {
  NamedValues feeds = given;
  if (fp16_under_test()) {
    for (auto& [name, v] : feeds) {
      if (!v.is_tensor() || v.tensor().dtype() != DType::kFloat32) continue;
      Tensor t = *Tensor::allocate(DType::kFloat32, v.tensor().shape());
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = fp16_ieee_to_fp32_value(fp16_ieee_from_fp32_value(v.tensor().data<float>()[i]));
      v = Value(std::move(t));
    }
  }
  auto got = run_on(b, feeds, backend_under_test());
  auto want = run_on(b, feeds, "reference");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(want.is_ok()) << want.status().to_string();
  ASSERT_EQ(got->placement.size(), 1u) << (got->placement.empty() ? "" : got->placement[0]);
  EXPECT_EQ(got->placement[0].rfind(backend_under_test() + ": ", 0), 0u) << got->placement[0];
  ASSERT_EQ(got->out.size(), want->out.size());
  for (size_t k = 0; k < got->out.size(); ++k) {
    const Tensor& a = got->out[k].second.tensor();
    const Tensor& e = want->out[k].second.tensor();
    ASSERT_EQ(a.shape(), e.shape()) << got->out[k].first;
    ASSERT_EQ(a.dtype(), e.dtype());
    if (a.dtype() != DType::kFloat32) continue;
    const float* x = a.data<float>();
    const float* y = e.data<float>();
    float r = rtol, t = atol;
    if (fp16_under_test()) {
      float scale = 1;
      for (int64_t i = 0; i < e.numel(); ++i) {
        if (std::isfinite(y[i])) scale = std::max(scale, std::fabs(y[i]));
      }
      r = std::max(rtol, 1e-2f);
      t = std::max(atol, 1e-2f * scale);
    }
    for (int64_t i = 0; i < a.numel(); ++i) {
      if (std::isnan(y[i])) {
        ASSERT_TRUE(std::isnan(x[i])) << got->out[k].first << " at " << i;
        continue;
      }
      ASSERT_LE(std::fabs(x[i] - y[i]), t + r * std::fabs(y[i]))
          << got->out[k].first << " at " << i << ": " << x[i] << " vs " << y[i];
    }
  }
}

// One node over float inputs (initializers for `consts`), outputs declared by name only.
ModelBuilder one_node(const std::string& op, std::vector<std::pair<std::string, Shape>> inputs,
                      std::vector<testing::AttrSpec> attrs = {}, std::vector<testing::InitSpec> consts = {},
                      int64_t opset = 17, std::string domain = "") {
  ModelBuilder b;
  b.opset = opset;
  std::vector<std::string> names;
  for (auto& [name, shape] : inputs) {
    b.inputs.push_back({name, DType::kFloat32, shape});
    names.push_back(name);
  }
  for (const testing::InitSpec& c : consts) names.push_back(c.name);
  b.initializers = std::move(consts);
  b.nodes = {{op, names, {"y"}, std::move(attrs), std::move(domain)}};
  b.outputs = {{"y", DType::kFloat32, {}}};
  return b;
}

NamedValues feeds_for(const ModelBuilder& b, uint32_t seed = 1, float lo = -1, float hi = 1) {
  NamedValues f;
  for (const testing::IoSpec& io : b.inputs) f.push_back({io.name, Value(random_tensor(io.dims, seed++, lo, hi))});
  return f;
}

testing::InitSpec init(const std::string& name, Shape dims, uint32_t seed) {
  return {name, dims, testing::random_floats(static_cast<size_t>(shape_numel(dims)), seed), {}};
}

// ---- device ------------------------------------------------------------------------------------

TEST_F(VulkanTest, DeviceFactsAreReported) {
  REQUIRE_VULKAN();
  const vulkan::DeviceInfo& d = **vulkan::device_info();
  EXPECT_FALSE(d.name.empty());
  EXPECT_GE(d.max_storage_buffer_range, uint64_t{1} << 20);
  EXPECT_GT(d.device_local_bytes, 0u);
  EXPECT_GE(d.max_workgroup_invocations, 256u);
  EXPECT_GE(d.max_push_constants, 128u);
  auto backends = backends_named(backend_under_test());
  ASSERT_TRUE(backends.is_ok());
  EXPECT_EQ(backends->front()->name(), backend_under_test());
  const DeviceFacts f = backends->front()->device();
  EXPECT_EQ(f.kind, DeviceKind::kGpu);
  EXPECT_GT(f.memory_budget, 0u);
  EXPECT_NE(f.name.find(fp16_under_test() ? "fp16 storage:" : "fp32:"), std::string::npos) << f.name;
  std::printf("device: %s\n", d.describe().c_str());
}

// ---- operators ---------------------------------------------------------------------------------

TEST_F(VulkanTest, MatMulOddSizesBatchesAndBroadcasts) {
  REQUIRE_VULKAN();
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 1}, {1, 1}},       {{65, 63}, {63, 67}}, {{3, 17, 5}, {3, 5, 9}}, {{2, 7, 4}, {4, 3}},
      {{1, 33}, {2, 33, 70}}, {{4}, {4, 3}},        {{5, 6}, {6}},           {{2, 3, 129, 31}, {2, 3, 31, 65}},
  };
  for (const auto& [a, bshape] : cases) {
    SCOPED_TRACE(shape_to_string(a) + " x " + shape_to_string(bshape));
    ModelBuilder b = one_node("MatMul", {{"a", a}, {"b", bshape}});
    expect_matches_reference(b, feeds_for(b));
  }
}

TEST_F(VulkanTest, GemmTransposesScalesAndBias) {
  REQUIRE_VULKAN();
  struct Case {
    bool ta, tb;
    Shape c;
  };
  for (const Case& k : {Case{false, false, {23}}, Case{true, false, {1, 23}}, Case{false, true, {37, 1}},
                        Case{true, true, {37, 23}}, Case{false, false, {}}}) {
    SCOPED_TRACE(std::to_string(k.ta) + std::to_string(k.tb) + shape_to_string(k.c));
    const Shape a = k.ta ? Shape{19, 37} : Shape{37, 19}, bs = k.tb ? Shape{23, 19} : Shape{19, 23};
    ModelBuilder b = one_node(
        "Gemm", {{"a", a}, {"b", bs}, {"c", k.c.empty() ? Shape{1} : k.c}},
        {attr_int("transA", k.ta), attr_int("transB", k.tb), attr_float("alpha", 0.5f), attr_float("beta", 2.0f)});
    expect_matches_reference(b, feeds_for(b));
  }
}

TEST_F(VulkanTest, ConvolutionsStridesPadsDilationsGroupsAndFusedActivation) {
  REQUIRE_VULKAN();
  {
    ModelBuilder b =
        one_node("Conv", {{"x", {2, 5, 11, 13}}},
                 {attr_ints("strides", {2, 1}), attr_ints("pads", {1, 0, 2, 1}), attr_ints("dilations", {2, 1})},
                 {init("w", {7, 5, 3, 2}, 3), init("bias", {7}, 4)});
    expect_matches_reference(b, feeds_for(b));
  }
  {  // grouped, then a ReLU that core/passes fuses into FusedConv
    ModelBuilder b = one_node("Conv", {{"x", {1, 6, 9, 8}}}, {attr_int("group", 3), attr_ints("pads", {1, 1, 1, 1})},
                              {init("w", {9, 2, 3, 3}, 5)});
    b.nodes[0].outputs = {"c"};
    b.nodes.push_back({"Relu", {"c"}, {"y"}});
    expect_matches_reference(b, feeds_for(b));
  }
  {  // depthwise + Clip (ReLU6), as in MobileNetV2
    ModelBuilder b = one_node("Conv", {{"x", {1, 8, 15, 15}}},
                              {attr_int("group", 8), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})},
                              {init("w", {8, 1, 3, 3}, 6), init("bias", {8}, 7)});
    b.nodes[0].outputs = {"c"};
    b.initializers.push_back({"lo", {}, {0.0f}, {}});
    b.initializers.push_back({"hi", {}, {0.5f}, {}});
    b.nodes.push_back({"Clip", {"c", "lo", "hi"}, {"y"}});
    expect_matches_reference(b, feeds_for(b));
  }
  {  // 1-D, SAME_UPPER
    ModelBuilder b =
        one_node("Conv", {{"x", {2, 4, 19}}}, {attr_string("auto_pad", "SAME_UPPER"), attr_ints("strides", {2})},
                 {init("w", {3, 4, 5}, 8)});
    expect_matches_reference(b, feeds_for(b));
  }
  // 16 or more output channels per group: the implicit-GEMM kernel (conv_gemm). Channel and
  // pixel counts that leave partial 64-wide tiles, a batch whose pixels cross tiles.
  {
    ModelBuilder b =
        one_node("Conv", {{"x", {2, 5, 11, 13}}},
                 {attr_ints("strides", {2, 1}), attr_ints("pads", {1, 0, 2, 1}), attr_ints("dilations", {2, 1})},
                 {init("w", {70, 5, 3, 2}, 13), init("bias", {70}, 14)});
    expect_matches_reference(b, feeds_for(b));
  }
  {  // grouped, 16 channels per group, fused Clip
    ModelBuilder b = one_node("Conv", {{"x", {1, 6, 9, 8}}}, {attr_int("group", 2), attr_ints("pads", {1, 1, 1, 1})},
                              {init("w", {32, 3, 3, 3}, 15)});
    b.nodes[0].outputs = {"c"};
    b.initializers.push_back({"lo", {}, {-0.2f}, {}});
    b.initializers.push_back({"hi", {}, {0.3f}, {}});
    b.nodes.push_back({"Clip", {"c", "lo", "hi"}, {"y"}});
    expect_matches_reference(b, feeds_for(b));
  }
  {  // 1-D, and a 1x1 convolution with K = C = 67 (several K steps)
    ModelBuilder b1 = one_node("Conv", {{"x", {3, 4, 29}}}, {attr_ints("pads", {2, 1})}, {init("w", {20, 4, 5}, 16)});
    expect_matches_reference(b1, feeds_for(b1));
    ModelBuilder b2 =
        one_node("Conv", {{"x", {1, 67, 7, 9}}}, {}, {init("w", {65, 67, 1, 1}, 17), init("bias", {65}, 18)});
    expect_matches_reference(b2, feeds_for(b2));
  }
}

TEST_F(VulkanTest, Pooling) {
  REQUIRE_VULKAN();
  const std::vector<std::pair<std::string, std::vector<testing::AttrSpec>>> cases = {
      {"MaxPool",
       {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1}),
        attr_int("ceil_mode", 1)}},
      {"MaxPool", {attr_ints("kernel_shape", {2, 3}), attr_ints("dilations", {2, 1})}},
      {"AveragePool",
       {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1}),
        attr_int("count_include_pad", 1)}},
      {"AveragePool",
       {attr_ints("kernel_shape", {3, 2}), attr_ints("strides", {2, 2}), attr_ints("pads", {0, 1, 1, 0}),
        attr_int("ceil_mode", 1)}},
      {"GlobalAveragePool", {}},
      {"GlobalMaxPool", {}},
  };
  for (const auto& [op, attrs] : cases) {
    SCOPED_TRACE(op);
    ModelBuilder b = one_node(op, {{"x", {2, 3, 11, 10}}}, attrs);
    expect_matches_reference(b, feeds_for(b));
  }
  ModelBuilder b1 =
      one_node("MaxPool", {{"x", {2, 3, 17}}}, {attr_ints("kernel_shape", {4}), attr_ints("strides", {3})});
  expect_matches_reference(b1, feeds_for(b1));
}

TEST_F(VulkanTest, SoftmaxLayerNormAndReductions) {
  REQUIRE_VULKAN();
  for (int64_t axis : {-1, 1, 0}) {
    ModelBuilder b = one_node("Softmax", {{"x", {3, 5, 300}}}, {attr_int("axis", axis)});
    expect_matches_reference(b, feeds_for(b, 1, -8, 8));
  }
  ModelBuilder ls = one_node("LogSoftmax", {{"x", {4, 130}}});
  expect_matches_reference(ls, feeds_for(ls));
  ModelBuilder legacy = one_node("Softmax", {{"x", {2, 3, 7}}}, {attr_int("axis", 1)}, {}, 11);  // opset 11: flattened
  expect_matches_reference(legacy, feeds_for(legacy));
  ModelBuilder ln = one_node("LayerNormalization", {{"x", {4, 7, 333}}}, {attr_float("epsilon", 1e-5f)},
                             {init("g", {333}, 2), init("bt", {333}, 3)});
  expect_matches_reference(ln, feeds_for(ln, 1, -3, 5));
  ModelBuilder ln2 = one_node("LayerNormalization", {{"x", {2, 3, 5}}}, {attr_int("axis", 1)}, {init("g", {3, 5}, 2)});
  expect_matches_reference(ln2, feeds_for(ln2));
  for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp"}) {
    SCOPED_TRACE(op);
    ModelBuilder b = one_node(op, {{"x", {3, 4, 5, 6}}}, {attr_ints("axes", {1, 2}), attr_int("keepdims", 0)}, {}, 13);
    expect_matches_reference(b, feeds_for(b));
  }
  ModelBuilder all = one_node("ReduceMean", {{"x", {7, 9}}}, {}, {}, 13);
  expect_matches_reference(all, feeds_for(all));
}

TEST_F(VulkanTest, ElementwiseBroadcastsAndActivations) {
  REQUIRE_VULKAN();
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
    SCOPED_TRACE(op);
    ModelBuilder b = one_node(op, {{"a", {2, 1, 4, 5}}, {"b", {3, 1, 5}}});
    expect_matches_reference(b, feeds_for(b, 3, 0.5f, 2.0f));
  }
  ModelBuilder prelu = one_node("PRelu", {{"x", {2, 3, 4, 5}}, {"slope", {4, 1}}});
  expect_matches_reference(prelu, feeds_for(prelu));
  ModelBuilder pw = one_node("Pow", {{"a", {3, 7}}, {"b", {7}}});
  expect_matches_reference(pw, feeds_for(pw, 5, 0.1f, 2.0f));
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Erf", "Floor", "Ceil", "Sin", "Cos",
                         "Softplus", "HardSwish", "Elu", "LeakyRelu", "HardSigmoid", "Gelu"}) {
    SCOPED_TRACE(op);
    ModelBuilder b = one_node(op, {{"x", {1001}}}, {}, {}, std::string(op) == "Gelu" ? 20 : 17);
    expect_matches_reference(b, feeds_for(b, 9, -6, 6));
  }
  for (const char* op : {"Log", "Sqrt", "Reciprocal"}) {
    ModelBuilder b = one_node(op, {{"x", {257}}});
    expect_matches_reference(b, feeds_for(b, 9, 0.05f, 9));
  }
}

TEST_F(VulkanTest, DataMovement) {
  REQUIRE_VULKAN();
  ModelBuilder t = one_node("Transpose", {{"x", {3, 4, 5, 2}}}, {attr_ints("perm", {2, 0, 3, 1})});
  expect_matches_reference(t, feeds_for(t));
  ModelBuilder c = one_node("Concat", {{"a", {2, 3, 4}}, {"b", {2, 1, 4}}, {"c", {2, 5, 4}}}, {attr_int("axis", 1)});
  expect_matches_reference(c, feeds_for(c));
  {  // Slice with a negative step and a clamped end
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {6, 9, 4}}};
    // int64 constants through Constant nodes (the builder's initializers are float).
    auto konst = [&](const std::string& name, std::vector<int64_t> v) {
      testing::NodeSpec n{"Constant", {}, {name}, {attr_ints("value_ints", std::move(v))}};
      b.nodes.push_back(n);
    };
    konst("starts", {-1, 1});
    konst("ends", {-100, 8});
    konst("axes", {1, 2});
    konst("steps", {-2, 2});
    b.nodes.push_back({"Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"}});
    b.outputs = {{"y", DType::kFloat32, {}}};
    expect_matches_reference(b, feeds_for(b));
  }
  for (const char* mode : {"constant", "edge", "reflect"}) {
    SCOPED_TRACE(mode);
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {2, 3, 5}}};
    b.nodes = {{"Constant", {}, {"pads"}, {attr_ints("value_ints", {0, 1, 2, 0, 2, 3})}},
               {"Pad", {"x", "pads"}, {"y"}, {attr_string("mode", mode)}}};
    b.outputs = {{"y", DType::kFloat32, {}}};
    expect_matches_reference(b, feeds_for(b));
  }
  {
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {3, 1}}};
    b.nodes = {{"Constant", {}, {"shape"}, {attr_ints("value_ints", {2, 3, 4})}}, {"Expand", {"x", "shape"}, {"y"}}};
    b.outputs = {{"y", DType::kFloat32, {}}};
    expect_matches_reference(b, feeds_for(b));
  }
}

// Resize: every interpolation mode and the common coordinate transforms, up and down, on odd
// sizes; scales or sizes; several resized axes (one dispatch each) and an Upsample.
TEST_F(VulkanTest, ResizeModesAndCoordinateTransforms) {
  REQUIRE_VULKAN();
  struct Case {
    std::string mode, coord;
    std::vector<float> scales;   // or
    std::vector<int64_t> sizes;  // (one of the two)
    std::vector<testing::AttrSpec> extra;
    int64_t opset = 13;
  };
  const Shape x = {2, 3, 7, 5};
  const std::vector<Case> cases = {
      {"nearest", "asymmetric", {1, 1, 2, 3}, {}, {attr_string("nearest_mode", "floor")}},
      {"nearest", "half_pixel", {}, {2, 3, 11, 4}, {}},
      {"nearest", "align_corners", {1, 1, 0.5f, 1.7f}, {}, {attr_string("nearest_mode", "round_prefer_ceil")}},
      {"linear", "half_pixel", {}, {2, 3, 13, 3}, {}},
      {"linear", "align_corners", {1, 1, 1.5f, 2}, {}, {}},
      {"linear", "pytorch_half_pixel", {}, {2, 3, 1, 9}, {}},
      {"linear", "asymmetric", {1, 2, 1, 1}, {}, {}},  // a channel axis, with an outer batch
      {"cubic", "half_pixel", {1, 1, 2, 2}, {}, {attr_float("cubic_coeff_a", -0.5f), attr_int("exclude_outside", 1)}},
      {"cubic", "align_corners", {}, {2, 3, 4, 8}, {}},
      {"linear", "half_pixel", {}, {2, 3, 3, 2}, {attr_int("antialias", 1)}, 18},
      {"linear", "half_pixel_symmetric", {1, 1, 1.3f, 0.7f}, {}, {}, 19},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mode + " " + c.coord);
    ModelBuilder b;
    b.opset = c.opset;
    b.inputs = {{"x", DType::kFloat32, x}};
    std::vector<testing::AttrSpec> attrs = {attr_string("mode", c.mode),
                                            attr_string("coordinate_transformation_mode", c.coord)};
    attrs.insert(attrs.end(), c.extra.begin(), c.extra.end());
    if (c.sizes.empty()) {
      b.initializers = {{"scales", {static_cast<int64_t>(c.scales.size())}, c.scales, {}}};
      b.nodes = {{"Resize", {"x", "", "scales"}, {"y"}, attrs}};
    } else {
      b.nodes = {{"Constant", {}, {"sizes"}, {attr_ints("value_ints", c.sizes)}},
                 {"Resize", {"x", "", "", "sizes"}, {"y"}, attrs}};
    }
    b.outputs = {{"y", DType::kFloat32, {}}};
    expect_matches_reference(b, feeds_for(b));
  }
  {  // tf_crop_and_resize: a roi, and the extrapolation value outside it
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, x}};
    b.initializers = {{"roi", {8}, {0, 0, -0.2f, 0.1f, 1, 1, 0.8f, 1.3f}, {}}};
    b.nodes = {{"Constant", {}, {"sizes"}, {attr_ints("value_ints", {2, 3, 6, 7})}},
               {"Resize",
                {"x", "roi", "", "sizes"},
                {"y"},
                {attr_string("mode", "linear"), attr_string("coordinate_transformation_mode", "tf_crop_and_resize"),
                 attr_float("extrapolation_value", 2.5f)}}};
    b.outputs = {{"y", DType::kFloat32, {}}};
    expect_matches_reference(b, feeds_for(b));
  }
  {  // an absurd size: a clear error from the fallback, not a crash or a huge tap table
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {1, 1, 2, 2}}};
    b.nodes = {{"Constant", {}, {"sizes"}, {attr_ints("value_ints", {1, 1, 2, int64_t{1} << 36})}},
               {"Resize", {"x", "", "", "sizes"}, {"y"}, {attr_string("mode", "linear")}}};
    b.outputs = {{"y", DType::kFloat32, {}}};
    auto r = run_on(b, feeds_for(b), backend_under_test());
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().code(), StatusCode::kInternal) << r.status().to_string();
  }
  {  // Upsample (opset 9), nearest, scales as an input
    ModelBuilder b = one_node("Upsample", {{"x", {1, 2, 3, 4}}}, {attr_string("mode", "nearest")},
                              {{"scales", {4}, {1, 1, 2, 2.5f}, {}}}, 9);
    expect_matches_reference(b, feeds_for(b));
  }
}

// Indices and masks: int64 graph inputs the device keeps as int32.
ModelBuilder embedding_model() {
  ModelBuilder b;
  b.inputs = {{"ids", DType::kInt64, {2, 5}}, {"mask", DType::kInt64, {2, 5}}};
  b.initializers = {init("table", {50, 8}, 11)};
  b.nodes = {{"Gather", {"table", "ids"}, {"emb"}},
             {"Constant", {}, {"axes"}, {attr_ints("value_ints", {2})}},
             {"Unsqueeze", {"mask", "axes"}, {"m3"}},
             {"Cast", {"m3"}, {"mf"}, {attr_int("to", 1)}},
             {"Mul", {"emb", "mf"}, {"y"}}};
  b.outputs = {{"y", DType::kFloat32, {}}};
  return b;
}

NamedValues embedding_feeds(std::vector<int64_t> ids) {
  return {{"ids", Value(Tensor::from_vector<int64_t>({2, 5}, ids))},
          {"mask", Value(Tensor::from_vector<int64_t>({2, 5}, {1, 1, 1, 0, 0, 1, 1, 1, 1, 0}))}};
}

TEST_F(VulkanTest, GatherAndCastOfHostIndices) {
  REQUIRE_VULKAN();
  expect_matches_reference(embedding_model(), embedding_feeds({0, 49, -1, -50, 7, 3, 3, 12, 0, 25}));
}

TEST_F(VulkanTest, AnIndexOutOfRangeIsAClearErrorAtRunTime) {
  REQUIRE_VULKAN();
  auto r = run_on(embedding_model(), embedding_feeds({0, 1, 2, 50, 4, 5, 6, 7, 8, 9}), backend_under_test());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Gather index 50 is out of range for an axis of 50"), std::string::npos)
      << r.status().message();
}

TEST_F(VulkanTest, AGridOverTheWorkgroupLimitCoversEveryElement) {
  REQUIRE_VULKAN();
  // 65535 * 256 + 7 elements: the dispatch needs a second row of workgroups.
  ModelBuilder b = one_node("Sigmoid", {{"x", {65535 * 256 + 7}}});
  expect_matches_reference(b, feeds_for(b));
}

TEST_F(VulkanTest, AShapeTheKernelsRefuseFallsBackToTheCpu) {
  REQUIRE_VULKAN();
  // MatMul batch broadcasting between [2, 1] and [1, 3] batches: claimed, refused at compile.
  ModelBuilder b = one_node("MatMul", {{"a", {2, 1, 3, 4}}, {"b", {1, 3, 4, 5}}});
  const char* strict = std::getenv("TANDEM_VULKAN_STRICT");
  const std::string saved = strict ? strict : "";
  unsetenv("TANDEM_VULKAN_STRICT");
  auto got = run_on(b, feeds_for(b), backend_under_test());
  auto want = run_on(b, feeds_for(b), "reference");
  setenv("TANDEM_VULKAN_STRICT", "1", 1);
  auto strict_run = run_on(b, feeds_for(b), backend_under_test());
  if (strict)
    setenv("TANDEM_VULKAN_STRICT", saved.c_str(), 1);
  else
    unsetenv("TANDEM_VULKAN_STRICT");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(want.is_ok());
  const Tensor& x = got->out[0].second.tensor();
  const Tensor& y = want->out[0].second.tensor();
  ASSERT_EQ(x.shape(), y.shape());
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(x.data<float>()[i], y.data<float>()[i], 1e-5f);
  ASSERT_FALSE(strict_run.is_ok());
  EXPECT_NE(strict_run.status().message().find("batch broadcasting"), std::string::npos)
      << strict_run.status().message();
}

TEST_F(VulkanTest, OneSessionRunsSeveralShapesAndRepeatsExactly) {
  REQUIRE_VULKAN();
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {-1, 16}, {"batch"}}};
  b.initializers = {init("w", {16, 8}, 1), init("bias", {8}, 2)};
  b.nodes = {{"MatMul", {"x", "w"}, {"m"}}, {"Add", {"m", "bias"}, {"a"}}, {"Relu", {"a"}, {"y"}}};
  b.outputs = {{"y", DType::kFloat32, {-1, 8}, {"batch"}}};
  auto s = load_on(b, backend_under_test());
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  for (int64_t batch : {1, 5, 1, 33}) {
    NamedValues f = {{"x", Value(random_tensor({batch, 16}, static_cast<uint32_t>(batch)))}};
    auto first = (*s)->run(f);
    auto again = (*s)->run(f);
    ASSERT_TRUE(first.is_ok() && again.is_ok());
    const Tensor& a = (*first)[0].second.tensor();
    const Tensor& c = (*again)[0].second.tensor();
    ASSERT_EQ(a.shape(), (Shape{batch, 8}));
    for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], c.data<float>()[i]);
  }
  expect_matches_reference(b, {{"x", Value(random_tensor({7, 16}, 3))}});
}

// A session compiles one program per set of input shapes; the weights are on the device once.
// 16 MiB of weights and six batch sizes: copies per shape (96 MiB) would need a second 64 MiB
// block of device memory.
TEST_F(VulkanTest, WeightsAreOnTheDeviceOnceAcrossShapes) {
  REQUIRE_VULKAN();
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {-1, 1024}, {"batch"}}};
  b.initializers = {init("w", {1024, 4096}, 1)};
  b.nodes = {{"MatMul", {"x", "w"}, {"y"}}};
  b.outputs = {{"y", DType::kFloat32, {-1, 4096}, {"batch"}}};
  auto s = load_on(b, backend_under_test());
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  vulkan::Allocator& device = (*vulkan::Context::get())->allocator();
  const uint64_t before = device.allocated_bytes();
  for (int64_t batch = 1; batch <= 6; ++batch) {
    auto out = (*s)->run({{"x", Value(random_tensor({batch, 1024}, static_cast<uint32_t>(batch)))}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    EXPECT_EQ((*s)->placement()[0].rfind(backend_under_test() + ": ", 0), 0u);
  }
  EXPECT_LE(device.allocated_bytes() - before, uint64_t{64} << 20);
}

// The model-parity set (tests/models/generated, made by tests/models/prepare.sh) runs on Vulkan
// with no node left on the CPU. Outputs are compared with onnxruntime by model_parity_vulkan.
TEST_F(VulkanTest, TheModelParitySetRunsEntirelyOnVulkan) {
  REQUIRE_VULKAN();
  const std::string dir = std::string(TANDEM_SOURCE_DIR) + "/tests/models/generated/";
  for (const char* name : {"resnet18", "mobilenetv2", "bert_encoder"}) {
    SCOPED_TRACE(name);
    SessionOptions o;
    o.backends = *backends_named(backend_under_test());
    auto s = Session::load(dir + name + ".onnx", o);
    if (!s.is_ok() && s.status().code() == StatusCode::kNotFound) GTEST_SKIP() << "run tests/models/prepare.sh first";
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    NamedValues feeds;  // zeros: valid token ids, and pictures all the same
    for (const ValueInfo& in : (*s)->inputs())
      feeds.push_back({in.name, Value(*Tensor::allocate(in.type.dtype, in.type.smallest_shape()))});
    auto out = (*s)->run(feeds);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    const std::vector<std::string> placement = (*s)->placement();  // of the run: shapes folded
    ASSERT_EQ(placement.size(), 1u) << placement[0] << " ...";
    EXPECT_EQ(placement[0].rfind(backend_under_test() + ": ", 0), 0u) << placement[0];
  }
}

// fp16 storage is what runs: values come back rounded to fp16 (an fp32 path would return
// them exactly), and fp16's range ends at 65504.
TEST_F(VulkanTest, Fp16StorageRoundsValuesToHalfPrecision) {
  REQUIRE_VULKAN();
  auto named = backends_named("vulkan-fp16");
  if (!named.is_ok()) GTEST_SKIP() << named.status().message();
  ModelBuilder b = one_node("Relu", {{"x", {4}}});
  const std::vector<float> in = {1.0f + 1.0f / 4096, 0.1f, 3.14159265f, 70000.0f};
  NamedValues feeds = {{"x", Value(Tensor::from_vector<float>({4}, in))}};
  auto half = run_on(b, feeds, "vulkan-fp16");
  auto full = run_on(b, feeds, "vulkan");
  ASSERT_TRUE(half.is_ok()) << half.status().to_string();
  ASSERT_TRUE(full.is_ok()) << full.status().to_string();
  EXPECT_EQ(half->placement[0].rfind("vulkan-fp16: ", 0), 0u) << half->placement[0];
  const float* h = half->out[0].second.tensor().data<float>();
  const float* f = full->out[0].second.tensor().data<float>();
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(f[i], in[i]);
  EXPECT_EQ(h[0], 1.0f);  // 1 + 2^-12 is below fp16's resolution at 1 (2^-10)
  EXPECT_EQ(h[1], 0.0999755859375f);
  EXPECT_EQ(h[2], 3.140625f);
  EXPECT_TRUE(std::isinf(h[3]));
}

}  // namespace
}  // namespace tandem
