// Run with TANDEM_VULKAN_SELFTEST_FAULT=1 (ctest: vulkan_selftest_fault): the self-test sees a
// wrong answer from the device, so the device is marked unusable with the reason, `--backend
// vulkan` says why, and sessions on the default backends run on the CPU. With
// TANDEM_VULKAN_SELFTEST_FAULT=fp16 (vulkan_selftest_fault_fp16) only fp16 storage is refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backends/vulkan/context.h"
#include "backends/vulkan/vulkan_backend.h"
#include "core/runtime/session.h"
#include "native/lib/backends.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

TEST(VulkanSelfTestFault, AMismatchMarksTheDeviceUnusableAndSessionsRunOnTheCpu) {
  const char* fault = std::getenv("TANDEM_VULKAN_SELFTEST_FAULT");
  if (fault == nullptr || fault[0] != '1') GTEST_SKIP() << "needs TANDEM_VULKAN_SELFTEST_FAULT=1";
  if (!vulkan::load_api().is_ok()) GTEST_SKIP() << "no Vulkan loader";
  auto info = vulkan::device_info();
  ASSERT_FALSE(info.is_ok());
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(info.status().message().find("self-test failed on FullyConnected"), std::string::npos)
      << info.status().message();
  EXPECT_NE(info.status().message().find("will not use this device"), std::string::npos);

  auto named = backends_named("vulkan");
  ASSERT_FALSE(named.is_ok());
  EXPECT_NE(named.status().message().find("self-test"), std::string::npos);

  // The default backends may list Vulkan (a GPU was found); it then claims nothing.
  testing::ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {3, 4}}};
  b.nodes = {{"Relu", {"x"}, {"y"}}};
  b.outputs = {{"y", DType::kFloat32, {3, 4}}};
  const std::string bytes = b.build();
  auto s = Session::load(testing::as_bytes(bytes));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto out = (*s)->run({{"x", Value(Tensor::from_vector<float>({3, 4}, std::vector<float>(12, -1.0f)))}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  for (const std::string& p : (*s)->placement()) EXPECT_EQ(p.find("vulkan"), std::string::npos) << p;
}

// TANDEM_VULKAN_SELFTEST_FAULT=fp16: only the fp16-storage answer is wrong. The device stays
// usable in fp32; fp16 storage is off, with the reason, and `vulkan-fp16` says so.
TEST(VulkanSelfTestFault, AnFp16MismatchTurnsOffOnlyFp16Storage) {
  const char* fault = std::getenv("TANDEM_VULKAN_SELFTEST_FAULT");
  if (fault == nullptr || std::string(fault) != "fp16") GTEST_SKIP() << "needs TANDEM_VULKAN_SELFTEST_FAULT=fp16";
  auto info = vulkan::device_info();
  if (!info.is_ok()) GTEST_SKIP() << "no usable Vulkan: " << info.status().message();
  if ((*info)->fp16_refused.empty() && !(*info)->fp16_storage) GTEST_SKIP() << "no 16-bit storage on this device";
  EXPECT_FALSE((*info)->fp16_storage);
  EXPECT_NE((*info)->fp16_refused.find("with fp16 storage"), std::string::npos) << (*info)->fp16_refused;
  EXPECT_TRUE(backends_named("vulkan").is_ok());
  auto named = backends_named("vulkan-fp16");
  ASSERT_FALSE(named.is_ok());
  EXPECT_EQ(named.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(named.status().message().find("failed the fp16 self-test"), std::string::npos) << named.status().message();
  EXPECT_NE(named.status().message().find("use --backend vulkan"), std::string::npos);
}

}  // namespace
}  // namespace tandem
