// Shape inference: nn family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_nn_rules() {}

}  // namespace tandem::graph
