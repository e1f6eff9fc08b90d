// tandem-edge: the native edge demo. Classifies images (PNG/JPEG, decoded by Debian's stb_image)
// and finds speech in WAV files (silero VAD, read by libsndfile) on hybrid sessions: each call runs
// locally or on a tandem serve, by the router, and the app says where and why.
//
//   tandem-edge classify --model mobilenetv2.onnx [--labels labels.json] IMAGE...
//   tandem-edge vad --model silero_vad.onnx [--threshold 0.5] FILE.wav...
//   common: --placement auto|local|remote|prefer-remote  --remote URL [--remote-model NAME]
//           --memory-cap 64M  --deadline-ms N  --json FILE (results, for scripts and tests)
#include <sndfile.h>
#include <stb/stb_image.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/route/hybrid_session.h"
#include "native/lib/json.h"

namespace {

using namespace tandem;  // NOLINT(google-build-using-namespace)

struct Options {
  std::string command, model, labels, remote, remote_model, json;
  std::string placement = "auto";
  uint64_t memory_cap = 0;
  int deadline_ms = 0;
  float threshold = 0.5f;
  std::vector<std::string> files;
};

int usage(const std::string& why = "") {
  if (!why.empty()) std::cerr << "tandem-edge: " << why << "\n";
  std::cerr << "usage: tandem-edge classify --model M.onnx [--labels labels.json] IMAGE...\n"
               "       tandem-edge vad --model silero_vad.onnx [--threshold 0.5] FILE.wav...\n"
               "  --placement auto|local|remote|prefer-remote (auto)  --remote URL  --remote-model NAME\n"
               "  --memory-cap 64M  --deadline-ms N  --json FILE\n";
  return 2;
}

// Where the calls of one command ran: the summary line.
struct Tally {
  int local = 0, remote = 0, fell_back = 0;
  std::map<std::string, int> reasons;
  void add(const route::RunReport& r) {
    (r.ran_on == route::Side::kRemote ? remote : local)++;
    if (r.fell_back) {
      ++fell_back;
      ++reasons[r.fallback_reason];
    }
  }
  void print() const {
    std::printf("summary: %d call(s): %d local, %d remote, %d fell back\n", local + remote, local, remote, fell_back);
    for (const auto& [why, n] : reasons) std::printf("  fell back %dx: %s\n", n, why.c_str());
  }
};

// A progress bar on stderr when it is a terminal, one line per 10% otherwise.
class Progress {
 public:
  Progress(std::string label, size_t total) : label_(std::move(label)), total_(std::max<size_t>(total, 1)) {}
  void update(size_t done) {
    const int pct = static_cast<int>(100 * done / total_);
    if (isatty(STDERR_FILENO)) {
      const int w = 30, fill = pct * w / 100;
      std::fprintf(stderr, "\r%s [%s%s] %3d%%", label_.c_str(), std::string(fill, '#').c_str(),
                   std::string(w - fill, '.').c_str(), pct);
      if (done >= total_) std::fputc('\n', stderr);
    } else if (pct / 10 != last_ / 10 || done >= total_) {
      std::fprintf(stderr, "%s %d%%\n", label_.c_str(), pct);
    }
    last_ = pct;
  }

