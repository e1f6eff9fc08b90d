// Reference kernels: tensor family, indexing (Gather*, Scatter*, OneHot,
// Compress, NonZero). Every index is validated before anything is read or
// written through it.
#include <algorithm>
#include <type_traits>

#include "backends/reference/kernels/tensor_util.h"

namespace tandem::reference::tensor_detail {
namespace {

// Normalises index v (negative counts from the end) into [0, dim) or fails.
Result<int64_t> checked_index(const KernelContext& ctx, int64_t v, int64_t dim, const char* what) {
  const int64_t n = v < 0 ? v + dim : v;
  if (n < 0 || n >= dim) {
    return ctx.error(std::string(what) + " " + std::to_string(v) + " is out of range for a dimension of size " +
                     std::to_string(dim));
  }
  return n;
}

// Calls fn(i, offset) for every element i of `shape` (row-major), where offset
// is the element's position in a tensor with `strides`, leaving out `axis`.
template <typename Fn>
void walk_except_axis(const Shape& shape, size_t axis, const std::vector<int64_t>& strides, Fn&& fn) {
  const int64_t n = shape_numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, off);
    for (size_t d = shape.size(); d-- > 0;) {
      if (d != axis) off += strides[d];
      if (++idx[d] < shape[d]) break;
      if (d != axis) off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

Status gather(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  TANDEM_RETURN_IF_ERROR(check_indices_dtype(ctx, ind, "Gather indices"));
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.error("Gather needs an input of rank >= 1");
  TANDEM_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(ctx.node().attr_int("axis", 0), rank));
  const int64_t dim = x.dim(static_cast<size_t>(axis));
  const int64_t n = ind.numel();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    TANDEM_ASSIGN_OR_RETURN(idx[static_cast<size_t>(i)], checked_index(ctx, index_at(ind, i), dim, "Gather index"));
  }
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), ind.shape().begin(), ind.shape().end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(static_cast<size_t>(d));
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(static_cast<size_t>(d));
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < n; ++i) {
        std::copy_n(src + (o * dim + idx[static_cast<size_t>(i)]) * inner, inner, dst + (o * n + i) * inner);
      }
    }
    return Status::ok();
  });
}

// Offsets into data (shape `ds`) addressed by indices along axis, per element
// of indices; shared by GatherElements and ScatterElements.
Result<std::vector<int64_t>> element_offsets(const KernelContext& ctx, const Tensor& data, const Tensor& ind,
                                             int64_t axis) {
  TANDEM_RETURN_IF_ERROR(check_indices_dtype(ctx, ind, "indices"));
  if (ind.rank() != data.rank()) {
    return ctx.error("indices rank " + std::to_string(ind.rank()) + " differs from data rank " +
                     std::to_string(data.rank()));
  }
  for (size_t d = 0; d < data.rank(); ++d) {
    if (static_cast<int64_t>(d) != axis && ind.dim(d) > data.dim(d)) {
      return ctx.error("indices shape " + shape_to_string(ind.shape()) + " exceeds data shape " +
                       shape_to_string(data.shape()) + " outside the axis");
    }
  }
  const std::vector<int64_t> ds = strides_of(data.shape());
  const int64_t dim = data.dim(static_cast<size_t>(axis));
  std::vector<int64_t> offsets(static_cast<size_t>(ind.numel()));
  Status bad;
  walk_except_axis(ind.shape(), static_cast<size_t>(axis), ds, [&](int64_t i, int64_t off) {
    if (!bad.is_ok()) return;
    auto k = checked_index(ctx, index_at(ind, i), dim, "index");
    if (!k.is_ok()) {
      bad = k.status();
      return;
    }
    offsets[static_cast<size_t>(i)] = off + *k * ds[static_cast<size_t>(axis)];
  });
  TANDEM_RETURN_IF_ERROR(bad);
  return offsets;
}

Status gather_elements(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.error("GatherElements needs an input of rank >= 1");
  TANDEM_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(ctx.node().attr_int("axis", 0), rank));
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, element_offsets(ctx, x, ind, axis));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), ind.shape()));
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    for (size_t i = 0; i < offsets.size(); ++i) y.data<T>()[i] = x.data<T>()[offsets[i]];
    return Status::ok();
  });
}

