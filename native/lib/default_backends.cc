// The native target's backends, best first.
#include "backends/reference/reference_backend.h"
#include "core/runtime/backend.h"
#include "native/lib/backends.h"
#if TANDEM_HAS_XNNPACK
#include "backends/xnnpack/xnnpack_backend.h"
#endif

namespace tandem {
namespace {

std::shared_ptr<Backend> reference_backend() {
  static const std::shared_ptr<Backend> b = reference::make_backend();
  return b;
}

#if TANDEM_HAS_XNNPACK
std::shared_ptr<Backend> xnnpack_backend() {
  static const std::shared_ptr<Backend> b = xnnpack::make_backend(reference_backend());
  return b;
}
#endif

}  // namespace

std::vector<std::shared_ptr<Backend>> default_backends() {
#if TANDEM_HAS_XNNPACK
  return {xnnpack_backend(), reference_backend()};
#else
  return {reference_backend()};
#endif
}

Result<std::vector<std::shared_ptr<Backend>>> backends_named(std::string_view choice) {
  if (choice == "auto") return default_backends();
  if (choice == "reference") return std::vector<std::shared_ptr<Backend>>{reference_backend()};
#if TANDEM_HAS_XNNPACK
  if (choice == "xnnpack") return std::vector<std::shared_ptr<Backend>>{xnnpack_backend(), reference_backend()};
#else
  if (choice == "xnnpack") return unsupported("this build has no XNNPACK backend (configure with -DTANDEM_XNNPACK=ON)");
#endif
  return invalid_argument("unknown backend '" + std::string(choice) + "'; choose one of " + backend_choices());
}

std::string backend_choices() {
#if TANDEM_HAS_XNNPACK
  return "auto, reference, xnnpack";
#else
  return "auto, reference";
#endif
}

}  // namespace tandem