 private:
  std::string label_;
  size_t total_;
  int last_ = -1;
};

std::string json_str(const std::string& s) { return "\"" + json_escape(s) + "\""; }

std::string json_floats(const float* v, size_t n) {
  std::ostringstream o;
  o.precision(9);
  o << "[";
  for (size_t i = 0; i < n; ++i) o << (i ? "," : "") << v[i];
  return o.str() + "]";
}

std::string report_json(const route::RunReport& r) {
  std::ostringstream o;
  o << "{\"ran_on\":" << json_str(route::side_name(r.ran_on)) << ",\"where\":" << json_str(r.where)
    << ",\"fell_back\":" << (r.fell_back ? "true" : "false") << ",\"fallback_reason\":" << json_str(r.fallback_reason)
    << ",\"total_ms\":" << r.total_ms << "}";
  return o.str();
}

// The --json file: the placement, where the calls ran, and one entry per input file.
void write_results(const std::string& path, const route::HybridSession& session, const Tally& tally,
                   const std::string& key, const std::vector<std::string>& items) {
  std::ofstream f(path);
  f << "{\"placement\":" << json_str(route::side_name(session.placement().primary))
    << ",\"reason\":" << json_str(session.placement().reason) << ",\"local\":" << tally.local
    << ",\"remote\":" << tally.remote << ",\"" << key << "\":[";
  for (size_t k = 0; k < items.size(); ++k) f << (k ? "," : "") << items[k];
  f << "]}\n";
}

Result<std::unique_ptr<route::HybridSession>> open_session(const Options& o, const std::string& default_name) {
  route::HybridOptions h;
  TANDEM_ASSIGN_OR_RETURN(h.policy.mode, route::parse_mode(o.placement));
  h.policy.memory_cap_bytes = o.memory_cap;
  h.deadline_ms = o.deadline_ms;
  if (!o.remote.empty()) {
    route::RemoteOptions r;
    r.url = o.remote;
    r.model = o.remote_model.empty() ? default_name : o.remote_model;
    r.retries = 1;
    TANDEM_ASSIGN_OR_RETURN(h.remote, route::connect_remote(r));
  }
  TANDEM_ASSIGN_OR_RETURN(auto s, route::HybridSession::open(o.model, std::move(h)));
  std::printf("model     %s\nplacement %s (%s)\n", o.model.c_str(), route::side_name(s->placement().primary),
              s->placement().reason.c_str());
  return s;
}

// ---- classify ----------------------------------------------------------------------------------

// ImageNet labels: a JSON array of strings (demos/web/serve.mjs writes one from torchvision).
std::vector<std::string> read_labels(const std::string& path) {
  std::vector<std::string> labels;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '"') continue;
    std::string s;
    for (++i; i < text.size() && text[i] != '"'; ++i) s += text[i] == '\\' && i + 1 < text.size() ? text[++i] : text[i];
    labels.push_back(s);
  }
  return labels;
}

// Centre crop, bilinear resize to 224 x 224, ImageNet normalisation, NCHW (torchvision's recipe).
Result<Tensor> image_tensor(const std::string& path) {
  int w = 0, h = 0, channels = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &channels, 3), stbi_image_free);
  if (!px) return invalid_argument(path + ": not a PNG/JPEG image stb_image can read (" + stbi_failure_reason() + ")");
  constexpr int kSize = 224;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stddev[3] = {0.229f, 0.224f, 0.225f};
  const int side = std::min(w, h), x0 = (w - side) / 2, y0 = (h - side) / 2;
  std::vector<float> x(3 * kSize * kSize);
  const unsigned char* p = px.get();
  for (int oy = 0; oy < kSize; ++oy) {
    const float sy = std::clamp(y0 + (oy + 0.5f) * side / kSize - 0.5f, 0.0f, static_cast<float>(h - 1));
    const int iy = static_cast<int>(sy), iy1 = std::min(iy + 1, h - 1);
    const float fy = sy - iy;
    for (int ox = 0; ox < kSize; ++ox) {
      const float sx = std::clamp(x0 + (ox + 0.5f) * side / kSize - 0.5f, 0.0f, static_cast<float>(w - 1));
      const int ix = static_cast<int>(sx), ix1 = std::min(ix + 1, w - 1);
      const float fx = sx - ix;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return static_cast<float>(p[(static_cast<size_t>(yy) * w + xx) * 3 + c]); };
        const float v =
            (1 - fy) * ((1 - fx) * at(iy, ix) + fx * at(iy, ix1)) + fy * ((1 - fx) * at(iy1, ix) + fx * at(iy1, ix1));
        x[(static_cast<size_t>(c) * kSize + oy) * kSize + ox] = (v / 255.0f - mean[c]) / stddev[c];
      }
    }
  }
  return Tensor::from_vector<float>({1, 3, kSize, kSize}, x);
}