// Data offsets of the slices that the last dim of `ind` addresses (GatherND /
// ScatterND), with `batch_dims` leading dims shared by data and indices.
// Sets *slice to the element count of one addressed slice.
Result<std::vector<int64_t>> nd_offsets(const KernelContext& ctx, const Tensor& data, const Tensor& ind,
                                        int64_t batch_dims, int64_t* slice) {
  TANDEM_RETURN_IF_ERROR(check_indices_dtype(ctx, ind, "indices"));
  const auto r = static_cast<int64_t>(data.rank());
  const auto q = static_cast<int64_t>(ind.rank());
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  if (batch_dims < 0 || batch_dims >= std::min(r, q)) {
    return ctx.error("batch_dims " + std::to_string(batch_dims) + " must be less than both ranks");
  }
  const int64_t k = ind.dim(static_cast<size_t>(q - 1));
  if (k < 0 || k > r - batch_dims) {
    return ctx.error("indices last dimension " + std::to_string(k) + " exceeds data rank " + std::to_string(r) +
                     " minus batch_dims");
  }
  int64_t batches = 1;
  for (int64_t d = 0; d < batch_dims; ++d) {
    if (ind.dim(static_cast<size_t>(d)) != data.dim(static_cast<size_t>(d))) {
      return ctx.error("batch dimensions of data " + shape_to_string(data.shape()) + " and indices " +
                       shape_to_string(ind.shape()) + " differ");
    }
    batches *= data.dim(static_cast<size_t>(d));
  }
  const std::vector<int64_t> ds = strides_of(data.shape());
  *slice = 1;
  for (int64_t d = batch_dims + k; d < r; ++d) *slice *= data.dim(static_cast<size_t>(d));
  const int64_t batch_stride = batch_dims == 0 ? 0 : ds[static_cast<size_t>(batch_dims - 1)];
  int64_t tuples = 1;
  for (int64_t d = 0; d + 1 < q; ++d) tuples *= ind.dim(static_cast<size_t>(d));
  const int64_t per_batch = batches == 0 ? 0 : tuples / batches;
  std::vector<int64_t> offsets(static_cast<size_t>(tuples));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = per_batch == 0 ? 0 : (t / per_batch) * batch_stride;
    for (int64_t j = 0; j < k; ++j) {
      const auto d = static_cast<size_t>(batch_dims + j);
      TANDEM_ASSIGN_OR_RETURN(int64_t v, checked_index(ctx, index_at(ind, t * k + j), data.dim(d), "index"));
      off += v * ds[d];
    }
    offsets[static_cast<size_t>(t)] = off;
  }
  return offsets;
}

Status gather_nd(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  int64_t slice = 0;
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, nd_offsets(ctx, x, ind, b, &slice));
  const int64_t k = ind.dim(ind.rank() - 1);
  Shape out(ind.shape().begin(), ind.shape().end() - 1);
  out.insert(out.end(), x.shape().begin() + b + k, x.shape().end());
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    for (size_t t = 0; t < offsets.size(); ++t) {
      std::copy_n(x.data<T>() + offsets[t], slice, y.data<T>() + static_cast<int64_t>(t) * slice);
    }
    return Status::ok();
  });
}

enum class Reduce { kNone, kAdd, kMul, kMax, kMin };

Result<Reduce> parse_reduction(const KernelContext& ctx) {
  const std::string r = ctx.node().attr_string("reduction", "none");
  if (r == "none") return Reduce::kNone;
  if (r == "add") return Reduce::kAdd;
  if (r == "mul") return Reduce::kMul;
  if (r == "max") return Reduce::kMax;
  if (r == "min") return Reduce::kMin;
  return ctx.error("unknown reduction '" + r + "'");
}

template <typename T>
void scatter_chunk(T* o, const T* u, int64_t chunk, Reduce red) {
  for (int64_t j = 0; j < chunk; ++j) {
    switch (red) {
      case Reduce::kNone: o[j] = u[j]; break;
      case Reduce::kAdd: o[j] = static_cast<T>(o[j] + u[j]); break;
      case Reduce::kMul: o[j] = static_cast<T>(o[j] * u[j]); break;
      case Reduce::kMax: o[j] = std::max(o[j], u[j]); break;
      case Reduce::kMin: o[j] = std::min(o[j], u[j]); break;
    }
  }
}

