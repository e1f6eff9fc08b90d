// Reference kernels: recurrent family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_recurrent_kernels() {}

}  // namespace tandem::reference
