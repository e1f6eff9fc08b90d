// Reference kernels: quantization family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_quantization_kernels() {}

}  // namespace tandem::reference
