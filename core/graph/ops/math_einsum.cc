#include "core/graph/ops/math_einsum.h"

#include <algorithm>

namespace tandem::graph {
namespace {

constexpr int kLetters = 52;  // a-z, A-Z; ellipsis dims get labels kLetters + k
constexpr int kEllipsis = -2;

int letter_label(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

// Parses one term ("ab...c") into labels, with kEllipsis for "...".
Status parse_term(const std::string& term, std::vector<int>* out) {
  out->clear();
  bool seen_ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      if (seen_ellipsis || term.compare(i, 3, "...") != 0) {
        return invalid_argument("malformed '...' in einsum term '" + term + "'");
      }
      seen_ellipsis = true;
      out->push_back(kEllipsis);
      i += 2;
      continue;
    }
    const int l = letter_label(term[i]);
    if (l < 0) {
      return invalid_argument(std::string("unexpected character '") + term[i] + "' in einsum term '" + term + "'");
    }
    out->push_back(l);
  }
  return Status::ok();
}

}  // namespace

Result<EinsumPlan> plan_einsum(const std::string& equation, const std::vector<Shape>& shapes) {
  std::string eq;
  for (char c : equation) {
    if (c != ' ' && c != '\t') eq.push_back(c);
  }
  const size_t arrow = eq.find("->");
  const std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size()) {
    return invalid_argument("einsum equation '" + equation + "' has " + std::to_string(terms.size()) +
                            " operands but the node has " + std::to_string(shapes.size()) + " inputs");
  }

  EinsumPlan plan;
  plan.input_dims = shapes;
  std::vector<std::vector<int>> parsed(terms.size());
  std::vector<int> counts(kLetters, 0);
  std::vector<int> ell_ranks(terms.size(), 0);
  int ellipsis_rank = 0;
  for (size_t t = 0; t < terms.size(); ++t) {
    TANDEM_RETURN_IF_ERROR(parse_term(terms[t], &parsed[t]));
    int letters = 0;
    bool has_ell = false;
    for (int l : parsed[t]) {
      if (l == kEllipsis) {
        has_ell = true;
      } else {
        ++letters;
        ++counts[static_cast<size_t>(l)];
      }
    }
    const int rank = static_cast<int>(shapes[t].size());
    if (has_ell ? rank < letters : rank != letters) {
      return invalid_argument("einsum operand " + std::to_string(t) + " of shape " + shape_to_string(shapes[t]) +
                              " does not match term '" + terms[t] + "'");
    }
    ell_ranks[t] = has_ell ? rank - letters : 0;
    ellipsis_rank = std::max(ellipsis_rank, ell_ranks[t]);
  }
  const int num_labels = kLetters + ellipsis_rank;
  plan.sizes.assign(static_cast<size_t>(num_labels), -1);

  // Per-operand dims as labels, checking sizes; ellipsis dims broadcast like numpy.
  plan.input_labels.resize(terms.size());
  for (size_t t = 0; t < terms.size(); ++t) {
    std::vector<int>& labels = plan.input_labels[t];
    for (int l : parsed[t]) {
      if (l == kEllipsis) {
        for (int e = ellipsis_rank - ell_ranks[t]; e < ellipsis_rank; ++e) labels.push_back(kLetters + e);
      } else {
        labels.push_back(l);
      }
    }
    for (size_t d = 0; d < labels.size(); ++d) {
      const int l = labels[d];
      const bool ell = l >= kLetters;
      const int64_t n = shapes[t][d];
      int64_t& size = plan.sizes[static_cast<size_t>(l)];
      if (size == -1 || (ell && size == 1)) {
        size = n;
      } else if (size != n && !(ell && n == 1)) {
        return invalid_argument("einsum '" + equation + "': size " + std::to_string(n) + " of operand " +
                                std::to_string(t) + " (shape " + shape_to_string(shapes[t]) + ") conflicts with " +
                                std::to_string(size));
      }
    }
  }

  // Output labels: explicit, or (implicit form) the ellipsis, then the letters
  // used exactly once in ASCII order (uppercase before lowercase).
  if (arrow != std::string::npos) {
    std::vector<int> out;
    TANDEM_RETURN_IF_ERROR(parse_term(eq.substr(arrow + 2), &out));
    std::vector<bool> used(static_cast<size_t>(num_labels), false);
    for (int l : out) {
      if (l == kEllipsis) {
        for (int e = 0; e < ellipsis_rank; ++e) plan.output_labels.push_back(kLetters + e);
        continue;
      }
      if (plan.sizes[static_cast<size_t>(l)] < 0) {
        return invalid_argument("einsum '" + equation + "': an output label does not appear in any input");
      }
      if (used[static_cast<size_t>(l)]) {
        return invalid_argument("einsum '" + equation + "': the output repeats a label");
      }
      used[static_cast<size_t>(l)] = true;
      plan.output_labels.push_back(l);
    }
  } else {
    for (int e = 0; e < ellipsis_rank; ++e) plan.output_labels.push_back(kLetters + e);
    for (int l = 26; l < kLetters; ++l) {
      if (counts[static_cast<size_t>(l)] == 1) plan.output_labels.push_back(l);
    }
    for (int l = 0; l < 26; ++l) {
      if (counts[static_cast<size_t>(l)] == 1) plan.output_labels.push_back(l);
    }
  }
  for (int l : plan.output_labels) plan.output_shape.push_back(plan.sizes[static_cast<size_t>(l)]);
  return plan;
}

}  // namespace tandem::graph
