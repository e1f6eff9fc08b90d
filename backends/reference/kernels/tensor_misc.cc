// Reference kernels: tensor family, the rest (Trilu, Unique, ReverseSequence).
#include <algorithm>
#include <numeric>

#include "backends/reference/kernels/tensor_util.h"

namespace tandem::reference::tensor_detail {
namespace {

Status trilu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("Trilu needs an input of rank >= 2, got " + shape_to_string(x.shape()));
  int64_t k = 0;
  if (ctx.has_input(1)) {
    if (ctx.input(1).numel() != 1 || !dtype_is_integer(ctx.input(1).dtype())) {
      return ctx.error("k must be an integer scalar");
    }
    k = ctx.input(1).get_as_int64(0);
  }
  const bool upper = ctx.node().attr_int("upper", 1) != 0;
  const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  const int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), x.shape()));
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    for (int64_t m = 0; m < mats; ++m) {
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t row = (m * rows + i) * cols;
        for (int64_t j = 0; j < cols; ++j) {
          // Compare j - i with k without forming i + k (k may be huge).
          const bool keep = upper ? (j - i >= k) : (j - i <= k);
          dst[row + j] = keep ? src[row + j] : T{};
        }
      }
    }
    return Status::ok();
  });
}

// Unique over rows: along `axis` each of the `dim` rows is the elements
// (o, r, i) for all outer o and inner i.
template <typename T>
void unique_rows(const T* x, int64_t outer, int64_t dim, int64_t inner, bool sorted, std::vector<int64_t>* firsts,
                 std::vector<int64_t>* inverse, std::vector<int64_t>* counts) {
  auto less = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < outer; ++o) {
      const T* ra = x + (o * dim + a) * inner;
      const T* rb = x + (o * dim + b) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        if (ra[i] < rb[i]) return true;
        if (rb[i] < ra[i]) return false;
      }
    }
    return false;
  };
  std::vector<int64_t> order(static_cast<size_t>(dim));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), less);  // stable: a group's first row is its first occurrence
  std::vector<int64_t> group_of(static_cast<size_t>(dim));
  firsts->clear();
  counts->clear();
  for (size_t p = 0; p < order.size(); ++p) {
    if (p == 0 || less(order[p - 1], order[p])) {
      firsts->push_back(order[p]);
      counts->push_back(0);
    }
    group_of[static_cast<size_t>(order[p])] = static_cast<int64_t>(firsts->size()) - 1;
    ++counts->back();
  }
  std::vector<int64_t> rank(firsts->size());
  std::iota(rank.begin(), rank.end(), 0);
  if (!sorted) {  // order groups by first occurrence
    std::vector<int64_t> by_first(firsts->size());
    std::iota(by_first.begin(), by_first.end(), 0);
    std::sort(by_first.begin(), by_first.end(),
              [&](int64_t a, int64_t b) { return (*firsts)[static_cast<size_t>(a)] < (*firsts)[static_cast<size_t>(b)]; });
    std::vector<int64_t> f2, c2;
    for (size_t p = 0; p < by_first.size(); ++p) {
      rank[static_cast<size_t>(by_first[p])] = static_cast<int64_t>(p);
      f2.push_back((*firsts)[static_cast<size_t>(by_first[p])]);
      c2.push_back((*counts)[static_cast<size_t>(by_first[p])]);
    }
    *firsts = std::move(f2);
    *counts = std::move(c2);
  }
  inverse->resize(static_cast<size_t>(dim));
  for (int64_t r = 0; r < dim; ++r) {
    (*inverse)[static_cast<size_t>(r)] = rank[static_cast<size_t>(group_of[static_cast<size_t>(r)])];
  }
}

Status unique(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const bool sorted = ctx.node().attr_int("sorted", 1) != 0;
  const graph::Attribute* axis_attr = ctx.node().attr("axis");
  int64_t outer = 1, dim = x.numel(), inner = 1, axis = 0;
  if (axis_attr != nullptr) {
    const auto rank = static_cast<int64_t>(x.rank());
    TANDEM_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr->i, rank));
    dim = x.dim(static_cast<size_t>(axis));
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer *= x.dim(static_cast<size_t>(d));
      if (d > axis) inner *= x.dim(static_cast<size_t>(d));
    }
  }
  std::vector<int64_t> firsts, inverse, counts;
  TANDEM_ASSIGN_OR_RETURN(const Tensor keys, to_float32(x));  // half types compare as float
  TANDEM_RETURN_IF_ERROR(visit_any(keys.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    unique_rows<T>(keys.data<T>(), outer, dim, inner, sorted, &firsts, &inverse, &counts);
    return Status::ok();
  }));
  const auto n = static_cast<int64_t>(firsts.size());
  Shape out = axis_attr != nullptr ? x.shape() : Shape{0};
  out[static_cast<size_t>(axis)] = n;
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  TANDEM_RETURN_IF_ERROR(visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < n; ++i) {
        std::copy_n(x.data<T>() + (o * dim + firsts[static_cast<size_t>(i)]) * inner, inner,
                    y.data<T>() + (o * n + i) * inner);
      }
    }
    return Status::ok();
  }));
  const std::vector<int64_t>* lists[] = {&firsts, &inverse, &counts};
  for (size_t o = 1; o < 4; ++o) {
    if (!ctx.has_output(o)) continue;
    const std::vector<int64_t>& v = *lists[o - 1];
    TANDEM_ASSIGN_OR_RETURN(Tensor t, ctx.allocate_output(o, DType::kInt64, {static_cast<int64_t>(v.size())}));
    std::copy(v.begin(), v.end(), t.data<int64_t>());
  }
  return Status::ok();
}

Status reverse_sequence(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& lens_t = ctx.input(1);
  if (x.rank() < 2) return ctx.error("ReverseSequence needs an input of rank >= 2");
  const int64_t batch_axis = ctx.node().attr_int("batch_axis", 1);
  const int64_t time_axis = ctx.node().attr_int("time_axis", 0);
  if (!((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0))) {
    return ctx.error("batch_axis and time_axis must be 0 and 1 in some order");
  }
  const int64_t batch = x.dim(static_cast<size_t>(batch_axis));
  const int64_t steps = x.dim(static_cast<size_t>(time_axis));
  if (!dtype_is_integer(lens_t.dtype()) || lens_t.rank() != 1 || lens_t.dim(0) != batch) {
    return ctx.error("sequence_lens must be an integer tensor of shape [" + std::to_string(batch) + "]");
  }
  const std::vector<int64_t> lens = lens_t.to_int64_vector();
  for (int64_t l : lens) {
    if (l < 0 || l > steps) return ctx.error("sequence length " + std::to_string(l) + " is out of range");
  }
  int64_t inner = 1;
  for (size_t d = 2; d < x.rank(); ++d) inner *= x.dim(d);
  auto at = [&](int64_t t, int64_t b) { return (time_axis == 0 ? t * batch + b : b * steps + t) * inner; };
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), x.shape()));
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lens[static_cast<size_t>(b)];
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t from = t < len ? len - 1 - t : t;
        std::copy_n(x.data<T>() + at(from, b), inner, y.data<T>() + at(t, b));
      }
    }
    return Status::ok();
  });
}

}  // namespace

void register_tensor_misc_kernels() {
  register_kernel("", "Trilu", tensor_inputs<trilu>);
  register_kernel("", "Unique", tensor_inputs<unique>);
  register_kernel("", "ReverseSequence", tensor_inputs<reverse_sequence>);
}

}  // namespace tandem::reference::tensor_detail