int classify(const Options& o) {
  auto session = open_session(o, "mobilenetv2");
  if (!session.is_ok()) return std::cerr << "tandem-edge: " << session.status().to_string() << "\n", 1;
  const std::vector<std::string> labels = o.labels.empty() ? std::vector<std::string>{} : read_labels(o.labels);
  const std::string input = (*session)->inputs().at(0).name;
  Tally tally;
  std::vector<std::string> json;
  Progress progress("classifying", o.files.size());
  int failures = 0;
  for (size_t i = 0; i < o.files.size(); ++i) {
    const std::string& file = o.files[i];
    auto x = image_tensor(file);
    route::RunReport r;
    Result<NamedValues> out =
        x.is_ok() ? (*session)->run({{input, Value(*x)}}, {}, &r) : Result<NamedValues>(x.status());
    progress.update(i + 1);
    if (!out.is_ok()) {
      std::printf("%s: error: %s\n", file.c_str(), out.status().to_string().c_str());
      json.push_back("{\"file\":" + json_str(file) + ",\"error\":" + json_str(out.status().to_string()) + "}");
      ++failures;
      continue;
    }
    tally.add(r);
    const Tensor& logits = (*out)[0].second.tensor();
    const float* v = logits.data<float>();
    const size_t n = static_cast<size_t>(logits.numel());
    std::vector<size_t> order(n);
    for (size_t k = 0; k < n; ++k) order[k] = k;
    std::partial_sort(order.begin(), order.begin() + std::min<size_t>(5, n), order.end(),
                      [&](size_t a, size_t b) { return v[a] > v[b]; });
    const float mx = v[order[0]];
    double sum = 0;
    for (size_t k = 0; k < n; ++k) sum += std::exp(v[k] - mx);
    std::printf("%s: ran %s in %.1f ms%s\n", file.c_str(), r.where.c_str(), r.total_ms,
                r.fell_back ? (" (fell back: " + r.fallback_reason + ")").c_str() : "");
    for (size_t k = 0; k < std::min<size_t>(5, n); ++k) {
      const size_t c = order[k];
      std::printf("  %zu. %-28s %5.1f%%\n", k + 1,
                  c < labels.size() ? labels[c].c_str() : ("class " + std::to_string(c)).c_str(),
                  100.0 * std::exp(v[c] - mx) / sum);
    }
    json.push_back("{\"file\":" + json_str(file) + ",\"top1\":" + std::to_string(order[0]) +
                   ",\"logits\":" + json_floats(v, n) + ",\"report\":" + report_json(r) + "}");
  }
  tally.print();
  if (!o.json.empty()) write_results(o.json, **session, tally, "images", json);
  return failures == 0 ? 0 : 1;
}

// ---- voice activity detection ------------------------------------------------------------------

// Mono float samples, and the rate (8 or 16 kHz: what silero VAD takes).
Result<std::vector<float>> read_wav(const std::string& path, int* rate) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (f == nullptr) return invalid_argument(path + ": cannot read it as audio (" + sf_strerror(nullptr) + ")");
  std::vector<float> frames(static_cast<size_t>(info.frames) * info.channels);
  const sf_count_t got = sf_readf_float(f, frames.data(), info.frames);
  sf_close(f);
  if (info.samplerate != 16000 && info.samplerate != 8000) {
    return invalid_argument(
        path + ": " + std::to_string(info.samplerate) +
        " Hz; silero VAD takes 16000 or 8000 Hz (resample first, e.g. sox in.wav -r 16000 out.wav)");
  }
  std::vector<float> mono(static_cast<size_t>(got));
  for (sf_count_t i = 0; i < got; ++i) {
    float s = 0;
    for (int c = 0; c < info.channels; ++c) s += frames[static_cast<size_t>(i) * info.channels + c];
    mono[static_cast<size_t>(i)] = s / static_cast<float>(info.channels);
  }
  *rate = info.samplerate;
  return mono;
}

