// Shape inference: math family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_math_rules() {}

}  // namespace tandem::graph
