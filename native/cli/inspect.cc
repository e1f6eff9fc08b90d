// tandem inspect: inputs, outputs, ops, memory facts and placement.
#include <iostream>
#include <map>

#include "native/cli/cli.h"

namespace tandem::cli {

int cmd_inspect(const std::string& path, const Options& opts) {
  auto session = open_session(path, opts);
  if (!session.is_ok()) return die(session.status());
  Session& s = **session;
  const auto& g = s.graph();
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) ++ops[(n.domain.empty() ? "" : n.domain + ".") + n.op_type];
  std::map<std::string, Shape> shapes;
  for (const auto& in : s.inputs()) shapes[in.name] = shape_for(in, opts.shapes);
  auto facts = s.memory_facts(shapes);
  if (!facts.is_ok()) return die(facts.status());
  const auto& m = s.model();
  const std::vector<std::string> placement = s.placement();
  if (opts.json) {
    std::cout << "{\"model\": \"" << json_escape(path) << "\", \"ir_version\": " << m.ir_version << ", \"producer\": \""
              << json_escape(m.producer_name + " " + m.producer_version) << "\", \"opsets\": {";
    bool first = true;
    for (const auto& [d, v] : g.opsets) {
      std::cout << (first ? "" : ", ") << "\"" << json_escape(d.empty() ? "ai.onnx" : d) << "\": " << v;
      first = false;
    }
    auto io = [&](const std::vector<ValueInfo>& list) {
      std::cout << "[";
      for (size_t i = 0; i < list.size(); ++i) {
        std::cout << (i ? ", " : "") << "{\"name\": \"" << json_escape(list[i].name) << "\", \"type\": \""
                  << json_escape(list[i].type.to_string()) << "\"}";
      }
      std::cout << "]";
    };
    std::cout << "}, \"inputs\": ";
    io(s.inputs());
    std::cout << ", \"outputs\": ";
    io(s.outputs());
    std::cout << ", \"nodes\": " << g.nodes.size() << ", \"ops\": {";
    first = true;
    for (const auto& [op, c] : ops) {
      std::cout << (first ? "" : ", ") << "\"" << json_escape(op) << "\": " << c;
      first = false;
    }
    std::cout << "}, \"weight_bytes\": " << facts->weight_bytes << ", \"arena_bytes\": " << facts->arena_bytes
              << ", \"output_bytes\": " << facts->output_bytes << ", \"input_bytes\": " << facts->input_bytes
              << ", \"peak_bytes\": " << facts->peak_bytes() << ", \"dynamic_values\": " << facts->dynamic_values
              << ", \"backend\": \"" << json_escape(opts.backend) << "\", \"placement\": " << placement_json(placement)
              << ", \"placement_by_backend\": " << placement_by_backend_json(placement) << "}\n";
    return 0;
  }
  std::cout << "model     " << path << "\n"
            << "ir        " << m.ir_version << "   producer " << m.producer_name << " " << m.producer_version << "\n"
            << "opsets   ";
  for (const auto& [d, v] : g.opsets) std::cout << " " << (d.empty() ? "ai.onnx" : d) << "=" << v;
  std::cout << "\ninputs\n";
  for (const auto& in : s.inputs()) std::cout << "  " << in.name << ": " << in.type.to_string() << "\n";
  std::cout << "outputs\n";
  for (const auto& out : s.outputs()) std::cout << "  " << out.name << ": " << out.type.to_string() << "\n";
  std::cout << "ops       " << g.nodes.size() << " nodes:";
  for (const auto& [op, c] : ops) std::cout << " " << op << "x" << c;
  std::cout << "\nmemory    for inputs";
  for (const auto& [n, sh] : shapes) std::cout << " " << n << "=" << shape_to_string(sh);
  std::cout << "\n  weights " << facts->weight_bytes << " bytes\n  arena   " << facts->arena_bytes
            << " bytes (peak intermediates)\n  outputs " << facts->output_bytes << " bytes\n  peak    "
            << facts->peak_bytes() << " bytes";
  if (facts->dynamic_values) std::cout << " (+" << facts->dynamic_values << " values sized at run time)";
  std::cout << "\nplacement (--backend " << opts.backend << ")\n";
  for (const BackendShare& b : placement_by_backend(placement)) {
    std::cout << "  " << b.backend << ": " << b.nodes << " of " << g.nodes.size() << " nodes in " << b.partitions
              << (b.partitions == 1 ? " partition\n" : " partitions\n");
  }
  std::cout << "  partitions in order:";
  for (const auto& p : placement) std::cout << " [" << p << "]";
  std::cout << "\n";
  return 0;
}

}  // namespace tandem::cli
