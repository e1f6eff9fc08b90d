// Reference kernels: misc family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_misc_kernels() {}

}  // namespace tandem::reference
