// The reference backend: plain C++ kernels for every supported operator. It is
// the oracle other backends are tested against and the fallback for any node
// a faster backend does not claim.
#pragma once

#include <memory>

#include "core/runtime/backend.h"

namespace tandem::reference {

std::shared_ptr<Backend> make_backend();

}  // namespace tandem::reference
