// Shape inference: misc family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_misc_rules() {}

}  // namespace tandem::graph
