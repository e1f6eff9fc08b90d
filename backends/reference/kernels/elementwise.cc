// Reference kernels: elementwise family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_elementwise_kernels() {}

}  // namespace tandem::reference
