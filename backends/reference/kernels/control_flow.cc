// Reference kernels: control_flow family (If, Loop, Scan).
//
// Bodies run through KernelContext::run_subgraph, which resolves outer-scope
// names. Values a body hands back may alias the enclosing graph's arena, so
// they are detached (copied if borrowed) before they become node outputs.
#include <algorithm>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/control_flow_util.h"

namespace tandem::reference {
namespace {

// A boolean/numeric single-element tensor read as a condition.
Result<bool> read_condition(const KernelContext& ctx, const Value& v, const char* what) {
  if (!v.is_tensor()) return ctx.error(std::string(what) + " must be a tensor");
  const Tensor& t = v.tensor();
  if (t.numel() != 1) {
    return ctx.error(std::string(what) + " must hold one element, got shape " + shape_to_string(t.shape()));
  }
  if (t.dtype() == DType::kBool) return t.data<bool>()[0];
  if (t.dtype() == DType::kString || is_half(t.dtype()) || t.dtype() == DType::kUndefined) {
    return ctx.error(std::string(what) + " must be bool, got " + dtype_name(t.dtype()));
  }
  return t.get_as_double(0) != 0;
}

Tensor bool_scalar(bool v) {
  Tensor t = Tensor::allocate(DType::kBool, {}).value();
  t.data<bool>()[0] = v;
  return t;
}

Status if_op(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("the condition input is required");
  TANDEM_ASSIGN_OR_RETURN(bool cond, read_condition(ctx, ctx.input_value(0), "cond"));
  const char* name = cond ? "then_branch" : "else_branch";
  const graph::Graph* branch = ctx.node().attr_graph(name);
  if (branch == nullptr) return ctx.error(std::string("missing graph attribute ") + name);
  std::vector<Value> outs;
  TANDEM_RETURN_IF_ERROR(ctx.run_subgraph(*branch, {}, &outs));
  if (outs.size() < ctx.num_outputs()) {
    return ctx.error(std::string(name) + " produces " + std::to_string(outs.size()) + " outputs, the node has " +
                     std::to_string(ctx.num_outputs()));
  }
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    if (outs[i].empty()) return ctx.error(std::string(name) + " did not produce output " + std::to_string(i));
    TANDEM_ASSIGN_OR_RETURN(Value v, detach(outs[i]));
    ctx.set_output(i, std::move(v));
  }
  return Status::ok();
}

// Scan outputs that never ran: shape [0, ...] when the body declares the rest.
Result<Tensor> empty_scan_output(const graph::Graph& body, size_t body_output, int64_t axis_len_pos) {
  const graph::TypeInfo& t = body.values[static_cast<size_t>(body.outputs[body_output])].type;
  const DType dtype = t.dtype == DType::kUndefined ? DType::kFloat32 : t.dtype;
  Shape shape;
  if (t.kind == graph::TypeInfo::Kind::kTensor && t.shape_known()) shape = t.concrete_shape();
  const int64_t pos = std::clamp<int64_t>(axis_len_pos, 0, static_cast<int64_t>(shape.size()));
  shape.insert(shape.begin() + pos, 0);
  return Tensor::allocate(dtype, shape);
}

Status loop_op(KernelContext& ctx) {
  const graph::Graph* body = ctx.node().attr_graph("body");
  if (body == nullptr) return ctx.error("missing graph attribute body");
  if (ctx.num_inputs() < 2) return ctx.error("Loop takes M, cond and the loop-carried values");
  const size_t n_carried = ctx.num_inputs() - 2;
  if (body->inputs.size() != 2 + n_carried) {
    return ctx.error("body takes " + std::to_string(body->inputs.size()) + " inputs, expected " +
                     std::to_string(2 + n_carried) + " (iteration, cond, loop-carried values)");
  }
  if (body->outputs.size() < 1 + n_carried) {
    return ctx.error("body has " + std::to_string(body->outputs.size()) + " outputs, expected at least " +
                     std::to_string(1 + n_carried));
  }
  const size_t n_scan = body->outputs.size() - 1 - n_carried;
  if (ctx.num_outputs() > n_carried + n_scan) return ctx.error("more outputs than the body produces");

  const bool has_trip = ctx.has_input(0);
  const bool has_cond = ctx.has_input(1);
  int64_t trip = 0;
  if (has_trip) {
    const Tensor& m = ctx.input(0);
    if (m.numel() != 1 || (m.dtype() != DType::kInt64 && m.dtype() != DType::kInt32)) {
      return ctx.error("M must be an int64 scalar, got " + std::string(dtype_name(m.dtype())) +
                       shape_to_string(m.shape()));
    }
    trip = m.get_as_int64(0);
  }
  bool cond = true;
  if (has_cond) { TANDEM_ASSIGN_OR_RETURN(cond, read_condition(ctx, ctx.input_value(1), "cond")); }
  if (!has_trip && !has_cond) return ctx.error("neither M nor cond is given: the loop would never end");

  std::vector<Value> carried(n_carried);
  for (size_t i = 0; i < n_carried; ++i) {
    const Value& v = ctx.input_value(2 + i);
    carried[i] = v.empty() ? Value::none() : v;
  }
  std::vector<std::vector<Tensor>> scans(n_scan);
  std::vector<Value> inputs(2 + n_carried), outs;
  for (int64_t it = 0; (!has_trip || it < trip) && cond; ++it) {
    inputs[0] = Value(Tensor::scalar_int64(it));
    inputs[1] = Value(bool_scalar(cond));
    for (size_t i = 0; i < n_carried; ++i) inputs[2 + i] = std::move(carried[i]);
    TANDEM_RETURN_IF_ERROR(ctx.run_subgraph(*body, inputs, &outs));
    if (has_cond) { TANDEM_ASSIGN_OR_RETURN(cond, read_condition(ctx, outs[0], "the body's cond output")); }
    for (size_t i = 0; i < n_carried; ++i) carried[i] = std::move(outs[1 + i]);
    for (size_t k = 0; k < n_scan; ++k) {
      const Value& v = outs[1 + n_carried + k];
      if (!v.is_tensor()) return ctx.error("scan output " + std::to_string(k) + " of the body must be a tensor");
      if (!scans[k].empty() && (scans[k][0].shape() != v.tensor().shape() ||
                                scans[k][0].dtype() != v.tensor().dtype())) {
        return ctx.error("scan output " + std::to_string(k) + " changes shape between iterations: " +
                         shape_to_string(scans[k][0].shape()) + " then " + shape_to_string(v.tensor().shape()));
      }
      scans[k].push_back(v.tensor());
    }
  }
  for (size_t i = 0; i < n_carried && i < ctx.num_outputs(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(Value v, detach(carried[i]));
    ctx.set_output(i, std::move(v));
  }
  for (size_t k = 0; k < n_scan && n_carried + k < ctx.num_outputs(); ++k) {
    if (!ctx.has_output(n_carried + k)) continue;
    Tensor stacked;
    if (scans[k].empty()) {
      TANDEM_ASSIGN_OR_RETURN(stacked, empty_scan_output(*body, 1 + n_carried + k, 0));
    } else {
      TANDEM_ASSIGN_OR_RETURN(stacked, stack_along(scans[k], 0, false, "scan outputs"));
    }
    ctx.set_output(n_carried + k, Value(std::move(stacked)));
  }
  return Status::ok();
}

// Scan per ONNX opset 9+: no batch axis; per-input axes and directions.
// Opset 8 (batch axis 0, optional sequence_lens) runs this once per batch row.
struct ScanConfig {
  size_t n_state = 0, n_scan_in = 0, n_scan_out = 0;
  std::vector<int64_t> in_axes, in_dirs, out_axes, out_dirs;
};

// Runs the scan over states and scan inputs (already without batch axis).
// `length` iterations; fills final states and stacked scan outputs.
Status run_scan(KernelContext& ctx, const graph::Graph& body, const ScanConfig& cfg, std::vector<Value> states,
                const std::vector<Tensor>& scan_in, int64_t length, std::vector<Value>* final_states,
                std::vector<Tensor>* scan_out) {
  std::vector<std::vector<Tensor>> per_iter(cfg.n_scan_out);
  std::vector<Value> inputs(cfg.n_state + cfg.n_scan_in), outs;
  for (int64_t t = 0; t < length; ++t) {
    for (size_t i = 0; i < cfg.n_state; ++i) inputs[i] = std::move(states[i]);
    for (size_t j = 0; j < cfg.n_scan_in; ++j) {
      const int64_t idx = cfg.in_dirs[j] != 0 ? length - 1 - t : t;
      TANDEM_ASSIGN_OR_RETURN(Tensor s, slice_along(scan_in[j], cfg.in_axes[j], idx));
      inputs[cfg.n_state + j] = Value(std::move(s));
    }
    TANDEM_RETURN_IF_ERROR(ctx.run_subgraph(body, inputs, &outs));
    for (size_t i = 0; i < cfg.n_state; ++i) states[i] = std::move(outs[i]);
    for (size_t k = 0; k < cfg.n_scan_out; ++k) {
      const Value& v = outs[cfg.n_state + k];
      if (!v.is_tensor()) return ctx.error("scan output " + std::to_string(k) + " of the body must be a tensor");
      per_iter[k].push_back(v.tensor());
    }
  }
  *final_states = std::move(states);
  scan_out->clear();
  for (size_t k = 0; k < cfg.n_scan_out; ++k) {
    const size_t body_out = cfg.n_state + k;
    if (per_iter[k].empty()) {
      TANDEM_ASSIGN_OR_RETURN(Tensor e, empty_scan_output(body, body_out, cfg.out_axes[k]));
      scan_out->push_back(std::move(e));
      continue;
    }
    const auto rank = static_cast<int64_t>(per_iter[k][0].rank()) + 1;
    if (cfg.out_axes[k] < -rank || cfg.out_axes[k] >= rank) {
      return ctx.error("scan_output_axes[" + std::to_string(k) + "] = " + std::to_string(cfg.out_axes[k]) +
                       " is out of range for rank " + std::to_string(rank));
    }
    const int64_t axis = cfg.out_axes[k] < 0 ? cfg.out_axes[k] + rank : cfg.out_axes[k];
    Result<Tensor> stacked = stack_along(per_iter[k], axis, cfg.out_dirs[k] != 0, "scan outputs");
    if (!stacked.is_ok()) return ctx.error(stacked.status().message());
    scan_out->push_back(std::move(stacked).value());
  }
  return Status::ok();
}

// Reads an int list attribute of a given length, or fills it with a default.
Result<std::vector<int64_t>> list_attr(const KernelContext& ctx, const char* name, size_t n) {
  std::vector<int64_t> v = ctx.node().attr_ints(name);
  if (v.empty()) return std::vector<int64_t>(n, 0);
  if (v.size() != n) {
    return ctx.error(std::string(name) + " has " + std::to_string(v.size()) + " entries, expected " +
                     std::to_string(n));
  }
  return v;
}

Status scan_op(KernelContext& ctx) {
  const graph::Graph* body = ctx.node().attr_graph("body");
  if (body == nullptr) return ctx.error("missing graph attribute body");
  const int64_t m = ctx.node().attr_int("num_scan_inputs", -1);
  const bool v8 = ctx.opset() < 9;
  const size_t first = v8 ? 1 : 0;  // opset 8: input 0 is sequence_lens
  if (m <= 0 || static_cast<size_t>(m) + first > ctx.num_inputs()) {
    return ctx.error("num_scan_inputs must be in [1, " + std::to_string(ctx.num_inputs() - first) + "]");
  }
  ScanConfig cfg;
  cfg.n_scan_in = static_cast<size_t>(m);
  cfg.n_state = ctx.num_inputs() - first - cfg.n_scan_in;
  if (body->inputs.size() != cfg.n_state + cfg.n_scan_in) {
    return ctx.error("body takes " + std::to_string(body->inputs.size()) + " inputs, expected " +
                     std::to_string(cfg.n_state + cfg.n_scan_in));
  }
  if (body->outputs.size() < cfg.n_state) return ctx.error("body returns fewer outputs than there are states");
  cfg.n_scan_out = body->outputs.size() - cfg.n_state;
  if (ctx.num_outputs() > cfg.n_state + cfg.n_scan_out) return ctx.error("more outputs than the body produces");
  if (v8) {
    TANDEM_ASSIGN_OR_RETURN(cfg.in_dirs, list_attr(ctx, "directions", cfg.n_scan_in));
    cfg.in_axes.assign(cfg.n_scan_in, 0);
    cfg.out_axes.assign(cfg.n_scan_out, 0);
    cfg.out_dirs.assign(cfg.n_scan_out, 0);
  } else {
    TANDEM_ASSIGN_OR_RETURN(cfg.in_axes, list_attr(ctx, "scan_input_axes", cfg.n_scan_in));
    TANDEM_ASSIGN_OR_RETURN(cfg.in_dirs, list_attr(ctx, "scan_input_directions", cfg.n_scan_in));
    TANDEM_ASSIGN_OR_RETURN(cfg.out_axes, list_attr(ctx, "scan_output_axes", cfg.n_scan_out));
    TANDEM_ASSIGN_OR_RETURN(cfg.out_dirs, list_attr(ctx, "scan_output_directions", cfg.n_scan_out));
  }
  std::vector<Value> states(cfg.n_state);
  for (size_t i = 0; i < cfg.n_state; ++i) {
    if (!ctx.has_input(first + i)) return ctx.error("state input " + std::to_string(i) + " is missing");
    states[i] = ctx.input_value(first + i);
  }
  std::vector<Tensor> scan_in(cfg.n_scan_in);
  for (size_t j = 0; j < cfg.n_scan_in; ++j) {
    if (!ctx.has_input(first + cfg.n_state + j)) return ctx.error("scan input " + std::to_string(j) + " is missing");
    scan_in[j] = ctx.input(first + cfg.n_state + j);
  }

  std::vector<Value> final_states;
  std::vector<Tensor> scan_out;
  if (!v8) {
    int64_t length = -1;
    for (size_t j = 0; j < cfg.n_scan_in; ++j) {
      const auto rank = static_cast<int64_t>(scan_in[j].rank());
      Result<int64_t> axis = normalize_axis(cfg.in_axes[j], rank);
      if (!axis.is_ok() || rank == 0) return ctx.error("scan_input_axes[" + std::to_string(j) + "] is out of range");
      cfg.in_axes[j] = *axis;
      const int64_t len = scan_in[j].dim(static_cast<size_t>(*axis));
      if (length >= 0 && len != length) {
        return ctx.error("scan inputs have different lengths: " + std::to_string(length) + " and " +
                         std::to_string(len));
      }
      length = len;
    }
    TANDEM_RETURN_IF_ERROR(run_scan(ctx, *body, cfg, states, scan_in, length, &final_states, &scan_out));
  } else {
    // Opset 8: every input has a batch axis 0; scan inputs scan along axis 1.
    cfg.in_axes.assign(cfg.n_scan_in, 0);
    int64_t batch = -1, length = -1;
    auto check_batch = [&](const Tensor& t, int64_t min_rank) -> Status {
      if (static_cast<int64_t>(t.rank()) < min_rank) return ctx.error("Scan-8 inputs need a batch axis");
      if (batch >= 0 && t.dim(0) != batch) return ctx.error("inputs disagree on the batch size");
      batch = t.dim(0);
      return Status::ok();
    };
    for (const Value& s : states) {
      if (!s.is_tensor()) return ctx.error("Scan-8 states must be tensors");
      TANDEM_RETURN_IF_ERROR(check_batch(s.tensor(), 1));
    }
    for (const Tensor& t : scan_in) {
      TANDEM_RETURN_IF_ERROR(check_batch(t, 2));
      if (length >= 0 && t.dim(1) != length) return ctx.error("scan inputs have different lengths");
      length = t.dim(1);
    }
    std::vector<int64_t> lens(static_cast<size_t>(batch), length);
    if (ctx.has_input(0)) {
      const Tensor& sl = ctx.input(0);
      if (sl.numel() != batch) return ctx.error("sequence_lens must have one entry per batch row");
      for (int64_t b = 0; b < batch; ++b) {
        lens[static_cast<size_t>(b)] = sl.get_as_int64(b);
        if (lens[static_cast<size_t>(b)] < 0 || lens[static_cast<size_t>(b)] > length) {
          return ctx.error("sequence_lens[" + std::to_string(b) + "] is outside [0, " + std::to_string(length) + "]");
        }
      }
    }
    std::vector<std::vector<Tensor>> state_rows(cfg.n_state), out_rows(cfg.n_scan_out);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Value> row_states(cfg.n_state);
      for (size_t i = 0; i < cfg.n_state; ++i) {
        TANDEM_ASSIGN_OR_RETURN(Tensor s, slice_along(states[i].tensor(), 0, b));
        row_states[i] = Value(std::move(s));
      }
      std::vector<Tensor> row_in(cfg.n_scan_in);
      for (size_t j = 0; j < cfg.n_scan_in; ++j) {
        TANDEM_ASSIGN_OR_RETURN(row_in[j], slice_along(scan_in[j], 0, b));
        if (lens[static_cast<size_t>(b)] < length) {  // only the row's valid prefix is scanned
          Shape sh = row_in[j].shape();
          const int64_t inner = dims_product(sh, 1, sh.size());
          sh[0] = lens[static_cast<size_t>(b)];
          TANDEM_ASSIGN_OR_RETURN(Tensor cut, Tensor::allocate(row_in[j].dtype(), sh));
          copy_elements(row_in[j], 0, cut, 0, sh[0] * inner);
          row_in[j] = cut;
        }
      }
      std::vector<Value> fs;
      std::vector<Tensor> so;
      TANDEM_RETURN_IF_ERROR(run_scan(ctx, *body, cfg, std::move(row_states), row_in, lens[static_cast<size_t>(b)],
                                      &fs, &so));
      for (size_t i = 0; i < cfg.n_state; ++i) {
        if (!fs[i].is_tensor()) return ctx.error("Scan-8 states must be tensors");
        state_rows[i].push_back(fs[i].tensor());
      }
      for (size_t k = 0; k < cfg.n_scan_out; ++k) {
        Tensor t = so[k];
        if (t.rank() >= 1 && t.dim(0) < length) {  // pad short rows with zeros to the full length
          Shape sh = t.shape();
          const int64_t inner = dims_product(sh, 1, sh.size());
          const int64_t have = sh[0];
          sh[0] = length;
          TANDEM_ASSIGN_OR_RETURN(Tensor padded, Tensor::allocate(t.dtype(), sh));
          copy_elements(t, 0, padded, 0, have * inner);
          t = padded;
        }
        out_rows[k].push_back(t);
      }
    }
    for (size_t i = 0; i < cfg.n_state; ++i) {
      if (batch == 0) { final_states.push_back(states[i]); continue; }
      Result<Tensor> st = stack_along(state_rows[i], 0, false, "final states");
      if (!st.is_ok()) return ctx.error(st.status().message());
      final_states.push_back(Value(std::move(st).value()));
    }
    for (size_t k = 0; k < cfg.n_scan_out; ++k) {
      if (batch == 0) {
        TANDEM_ASSIGN_OR_RETURN(Tensor e, empty_scan_output(*body, cfg.n_state + k, 0));
        scan_out.push_back(std::move(e));
        continue;
      }
      Result<Tensor> st = stack_along(out_rows[k], 0, false, "scan outputs");
      if (!st.is_ok()) return ctx.error(st.status().message());
      scan_out.push_back(std::move(st).value());
    }
  }
  for (size_t i = 0; i < cfg.n_state && i < ctx.num_outputs(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(Value v, detach(final_states[i]));
    ctx.set_output(i, std::move(v));
  }
  for (size_t k = 0; k < cfg.n_scan_out && cfg.n_state + k < ctx.num_outputs(); ++k) {
    ctx.set_output(cfg.n_state + k, Value(scan_out[k]));
  }
  return Status::ok();
}

}  // namespace

void register_control_flow_kernels() {
  register_kernel("", "If", if_op);
  register_kernel("", "Loop", loop_op);
  register_kernel("", "Scan", scan_op);
}

}  // namespace tandem::reference
