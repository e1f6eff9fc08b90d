// Shape inference: sequence family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_sequence_rules() {}

}  // namespace tandem::graph
