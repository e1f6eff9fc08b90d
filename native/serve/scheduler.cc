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

// Rows a job contributes to a batch (its first dimension), or -1 if it cannot be batched.
int64_t rows_of(const Job& job) {
  int64_t rows = -1;
  for (const auto& [name, v] : job.feeds) {
    if (!v.is_tensor() || v.tensor().rank() == 0) return -1;
    if (rows >= 0 && v.tensor().dim(0) != rows) return -1;
    rows = v.tensor().dim(0);
  }
  return rows;
}

// Same inputs, dtypes and trailing dimensions: the two can be concatenated along axis 0.
bool compatible(const Job& a, const Job& b) {
  if (a.feeds.size() != b.feeds.size()) return false;
  for (size_t i = 0; i < a.feeds.size(); ++i) {
    const Tensor& x = a.feeds[i].second.tensor();
    const Tensor& y = b.feeds[i].second.tensor();
    if (a.feeds[i].first != b.feeds[i].first || x.dtype() != y.dtype() || x.rank() != y.rank()) return false;
    if (!std::equal(x.shape().begin() + 1, x.shape().end(), y.shape().begin() + 1)) return false;
  }
  return true;
}

Result<Tensor> concat_rows(const std::vector<const Tensor*>& parts) {
  Shape shape = parts[0]->shape();
  shape[0] = 0;
  for (const Tensor* p : parts) shape[0] += p->dim(0);
  if (parts[0]->dtype() == DType::kString) {
    std::vector<std::string> all;
    for (const Tensor* p : parts) all.insert(all.end(), p->strings().begin(), p->strings().end());
    return Tensor::from_strings(shape, std::move(all));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(parts[0]->dtype(), shape));
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (const Tensor* p : parts) {
    if (p->byte_size() > 0) std::memcpy(dst, p->raw_data(), p->byte_size());
    dst += p->byte_size();
  }
  return out;
}

Result<Tensor> slice_rows(const Tensor& t, int64_t begin, int64_t rows) {
  Shape shape = t.shape();
  const int64_t row_elems = t.dim(0) == 0 ? 0 : t.numel() / t.dim(0);
  shape[0] = rows;
  if (t.dtype() == DType::kString) {
    const auto first = t.strings().begin() + begin * row_elems;
    return Tensor::from_strings(shape, std::vector<std::string>(first, first + rows * row_elems));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(t.dtype(), shape));
  const size_t row_bytes = static_cast<size_t>(row_elems) * dtype_size(t.dtype());
  if (out.byte_size() > 0) {
    std::memcpy(out.raw_data(), static_cast<const uint8_t*>(t.raw_data()) + static_cast<size_t>(begin) * row_bytes,
                out.byte_size());
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
  for (auto& s : sessions_) {
    workers_.emplace_back([this, session = s.get()] {
      pthread_setname_np(pthread_self(), "tandem-run");
      worker(session);
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status(StatusCode::kUnavailable, "model " + label_ + " is unloading");
    if (queue_.size() >= config_.max_queue_size) {
      return Status(StatusCode::kUnavailable,
                    "model " + label_ + " queue is full (" + std::to_string(config_.max_queue_size) + " waiting)");
    }
    queue_.push_back(std::move(job));
  }
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

std::vector<Job> Scheduler::take_batch(std::unique_lock<std::mutex>& lock) {
  std::vector<Job> batch;
  batch.push_back(std::move(queue_.front()));
  queue_.pop_front();
  int64_t rows = batching_ ? rows_of(batch[0]) : -1;
  if (rows < 0 || rows >= config_.max_batch_size) return batch;
  // Wait for company until the first request has waited max_queue_delay, or the batch is full.
  const Clock::time_point until = batch[0].enqueued + config_.max_queue_delay;
  while (true) {
    while (!queue_.empty() && compatible(queue_.front(), batch[0])) {
      const int64_t r = rows_of(queue_.front());
      if (r < 0 || rows + r > config_.max_batch_size) return batch;
      rows += r;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (rows >= config_.max_batch_size || !queue_.empty() || stopping_) return batch;
    if (cv_.wait_until(lock, until) == std::cv_status::timeout) {
      while (!queue_.empty() && compatible(queue_.front(), batch[0])) {
        const int64_t r = rows_of(queue_.front());
        if (r < 0 || rows + r > config_.max_batch_size) break;
        rows += r;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      return batch;
    }
  }
}

void Scheduler::worker(Session* session) {
  while (true) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      batch = take_batch(lock);
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
  const int64_t rows = rows_of(job);
  on_execution_(rows > 0 ? rows : 1, r.compute_ns);
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

  // Concatenate each input along axis 0, run once, split every output back by rows.
  NamedValues feeds;
  std::vector<int64_t> rows;
  for (const Job& job : live) rows.push_back(job.feeds[0].second.tensor().dim(0));
  Status st = Status::ok();
  for (size_t i = 0; i < live[0].feeds.size() && st.is_ok(); ++i) {
    std::vector<const Tensor*> parts;
    for (const Job& job : live) parts.push_back(&job.feeds[i].second.tensor());
    auto joined = concat_rows(parts);
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
    for (const auto& [name, v] : *out)
      splittable = splittable && v.is_tensor() && v.tensor().rank() > 0 && v.tensor().dim(0) == total;
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
      auto part = slice_rows(v.tensor(), offset, rows[j]);
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
