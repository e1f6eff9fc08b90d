#include "native/serve/scheduler.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include <pthread.h>

namespace tandem::serve {
namespace {

uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return b > a ? static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()) : 0;
}

int axis_of(const BatchAxes& axes, const std::string& name) {
  const auto it = axes.find(name);
  return it == axes.end() ? 0 : it->second;
}

// Rows a job contributes to a batch (every tensor's size along its batch axis; rank-0 inputs are
// shared, not batched), or -1 if it cannot be batched.
int64_t rows_of(const Job& job, const BatchAxes& axes) {
  int64_t rows = -1;
  for (const auto& [name, v] : job.feeds) {
    if (!v.is_tensor()) return -1;
    if (v.tensor().rank() == 0) continue;
    const int axis = axis_of(axes, name);
    if (axis >= static_cast<int>(v.tensor().rank())) return -1;
    const int64_t r = v.tensor().dim(axis);
    if (rows >= 0 && r != rows) return -1;
    rows = r;
  }
  return rows;
}

// Same inputs and dtypes, equal dimensions but the batch axis, equal values of shared (rank-0)
// inputs: the two can be concatenated along their batch axes.
bool compatible(const Job& a, const Job& b, const BatchAxes& axes) {
  if (a.feeds.size() != b.feeds.size()) return false;
  for (size_t i = 0; i < a.feeds.size(); ++i) {
    const Tensor& x = a.feeds[i].second.tensor();
    const Tensor& y = b.feeds[i].second.tensor();
    if (a.feeds[i].first != b.feeds[i].first || x.dtype() != y.dtype() || x.rank() != y.rank()) return false;
    if (x.rank() == 0) {
      const bool same = x.dtype() == DType::kString ? x.strings() == y.strings()
                                                    : std::memcmp(x.raw_data(), y.raw_data(), x.byte_size()) == 0;
      if (!same) return false;
      continue;
    }
    const int axis = axis_of(axes, a.feeds[i].first);
    for (int d = 0; d < static_cast<int>(x.rank()); ++d) {
      if (d != axis && x.dim(d) != y.dim(d)) return false;
    }
  }
  return true;
}

// A tensor seen as [outer, rows, inner] around `axis`: `inner` counted in elements.
struct AxisView {
  int64_t outer = 1, inner = 1;
};

AxisView view_around(const Shape& shape, int axis) {
  AxisView v;
  for (int d = 0; d < axis; ++d) v.outer *= shape[d];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) v.inner *= shape[d];
  return v;
}

Result<Tensor> concat_along(const std::vector<const Tensor*>& parts, int axis) {
  if (parts[0]->rank() == 0) return *parts[0];  // shared: equal in every part
  Shape shape = parts[0]->shape();
  shape[axis] = 0;
  for (const Tensor* p : parts) shape[axis] += p->dim(axis);
  const AxisView v = view_around(shape, axis);
  if (parts[0]->dtype() == DType::kString) {
    std::vector<std::string> all;
    for (int64_t o = 0; o < v.outer; ++o) {
      for (const Tensor* p : parts) {
        const int64_t n = p->dim(axis) * v.inner;
        const auto first = p->strings().begin() + o * n;
        all.insert(all.end(), first, first + n);
      }
    }
    return Tensor::from_strings(shape, std::move(all));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(parts[0]->dtype(), shape));
  const size_t elem = dtype_size(parts[0]->dtype());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (int64_t o = 0; o < v.outer; ++o) {
    for (const Tensor* p : parts) {
      const size_t n = static_cast<size_t>(p->dim(axis) * v.inner) * elem;
      if (n > 0) std::memcpy(dst, static_cast<const uint8_t*>(p->raw_data()) + static_cast<size_t>(o) * n, n);
      dst += n;
    }
  }
  return out;
}