template <typename T>
void scatter_into(T* out, const T* upd, const std::vector<int64_t>& targets, int64_t chunk, Reduce red) {
  for (size_t t = 0; t < targets.size(); ++t) {
    T* o = out + targets[t];
    const T* u = upd + static_cast<int64_t>(t) * chunk;
    if constexpr (!std::is_arithmetic_v<T>) {
      std::copy_n(u, chunk, o);  // strings: only reduction 'none' reaches here
    } else {
      scatter_chunk(o, u, chunk, red);
    }
  }
}

// Output 0 = data with updates written (or reduced) at targets, `chunk` elements each.
Status scatter_output(KernelContext& ctx, const Tensor& data, const Tensor& updates,
                      const std::vector<int64_t>& targets, int64_t chunk, Reduce red) {
  if (updates.dtype() != data.dtype()) return ctx.error("updates must have the data's dtype");
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, data.dtype(), data.shape()));
  if (red == Reduce::kNone) {
    return visit_bytes(data.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      std::copy_n(data.data<T>(), data.numel(), y.data<T>());
      scatter_into<T>(y.data<T>(), updates.data<T>(), targets, chunk, red);
      return Status::ok();
    });
  }
  if (is_half(data.dtype())) {  // reduce in float32, store back as half
    TANDEM_ASSIGN_OR_RETURN(Tensor d32, to_float32(data));
    TANDEM_ASSIGN_OR_RETURN(Tensor u32, to_float32(updates));
    scatter_into<float>(d32.data<float>(), u32.data<float>(), targets, chunk, red);
    TANDEM_ASSIGN_OR_RETURN(Tensor back, from_float32(d32, data.dtype()));
    std::memcpy(y.raw_data(), back.raw_data(), back.byte_size());
    return Status::ok();
  }
  return visit_numeric(data.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    std::copy_n(data.data<T>(), data.numel(), y.data<T>());
    scatter_into<T>(y.data<T>(), updates.data<T>(), targets, chunk, red);
    return Status::ok();
  });
}

Status scatter_elements(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  const auto rank = static_cast<int64_t>(data.rank());
  if (rank == 0) return ctx.error("data must have rank >= 1");
  TANDEM_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(ctx.node().attr_int("axis", 0), rank));
  TANDEM_ASSIGN_OR_RETURN(const Reduce red, parse_reduction(ctx));
  if (upd.shape() != ind.shape()) {
    return ctx.error("updates shape " + shape_to_string(upd.shape()) + " differs from indices shape " +
                     shape_to_string(ind.shape()));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> targets, element_offsets(ctx, data, ind, axis));
  return scatter_output(ctx, data, upd, targets, 1, red);
}

Status scatter_nd(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  TANDEM_ASSIGN_OR_RETURN(const Reduce red, parse_reduction(ctx));
  int64_t slice = 0;
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> targets, nd_offsets(ctx, data, ind, 0, &slice));
  const int64_t k = ind.dim(ind.rank() - 1);
  Shape expect(ind.shape().begin(), ind.shape().end() - 1);
  expect.insert(expect.end(), data.shape().begin() + k, data.shape().end());
  if (upd.shape() != expect) {
    return ctx.error("updates shape " + shape_to_string(upd.shape()) + " should be " + shape_to_string(expect));
  }
  return scatter_output(ctx, data, upd, targets, slice, red);
}

