// libFuzzer target: any bytes given as a model must load or fail with a Status;
// loaded models are also planned and run once on zero inputs of their declared
// shapes. Crashes, hangs, leaks and UB are bugs.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/runtime/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::SessionOptions options;
  options.load.max_tensor_bytes = 64u << 20;  // keep the fuzzer's memory bounded
  auto session = tandem::Session::load(std::span<const uint8_t>(data, size), options);
  if (!session.is_ok()) return 0;
  tandem::NamedValues feeds;
  for (const auto& in : (*session)->inputs()) {
    if (in.type.kind != tandem::graph::TypeInfo::Kind::kTensor || !in.type.shape_known()) return 0;
    const tandem::Shape shape = in.type.concrete_shape();
    if (tandem::shape_numel(shape) > (1 << 16)) return 0;
    auto t = tandem::Tensor::allocate(in.type.dtype == tandem::DType::kUndefined ? tandem::DType::kFloat32
                                                                                 : in.type.dtype, shape);
    if (!t.is_ok()) return 0;
    feeds.emplace_back(in.name, std::move(t).value());
  }
  (void)(*session)->run(feeds);
  return 0;
}
