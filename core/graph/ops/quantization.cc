// Shape inference: quantization family.
#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_quantization_rules() {}

}  // namespace tandem::graph
