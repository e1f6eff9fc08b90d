// Shape inference: control_flow family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_control_flow_rules() {}

}  // namespace tandem::graph