Result<Tensor> slice_along(const Tensor& t, int axis, int64_t begin, int64_t rows) {
  Shape shape = t.shape();
  const AxisView v = view_around(shape, axis);
  const int64_t total = t.dim(axis);
  shape[axis] = rows;
  if (t.dtype() == DType::kString) {
    std::vector<std::string> mine;
    for (int64_t o = 0; o < v.outer; ++o) {
      const auto first = t.strings().begin() + (o * total + begin) * v.inner;
      mine.insert(mine.end(), first, first + rows * v.inner);
    }
    return Tensor::from_strings(shape, std::move(mine));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(t.dtype(), shape));
  const size_t elem = dtype_size(t.dtype());
  const size_t n = static_cast<size_t>(rows * v.inner) * elem;
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  const auto* src = static_cast<const uint8_t*>(t.raw_data());
  for (int64_t o = 0; o < v.outer && n > 0; ++o) {
    std::memcpy(dst + static_cast<size_t>(o) * n, src + static_cast<size_t>((o * total + begin) * v.inner) * elem, n);
  }
  return out;
}

}  // namespace

Scheduler::Scheduler(std::string label, std::vector<std::unique_ptr<Session>> sessions, BatchingConfig config,
                     bool batchable, std::function<void(int64_t, uint64_t)> on_execution)
    : label_(std::move(label)),
      sessions_(std::move(sessions)),
      config_(config),
      batching_(batchable && config.max_batch_size > 1),
      on_execution_(std::move(on_execution)) {
  filling_rows_.assign(sessions_.size(), -1);
  for (size_t i = 0; i < sessions_.size(); ++i) {
    workers_.emplace_back([this, session = sessions_[i].get(), i] {
      pthread_setname_np(pthread_self(), "tandem-run");
      worker(session, i);
    });
  }
}

Scheduler::~Scheduler() { stop_and_join(); }

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

Status Scheduler::submit(Job&& job) {
  std::sort(job.feeds.begin(), job.feeds.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  job.rows = rows_of(job, config_.batch_axes);
  int wake = 0;  // 1: notify one worker, 2: all
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status(StatusCode::kUnavailable, "model " + label_ + " is unloading");
    if (queue_.size() >= config_.max_queue_size) {
      return Status(StatusCode::kUnavailable,
                    "model " + label_ + " queue is full (" + std::to_string(config_.max_queue_size) + " waiting)");
    }
    const int64_t rows = batching_ ? job.rows : -1;
    queue_.push_back(std::move(job));
    if (rows > 0) queued_rows_ += rows;
    // Wake a worker only when it has something to do: an idle one always; one waiting for its
    // batch to fill only once the batch is full or this job cannot join it. Waking the filler for
    // every arrival cost a futex wake and a context switch per request.
    int64_t filling_rows = -1;
    for (int64_t r : filling_rows_) filling_rows = std::max(filling_rows, r);
    const bool wake_filler = filling_rows >= 0 && (rows <= 0 || filling_rows + queued_rows_ >= config_.max_batch_size);
    if (idle_workers_ > 0 && wake_filler)
      wake = 2;
    else if (idle_workers_ > 0 || wake_filler)
      wake = 1;
  }
  if (wake == 2)
    cv_.notify_all();
  else if (wake == 1)
    cv_.notify_one();
  return Status::ok();
}

void Scheduler::stop_and_join() {
  std::lock_guard<std::mutex> join_lock(join_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
}

Job Scheduler::pop_front() {
  Job job = std::move(queue_.front());
  queue_.pop_front();
  if (batching_) queued_rows_ -= std::max<int64_t>(job.rows, 0);
  return job;
}

std::vector<Job> Scheduler::take_batch(std::unique_lock<std::mutex>& lock, size_t worker) {
  std::vector<Job> batch;
  batch.push_back(pop_front());
  int64_t rows = batching_ ? batch[0].rows : -1;
  if (rows < 0 || rows >= config_.max_batch_size) return batch;
  // Takes the compatible jobs at the queue's front while they fit; false once one does not.
  auto gather = [&] {
    while (!queue_.empty() && compatible(queue_.front(), batch[0], config_.batch_axes)) {
      const int64_t r = queue_.front().rows;
      if (r < 0 || rows + r > config_.max_batch_size) return false;
      rows += r;
      batch.push_back(pop_front());
    }
    return true;
  };
  // Wait for company until the first request has waited max_queue_delay, or the batch is full.
  const Clock::time_point until = batch[0].enqueued + config_.max_queue_delay;
  while (true) {
    if (!gather() || rows >= config_.max_batch_size || !queue_.empty() || stopping_) break;
    filling_rows_[worker] = rows;
    const bool timed_out = cv_.wait_until(lock, until) == std::cv_status::timeout;
    filling_rows_[worker] = -1;
    if (timed_out) {
      gather();
      break;
    }
  }
  return batch;
}

void Scheduler::worker(Session* session, size_t index) {
  while (true) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_workers_;
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      --idle_workers_;
      if (queue_.empty()) return;  // stopping, and everything queued has run
      batch = take_batch(lock, index);
    }
    run(session, std::move(batch));
  }
}

