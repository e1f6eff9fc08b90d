// Reference kernels: math family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_math_kernels() {}

}  // namespace tandem::reference
