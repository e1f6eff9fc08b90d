// Reference kernels: sequence family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_sequence_kernels() {}

}  // namespace tandem::reference