void Scheduler::run_one(Session* session, Job& job, Clock::time_point started) {
  JobResult r;
  r.queue_ns = ns_between(job.enqueued, started);
  try {
    r.outputs = session->run(job.feeds);
  } catch (const std::exception& e) {
    r.outputs = internal_error(std::string("inference threw: ") + e.what());
  }
  r.compute_ns = ns_between(started, Clock::now());
  r.outcome = r.outputs.is_ok() ? JobOutcome::kDone : JobOutcome::kFailed;
  on_execution_(job.rows > 0 ? job.rows : 1, r.compute_ns);
  job.done(std::move(r));
}

void Scheduler::run(Session* session, std::vector<Job> batch) {
  const Clock::time_point started = Clock::now();
  // Requests whose deadline passed while queued are answered without running.
  std::vector<Job> live;
  for (Job& job : batch) {
    if (started > job.deadline) {
      JobResult r;
      r.outcome = JobOutcome::kDeadline;
      r.outputs = Status(StatusCode::kUnavailable, "the request's deadline passed while it was queued");
      r.queue_ns = ns_between(job.enqueued, started);
      job.done(std::move(r));
    } else {
      live.push_back(std::move(job));
    }
  }
  if (live.empty()) return;
  if (live.size() == 1) return run_one(session, live[0], started);

  // Concatenate each input along its batch axis, run once, split every output back by rows.
  NamedValues feeds;
  std::vector<int64_t> rows;
  for (const Job& job : live) rows.push_back(job.rows);
  Status st = Status::ok();
  for (size_t i = 0; i < live[0].feeds.size() && st.is_ok(); ++i) {
    std::vector<const Tensor*> parts;
    for (const Job& job : live) parts.push_back(&job.feeds[i].second.tensor());
    auto joined = concat_along(parts, axis_of(config_.batch_axes, live[0].feeds[i].first));
    if (!joined.is_ok())
      st = joined.status();
    else
      feeds.emplace_back(live[0].feeds[i].first, Value(std::move(joined).value()));
  }
  Result<NamedValues> out = st.is_ok() ? Result<NamedValues>(internal_error("not run")) : Result<NamedValues>(st);
  if (st.is_ok()) {
    try {
      out = session->run(feeds);
    } catch (const std::exception& e) {
      out = internal_error(std::string("inference threw: ") + e.what());
    }
  }
  const uint64_t compute_ns = ns_between(started, Clock::now());
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  bool splittable = out.is_ok();
  if (splittable) {
    for (const auto& [name, v] : *out) {
      const int axis = axis_of(config_.batch_axes, name);
      splittable =
          splittable && v.is_tensor() && static_cast<int>(v.tensor().rank()) > axis && v.tensor().dim(axis) == total;
    }
  }
  if (!splittable) {
    // The batched run failed or its outputs do not follow the batch axis: serve each alone, so
    // one bad request cannot fail its neighbours and results never depend on batching.
    for (Job& job : live) run_one(session, job, Clock::now());
    return;
  }
  on_execution_(total, compute_ns);
  int64_t offset = 0;
  for (size_t j = 0; j < live.size(); ++j) {
    JobResult r;
    r.queue_ns = ns_between(live[j].enqueued, started);
    r.compute_ns = compute_ns;
    r.batch = static_cast<int64_t>(live.size());
    NamedValues mine;
    Status split_st = Status::ok();
    for (const auto& [name, v] : *out) {
      auto part = slice_along(v.tensor(), axis_of(config_.batch_axes, name), offset, rows[j]);
      if (!part.is_ok()) {
        split_st = part.status();
        break;
      }
      mine.emplace_back(name, Value(std::move(part).value()));
    }
    offset += rows[j];
    if (split_st.is_ok())
      r.outputs = std::move(mine);
    else
      r.outputs = split_st;
    r.outcome = split_st.is_ok() ? JobOutcome::kDone : JobOutcome::kFailed;
    live[j].done(std::move(r));
  }
}

}  // namespace tandem::serve
