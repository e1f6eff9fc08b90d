// Shape inference: elementwise family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_elementwise_rules() {}

}  // namespace tandem::graph
