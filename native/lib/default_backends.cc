// The native target's backends, best first.
#include "backends/reference/reference_backend.h"
#include "core/runtime/backend.h"

namespace tandem {

std::vector<std::shared_ptr<Backend>> default_backends() {
  static const std::shared_ptr<Backend> reference = reference::make_backend();
  return {reference};
}

}  // namespace tandem
