// One model version's request queue and its instances: a bounded queue (backpressure), worker
// threads each owning a Session, and dynamic batching (requests concatenated along each tensor's
// batch axis, 0 unless configured, run once, outputs split back).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime/session.h"

namespace tandem::serve {

using Clock = std::chrono::steady_clock;

// Batch axis per input or output name; 0 for names not listed.
using BatchAxes = std::map<std::string, int>;

struct BatchingConfig {
  int64_t max_batch_size = 0;  // rows per run; <= 1 = no batching
  std::chrono::microseconds max_queue_delay{0};
  size_t max_queue_size = 64;  // waiting requests; more are refused (503 + Retry-After)
  // Where a tensor's requests are concatenated: a recurrent state is often [layers, batch, ...].
  // Rank-0 inputs are shared: requests join a batch only with equal values.
  BatchAxes batch_axes;
};

enum class JobOutcome { kDone, kFailed, kDeadline, kStopped };

struct JobResult {
  JobOutcome outcome = JobOutcome::kDone;
  Result<NamedValues> outputs = internal_error("not run");
  uint64_t queue_ns = 0, compute_ns = 0;
  int64_t batch = 1;  // requests in the run that served this one
};

// The longest queue deadline a request may ask for (REST parameters and header, gRPC deadline and
// "timeout" parameter); longer ones are cut to it.
inline constexpr std::chrono::hours kMaxQueueDeadline{24};

struct Job {
  NamedValues feeds;  // sorted by name (the scheduler compares batches input by input)
  Clock::time_point enqueued = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();  // dropped unrun if still queued then
  // Called once, on a worker thread. Must not own the scheduler (it would join itself).
  std::function<void(JobResult)> done;
  int64_t rows = -1;  // set by Scheduler::submit: rows along the batch axes, -1 if not batchable
};

class Scheduler {
 public:
  // `sessions`: one per instance. `batchable`: every input of rank > 0 has a symbolic batch axis.
  Scheduler(std::string label, std::vector<std::unique_ptr<Session>> sessions, BatchingConfig config, bool batchable,
            std::function<void(int64_t batch_rows, uint64_t compute_ns)> on_execution);
  ~Scheduler();  // stop_and_join()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // kUnavailable when the queue is full or the scheduler is stopping: the caller answers 503.
  // The job is moved from only when accepted.
  Status submit(Job&& job);
  bool stopping() const;
  // Refuses new jobs, runs the queued ones to the end, joins the workers. Idempotent.
  void stop_and_join();
  bool batching() const { return batching_; }

 private:
  void worker(Session* session, size_t index);
  Job pop_front();  // under mu_
  std::vector<Job> take_batch(std::unique_lock<std::mutex>& lock, size_t worker);
  void run(Session* session, std::vector<Job> batch);
  void run_one(Session* session, Job& job, Clock::time_point started);

  std::string label_;
  std::vector<std::unique_ptr<Session>> sessions_;
  BatchingConfig config_;
  bool batching_;
  std::function<void(int64_t, uint64_t)> on_execution_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  int64_t queued_rows_ = 0;            // batchable rows in queue_ (batching only)
  int idle_workers_ = 0;               // workers waiting for any job
  std::vector<int64_t> filling_rows_;  // per worker: rows of the batch it waits to fill, -1 if none
  bool stopping_ = false;
  std::mutex join_mu_;
  std::vector<std::thread> workers_;
};

}  // namespace tandem::serve
