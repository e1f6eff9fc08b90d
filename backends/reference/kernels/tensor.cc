// Reference kernels: tensor family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_tensor_kernels() {}

}  // namespace tandem::reference
