// Shape inference: tensor family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_tensor_rules() {}

}  // namespace tandem::graph
