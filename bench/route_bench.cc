// tandem_route_bench: what routing costs. Prints one JSON object (bench/route.mjs reads it).
//
//   tandem_route_bench --model FILE --remote URL --name NAME [--runs 50] [--rounds 5]
//
// - decision: route::decide() on the model's facts (+ the breaker's health read), in ns.
// - local: HybridSession::run on local-only, next to Session::run on the same model: the
//   routing layer's cost on the local path.
// - remote, binary and JSON: HybridSession::run on remote-only; the server's queue + compute come
//   from its Server-Timing header, so overhead = total - queue - compute is what the protocol,
//   the encoding and loopback add on top of the model's compute.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/route/hybrid_session.h"

namespace {

using namespace tandem;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int die(const Status& st) {
  std::fprintf(stderr, "tandem_route_bench: %s\n", st.to_string().c_str());
  return 1;
}

NamedValues random_feeds(const std::vector<ValueInfo>& inputs) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  NamedValues feeds;
  for (const ValueInfo& in : inputs) {
    Shape s;
    for (const graph::Dim& d : in.type.dims) s.push_back(d.known() ? d.value : 1);
    std::vector<float> v(static_cast<size_t>(shape_numel(s)));
    for (float& x : v) x = u(rng);
    feeds.emplace_back(in.name, Value(Tensor::from_vector<float>(s, v)));
  }
  return feeds;
}

struct Series {
  std::vector<double> total, compute, queue, overhead;
};

std::string series_json(const Series& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"runs\": %zu, \"total_ms\": %.4f, \"total_p90_ms\": %.4f, \"compute_ms\": %.4f, \"queue_ms\": %.4f, "
                "\"overhead_ms\": %.4f, \"overhead_p90_ms\": %.4f}",
                s.total.size(), median(s.total), percentile(s.total, 0.9), median(s.compute), median(s.queue),
                median(s.overhead), percentile(s.overhead, 0.9));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, url, name;
  int runs = 50, rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model")
      file = v;
    else if (a == "--remote")
      url = v;
    else if (a == "--name")
      name = v;
    else if (a == "--runs")
      runs = std::max(1, std::atoi(v.c_str()));
    else if (a == "--rounds")
      rounds = std::max(1, std::atoi(v.c_str()));
  }
  if (file.empty() || url.empty() || name.empty()) {
    std::fprintf(stderr, "usage: tandem_route_bench --model FILE --remote URL --name NAME [--runs N] [--rounds R]\n");
    return 2;
  }
  auto open = [&](bool binary, route::Mode mode) {
    route::RemoteOptions ro;
    ro.url = url;
    ro.model = name;
    ro.binary = binary;
    route::HybridOptions h;
    h.policy.mode = mode;
    auto remote = route::connect_remote(ro);
    if (remote.is_ok()) h.remote = *remote;
    return route::HybridSession::open(file, std::move(h));
  };
  auto local = open(true, route::Mode::kLocalOnly);
  auto binary = open(true, route::Mode::kRemoteOnly);
  auto json = open(false, route::Mode::kRemoteOnly);
  if (!local.is_ok()) return die(local.status());
  if (!binary.is_ok()) return die(binary.status());
  if (!json.is_ok()) return die(json.status());
  const NamedValues feeds = random_feeds((*local)->inputs());

  // Decision: the router on this model's facts, 10000 decisions per sample.
  std::vector<double> decide_ns;
  const route::ModelFacts facts = (*local)->model_facts();
  const route::DeviceBudget device = (*local)->device_budget();
  route::Policy policy;
  auto health_client = route::connect_remote({.url = url, .model = name});
  for (int r = 0; r < 21; ++r) {
    const auto t0 = Clock::now();
    size_t sink = 0;
    for (int i = 0; i < 10000; ++i) {
      route::RemoteHealth h = (*health_client)->health();
      sink += route::decide(facts, device, policy, h).reason.size();
    }
    decide_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / 10000.0);
    if (sink == 0) return 3;
  }

  // Each side runs its own block of calls per round (warm-up first), rounds alternating the sides:
  // interleaving single calls would time the thread pool waking up after the other side's wait.
  Series plain, hybrid_local, bin, js;
  Session* session = (*local)->local();
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < runs + 3; ++i) {
      const auto t0 = Clock::now();
      auto a = session->run(feeds);
      if (!a.is_ok()) return die(a.status());
      if (i >= 3) plain.total.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    route::RunReport rep;
    for (int i = 0; i < runs + 3; ++i) {
      auto b = (*local)->run(feeds, {}, &rep);
      if (!b.is_ok()) return die(b.status());
      if (i < 3) continue;
      hybrid_local.total.push_back(rep.total_ms);
      hybrid_local.compute.push_back(rep.compute_ms);
      hybrid_local.overhead.push_back(rep.total_ms - rep.compute_ms);
    }
    for (Series* series : {&bin, &js}) {
      auto& s = series == &bin ? *binary : *json;
      for (int i = 0; i < runs + 3; ++i) {
        auto c = s->run(feeds, {}, &rep);
        if (!c.is_ok()) return die(c.status());
        if (i < 3) continue;
        series->total.push_back(rep.total_ms);
        series->compute.push_back(rep.compute_ms);
        series->queue.push_back(rep.queue_ms);
        series->overhead.push_back(rep.total_ms - rep.compute_ms - rep.queue_ms);
      }
    }
  }
  std::string label, inputs;
  for (const auto& [n, v] : feeds) {
    label += (label.empty() ? "" : ", ") + n + " " + shape_to_string(v.tensor().shape());
    std::string dims;
    for (int64_t d : v.tensor().shape()) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    inputs += std::string(inputs.empty() ? "" : ", ") + "{\"name\": \"" + n + "\", \"shape\": [" + dims + "]}";
  }
  std::printf(
      "{\"model\": \"%s\", \"label\": \"%s\", \"inputs\": [%s], \"decision_ns\": %.1f, \"decision_p90_ns\": %.1f,\n",
      name.c_str(), label.c_str(), inputs.c_str(), median(decide_ns), percentile(decide_ns, 0.9));
  std::printf(" \"session_run\": %s,\n \"hybrid_local\": %s,\n \"remote_binary\": %s,\n \"remote_json\": %s}\n",
              series_json(plain).c_str(), series_json(hybrid_local).c_str(), series_json(bin).c_str(),
              series_json(js).c_str());
  return 0;
}
