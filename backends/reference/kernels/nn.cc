// Reference kernels: nn family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_nn_kernels() {}

}  // namespace tandem::reference
