// Reference kernels: reduction family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_reduction_kernels() {}

}  // namespace tandem::reference