Status one_hot(KernelContext& ctx) {
  const Tensor& ind = ctx.input(0);
  const Tensor& depth_t = ctx.input(1);
  const Tensor& values = ctx.input(2);
  if (depth_t.numel() != 1 || depth_t.dtype() == DType::kString) return ctx.error("depth must be one number");
  if (values.numel() != 2) return ctx.error("values must hold [off_value, on_value]");
  if (ind.dtype() == DType::kString || ind.dtype() == DType::kBool) return ctx.error("indices must be numeric");
  const double depth_d = depth_t.get_as_double(0);
  if (!(depth_d >= 0 && depth_d < 1e12)) return ctx.error("depth must be a non-negative number");
  const auto depth = static_cast<int64_t>(depth_d);
  const auto rank = static_cast<int64_t>(ind.rank());
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < -(rank + 1) || axis > rank) return ctx.error("axis " + std::to_string(axis) + " is out of range");
  if (axis < 0) axis += rank + 1;
  Shape out = ind.shape();
  out.insert(out.begin() + axis, depth);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, values.dtype(), out));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= ind.dim(static_cast<size_t>(d));
  return visit_bytes(values.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T off = values.data<T>()[0];
    const T on = values.data<T>()[1];
    T* dst = y.data<T>();
    std::fill_n(dst, y.numel(), off);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const auto v = static_cast<int64_t>(ind.get_as_double(o * inner + i));
        const int64_t hot = v < 0 ? v + depth : v;
        if (hot >= 0 && hot < depth) dst[(o * depth + hot) * inner + i] = on;
      }
    }
    return Status::ok();
  });
}

Status compress(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  if (cond.dtype() != DType::kBool || cond.rank() != 1) return ctx.error("condition must be a 1-D bool tensor");
  const graph::Attribute* axis_attr = ctx.node().attr("axis");
  int64_t outer = 1, inner = 1, dim = x.numel();
  Shape out;
  int64_t axis = 0;
  if (axis_attr != nullptr) {
    const auto rank = static_cast<int64_t>(x.rank());
    TANDEM_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr->i, rank));
    dim = x.dim(static_cast<size_t>(axis));
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer *= x.dim(static_cast<size_t>(d));
      if (d > axis) inner *= x.dim(static_cast<size_t>(d));
    }
    out = x.shape();
  } else {
    out = {0};
  }
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (!cond.data<bool>()[i]) continue;
    if (i >= dim) return ctx.error("condition selects index " + std::to_string(i) + " beyond size " + std::to_string(dim));
    keep.push_back(i);
  }
  const auto n = static_cast<int64_t>(keep.size());
  out[static_cast<size_t>(axis)] = n;
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < n; ++i) {
        std::copy_n(x.data<T>() + (o * dim + keep[static_cast<size_t>(i)]) * inner, inner,
                    y.data<T>() + (o * n + i) * inner);
      }
    }
    return Status::ok();
  });
}

Status non_zero(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t n = x.numel();
  std::vector<int64_t> hits;
  if (is_half(x.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      if ((x.data<uint16_t>()[i] & 0x7fff) != 0) hits.push_back(i);
    }
  } else if (x.dtype() == DType::kString) {
    return ctx.error("NonZero does not take strings");
  } else {
    TANDEM_RETURN_IF_ERROR(visit_any(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, std::string>) {
        for (int64_t i = 0; i < n; ++i) {
          if (x.data<T>()[i] != T{}) hits.push_back(i);
        }
      }
      return Status::ok();
    }));
  }
  // A scalar is treated as a 1-D tensor of one element (as numpy does).
  const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  const auto rank = static_cast<int64_t>(shape.size());
  const auto nnz = static_cast<int64_t>(hits.size());
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kInt64, {rank, nnz}));
  const std::vector<int64_t> st = strides_of(shape);
  for (int64_t j = 0; j < nnz; ++j) {
    int64_t rem = hits[static_cast<size_t>(j)];
    for (int64_t d = 0; d < rank; ++d) {
      y.data<int64_t>()[d * nnz + j] = rem / st[static_cast<size_t>(d)];
      rem %= st[static_cast<size_t>(d)];
    }
  }
  return Status::ok();
}

}  // namespace

void register_tensor_index_kernels() {
  register_kernel("", "Gather", tensor_inputs<gather>);
  register_kernel("", "GatherElements", tensor_inputs<gather_elements>);
  register_kernel("", "GatherND", tensor_inputs<gather_nd>);
  register_kernel("", "Scatter", tensor_inputs<scatter_elements>);
  register_kernel("", "ScatterElements", tensor_inputs<scatter_elements>);
  register_kernel("", "ScatterND", tensor_inputs<scatter_nd>);
  register_kernel("", "OneHot", tensor_inputs<one_hot>);
  register_kernel("", "Compress", tensor_inputs<compress>);
  register_kernel("", "NonZero", tensor_inputs<non_zero>);
}

}  // namespace tandem::reference::tensor_detail
