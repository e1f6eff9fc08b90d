// Reference kernels: control_flow family.
#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_control_flow_kernels() {}

}  // namespace tandem::reference
