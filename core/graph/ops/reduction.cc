// Shape inference: reduction family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_reduction_rules() {}

}  // namespace tandem::graph
