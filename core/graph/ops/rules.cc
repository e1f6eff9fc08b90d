#include "core/graph/ops/rules.h"

namespace tandem::graph {

void register_builtin_infer_rules() {
  register_elementwise_rules();
  register_math_rules();
  register_tensor_rules();
  register_nn_rules();
  register_reduction_rules();
  register_recurrent_rules();
  register_control_flow_rules();
  register_quantization_rules();
  register_sequence_rules();
  register_misc_rules();
}

}  // namespace tandem::graph
