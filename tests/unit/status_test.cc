#include "core/runtime/status.h"

#include <gtest/gtest.h>

#include "core/runtime/tensor.h"

namespace tandem {
namespace {

Result<int> half_of(int v) {
  if (v % 2 != 0) return invalid_argument(std::to_string(v) + " is odd");
  return v / 2;
}

Status quarter(int v, int* out) {
  TANDEM_ASSIGN_OR_RETURN(int h, half_of(v));
  TANDEM_ASSIGN_OR_RETURN(*out, half_of(h));
  return Status::ok();
}

TEST(StatusTest, PropagatesErrorsWithContext) {
  int q = 0;
  EXPECT_TRUE(quarter(8, &q).is_ok());
  EXPECT_EQ(q, 2);
  Status st = quarter(6, &q);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.with_context("while testing").to_string(), "InvalidArgument: while testing: 3 is odd");
}

TEST(TensorTest, RefusesOverflowingShapes) {
  auto t = Tensor::allocate(DType::kFloat32, {int64_t{1} << 40, int64_t{1} << 40});
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  auto huge = Tensor::allocate(DType::kFloat32, {int64_t{1} << 40});
  ASSERT_FALSE(huge.is_ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kOutOfMemory);
}

TEST(TensorTest, HalfConversionRoundTrips) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  }
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);  // overflow -> inf
}

}  // namespace
}  // namespace tandem