int vad(const Options& o) {
  auto session = open_session(o, "silero_vad");
  if (!session.is_ok()) return std::cerr << "tandem-edge: " << session.status().to_string() << "\n", 1;
  Tally tally;
  std::vector<std::string> json;
  int failures = 0;
  for (const std::string& file : o.files) {
    int rate = 0;
    auto audio = read_wav(file, &rate);
    if (!audio.is_ok()) {
      std::printf("%s: error: %s\n", file.c_str(), audio.status().to_string().c_str());
      ++failures;
      continue;
    }
    // silero v5: 512-sample windows at 16 kHz (256 at 8 kHz), each with the previous 64 (32)
    // samples in front, and the recurrent state carried from window to window.
    const size_t window = rate == 16000 ? 512 : 256, context = rate == 16000 ? 64 : 32;
    const size_t windows = audio->size() / window;
    std::vector<float> state(2 * 128, 0.0f), ctx(context, 0.0f), probs;
    Progress progress(file, windows);
    Status failed = Status::ok();
    for (size_t w = 0; w < windows && failed.is_ok(); ++w) {
      std::vector<float> x(ctx);
      x.insert(x.end(), audio->begin() + static_cast<long>(w * window),
               audio->begin() + static_cast<long>((w + 1) * window));
      std::copy(x.end() - static_cast<long>(context), x.end(), ctx.begin());
      NamedValues feeds = {{"input", Value(Tensor::from_vector<float>({1, static_cast<int64_t>(x.size())}, x))},
                           {"state", Value(Tensor::from_vector<float>({2, 1, 128}, state))},
                           {"sr", Value(Tensor::scalar_int64(rate))}};
      route::RunReport r;
      auto out = (*session)->run(feeds, {}, &r);
      if (!out.is_ok()) {
        failed = out.status();
        break;
      }
      tally.add(r);
      for (const auto& [name, v] : *out) {
        const Tensor& t = v.tensor();
        if (name == "output") probs.push_back(t.data<float>()[0]);
        if (name == "stateN") std::copy(t.data<float>(), t.data<float>() + t.numel(), state.begin());
      }
      progress.update(w + 1);
    }
    if (!failed.is_ok()) {
      std::printf("%s: error: %s\n", file.c_str(), failed.to_string().c_str());
      ++failures;
      continue;
    }
    // Speech: windows at or above the threshold, gaps under 100 ms closed.
    const double sec = static_cast<double>(window) / rate;
    std::vector<std::pair<double, double>> segments;
    for (size_t w = 0; w < probs.size(); ++w) {
      if (probs[w] < o.threshold) continue;
      const double start = w * sec, end = (w + 1) * sec;
      if (!segments.empty() && start - segments.back().second < 0.1)
        segments.back().second = end;
      else
        segments.emplace_back(start, end);
    }
    std::printf("%s: %.2f s, %zu windows, %zu speech segment(s)\n", file.c_str(),
                audio->size() / static_cast<double>(rate), probs.size(), segments.size());
    for (const auto& [a, b] : segments) std::printf("  speech %6.2f s - %6.2f s\n", a, b);
    std::ostringstream seg;
    for (size_t k = 0; k < segments.size(); ++k)
      seg << (k ? "," : "") << "[" << segments[k].first << "," << segments[k].second << "]";
    json.push_back("{\"file\":" + json_str(file) + ",\"rate\":" + std::to_string(rate) + ",\"probabilities\":" +
                   json_floats(probs.data(), probs.size()) + ",\"segments\":[" + seg.str() + "]}");
  }
  tally.print();
  if (!o.json.empty()) write_results(o.json, **session, tally, "files", json);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) return usage();
  o.command = argv[1];
  if (o.command == "--help" || o.command == "-h") return usage();
  if (o.command != "classify" && o.command != "vad") return usage("unknown command '" + o.command + "'");
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a.rfind("--", 0) != 0) {
      o.files.push_back(a);
      continue;
    }
    const char* v = value();
    if (v == nullptr) return usage(a + " needs a value");
    if (a == "--model")
      o.model = v;
    else if (a == "--labels")
      o.labels = v;
    else if (a == "--placement")
      o.placement = v;
    else if (a == "--remote")
      o.remote = v;
    else if (a == "--remote-model")
      o.remote_model = v;
    else if (a == "--json")
      o.json = v;
    else if (a == "--deadline-ms")
      o.deadline_ms = std::atoi(v);
    else if (a == "--threshold")
      o.threshold = std::strtof(v, nullptr);
    else if (a == "--memory-cap") {
      auto bytes = route::parse_bytes(v);
      if (!bytes.is_ok()) return usage(bytes.status().message());
      o.memory_cap = *bytes;
    } else {
      return usage("unknown option '" + a + "'");
    }
  }
  if (o.model.empty() && o.remote.empty()) return usage("give --model FILE (and/or --remote URL)");
  if (o.files.empty()) return usage(o.command == "vad" ? "give one or more WAV files" : "give one or more images");
  if (auto mode = route::parse_mode(o.placement); !mode.is_ok()) return usage(mode.status().message());
  return o.command == "classify" ? classify(o) : vad(o);
}
