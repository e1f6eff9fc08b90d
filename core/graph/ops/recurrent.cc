// Shape inference: recurrent family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_recurrent_rules() {}

}  // namespace tandem::graph
