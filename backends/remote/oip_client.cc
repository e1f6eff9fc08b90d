#include "backends/remote/oip_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "backends/remote/circuit_breaker.h"
#include "backends/remote/oip_codec.h"

namespace tandem::remote {
namespace {

using route::Clock;
using route::Deadline;

struct HttpReply {
  long status = 0;
  std::string body;
  std::string header_length;  // Inference-Header-Content-Length
  std::string server_timing;
  std::string retry_after;
  bool refused = false;  // the connection was never made: the request did not reach the server
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  const size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

struct Sink {
  HttpReply* reply;
  uint64_t limit;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->reply->body.size() + n > sink->limit) {
    sink->too_large = true;
    return 0;  // aborts the transfer
  }
  sink->reply->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  const std::string line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    const std::string key = lower(trim(line.substr(0, colon)));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "inference-header-content-length")
      reply->header_length = value;
    else if (key == "server-timing")
      reply->server_timing = value;
    else if (key == "retry-after")
      reply->retry_after = value;
  }
  return size * count;
}

// "queue;dur=1.2, compute;dur=3.4" -> the named metric's duration in ms (0 when absent).
double server_timing_ms(const std::string& header, const std::string& metric) {
  size_t at = 0;
  while (at < header.size()) {
    size_t end = header.find(',', at);
    if (end == std::string::npos) end = header.size();
    const std::string entry = trim(header.substr(at, end - at));
    if (entry.compare(0, metric.size(), metric) == 0 &&
        (entry.size() == metric.size() || entry[metric.size()] == ';')) {
      const size_t dur = entry.find("dur=");
      if (dur != std::string::npos) return std::strtod(entry.c_str() + dur + 4, nullptr);
    }
    at = end + 1;
  }
  return 0;
}

int remaining_ms(Deadline deadline) {
  if (deadline == Deadline::max()) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1LL << 30));
}

// The server's {"error": "..."} message, or the start of the body.
std::string error_text(const HttpReply& r) {
  rapidjson::Document doc;
  doc.Parse<oip::kJsonParseFlags>(r.body.data(), r.body.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("error") && doc["error"].IsString()) {
    return doc["error"].GetString();
  }
  return r.body.substr(0, 200);
}

// How a server without the binary extension answers a binary request: 415, or a 400 that says it
// could not read the body (a shape or dtype error must not be sent twice).
bool rejects_binary(const HttpReply& r) {
  if (r.status == 415) return true;
  if (r.status != 400) return false;
  const std::string text = lower(error_text(r));
  for (const char* word : {"json", "parse", "binary", "header", "format", "content-type"}) {
    if (text.find(word) != std::string::npos) return true;
  }
  return false;
}

class OipClient final : public route::RemoteModel {
 public:
  explicit OipClient(route::RemoteOptions o)
      : o_(std::move(o)), breaker_(o_.breaker_failures, std::chrono::milliseconds(o_.breaker_cooldown_ms)) {
    while (!o_.url.empty() && o_.url.back() == '/') o_.url.pop_back();
    model_path_ = "/v2/models/" + escape(o_.model) + (o_.version.empty() ? "" : "/versions/" + escape(o_.version));
    binary_ = o_.binary;
  }

  ~OipClient() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  std::string describe() const override {
    return o_.url + " model '" + o_.model + "'" + (o_.version.empty() ? "" : " version " + o_.version);
  }

  route::RemoteHealth health() const override { return breaker_.health(); }

  Result<route::RemoteSignature> metadata(Deadline deadline) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (signature_) return *signature_;
    }
    if (!breaker_.allow()) return unavailable(breaker_.health().reason);
    auto sig = guarded([&] { return fetch_metadata(deadline); });
    if (!sig.is_ok()) {
      breaker_.record_failure(sig.status().message());
      return sig.status();
    }
    breaker_.record_success();
    std::lock_guard<std::mutex> lock(mutex_);
    signature_ = *sig;
    return *signature_;
  }

  Result<NamedValues> infer(const NamedValues& feeds, Deadline deadline, route::RemoteTimings* timings) override {
    if (deadline == Deadline::max()) deadline = Clock::now() + std::chrono::milliseconds(o_.timeout_ms);
    TANDEM_ASSIGN_OR_RETURN(route::RemoteSignature sig, metadata(deadline));
    TANDEM_RETURN_IF_ERROR(check_feeds(sig, feeds));
    if (!breaker_.allow()) return unavailable(breaker_.health().reason);
    const auto start = Clock::now();
    route::RemoteTimings t;
    auto out = guarded([&] { return infer_once(sig, feeds, deadline, &t); });
    t.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    t.network_ms = std::max(0.0, t.total_ms - t.queue_ms - t.compute_ms);
    if (timings != nullptr) *timings = t;
    if (out.is_ok()) {
      breaker_.record_success();
    } else if (out.status().code() == StatusCode::kInvalidArgument) {
      breaker_.record_neutral();  // the request was wrong, the server was fine
    } else {
      breaker_.record_failure(out.status().message());
    }
    return out;
  }

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }

  // RapidJSON reports misuse by throwing (backends/remote/json.h); nothing throws past the client.
  template <typename F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) {
      return unavailable(describe() + ": malformed answer (" + e.what() + ")");
    }
  }

  CURL* acquire() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void release(CURL* h) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < 8) {
      idle_.push_back(h);  // keeps its connection alive for the next call
    } else {
      curl_easy_cleanup(h);
    }
  }

  // One HTTP exchange. Transport errors become a Status; any HTTP status is a reply.
  Result<HttpReply> exchange(const char* method, const std::string& path, const std::string* body,
                             const std::string& header_length, Deadline deadline) {
    const int left = remaining_ms(deadline);
    if (left == 0) return deadline_exceeded("the deadline passed before " + describe() + " was called");
    CURL* h = acquire();
    if (h == nullptr) return internal_error("curl_easy_init failed");
    curl_easy_reset(h);
    HttpReply reply;
    Sink sink{&reply, o_.max_response_bytes};
    const std::string url = o_.url + path;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(left < 0 ? o_.connect_timeout_ms : std::min(left, o_.connect_timeout_ms)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(left < 0 ? o_.timeout_ms : std::max(left, 1)));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply);
    if (!o_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o_.ca_file.c_str());
    if (!o_.client_cert_file.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, o_.client_cert_file.c_str());
    if (!o_.client_key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, o_.client_key_file.c_str());
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before a body
    std::string auth, hlen;
    if (!o_.api_key.empty()) {
      auth = "Authorization: Bearer " + o_.api_key;
      headers = curl_slist_append(headers, auth.c_str());
    }
    if (body != nullptr) {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      if (!header_length.empty()) {
        hlen = "Inference-Header-Content-Length: " + header_length;
        headers = curl_slist_append(headers, hlen.c_str());
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      } else {
        headers = curl_slist_append(headers, "Content-Type: application/json");
      }
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_slist_free_all(headers);
    release(h);
    if (rc == CURLE_OK) return reply;
    const std::string where = describe() + ": ";
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST: {
        Status st = unavailable(where + "cannot connect (" + curl_easy_strerror(rc) + "); is the server running?");
        if (rc == CURLE_COULDNT_CONNECT) return Result<HttpReply>(HttpReply{0, st.message(), "", "", "", true});
        return st;
      }
      case CURLE_OPERATION_TIMEDOUT:
        return deadline_exceeded(where + "no answer within the deadline (" + std::to_string(std::max(left, 0)) +
                                 " ms)");
      case CURLE_WRITE_ERROR:
        if (sink.too_large) {
          return unavailable(where + "the response is larger than the limit of " +
                             std::to_string(o_.max_response_bytes) + " bytes");
        }
        break;
      case CURLE_PARTIAL_FILE:
        return unavailable(where + "the response was cut short (" + std::to_string(reply.body.size()) +
                           " bytes arrived); the server or the connection failed mid-answer");
      case CURLE_WEIRD_SERVER_REPLY:
      case CURLE_GOT_NOTHING:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return unavailable(where + "not an HTTP answer (" + curl_easy_strerror(rc) +
                           "); is this an Open Inference Protocol v2 server?");
      default:
        break;
    }
    return unavailable(where + curl_easy_strerror(rc));
  }

  // Retries only what provably did not run the model: a refused connection, and 503/429 (the
  // server turned the request away before queuing it). Backoff doubles from 50 ms, with jitter,
  // never past the deadline.
  Result<HttpReply> exchange_with_retries(const char* method, const std::string& path, const std::string* body,
                                          const std::string& header_length, Deadline deadline, int* attempts) {
    thread_local std::minstd_rand jitter(std::random_device{}());
    for (int attempt = 0;; ++attempt) {
      ++*attempts;
      auto r = exchange(method, path, body, header_length, deadline);
      const bool retryable = r.is_ok() && (r->refused || r->status == 503 || r->status == 429);
      if (!retryable || attempt >= o_.retries) {
        if (r.is_ok() && r->refused) return unavailable(r->body);
        return r;
      }
      int wait_ms = 50 << attempt;
      wait_ms += static_cast<int>(jitter() % static_cast<unsigned>(wait_ms / 2 + 1));
      const int left = remaining_ms(deadline);
      if (left >= 0 && wait_ms >= left) {
        if (r->refused) return unavailable(r->body);
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
  }

  Status http_error(const HttpReply& r) const {
    const std::string msg = describe() + " answered HTTP " + std::to_string(r.status) + ": " + error_text(r);
    if (r.status == 400) return invalid_argument(msg);
    if (r.status == 404) return not_found(msg);
    if (r.status == 413) return out_of_memory(msg);
    if (r.status == 504 || r.status == 408) return deadline_exceeded(msg);
    return unavailable(msg);
  }

  Result<route::RemoteSignature> fetch_metadata(Deadline deadline) {
    if (deadline == Deadline::max()) deadline = Clock::now() + std::chrono::milliseconds(o_.timeout_ms);
    int attempts = 0;
    TANDEM_ASSIGN_OR_RETURN(HttpReply r, exchange_with_retries("GET", model_path_, nullptr, "", deadline, &attempts));
    if (r.status != 200) return http_error(r);
    rapidjson::Document doc;
    doc.Parse<oip::kJsonParseFlags>(r.body.data(), r.body.size());
    const std::string bad = describe() + ": the model metadata is not Open Inference Protocol v2 JSON";
    if (doc.HasParseError() || !doc.IsObject()) return unavailable(bad);
    const rapidjson::Value& root = doc;  // const: C++20 finds rapidjson's == on const iterators unambiguous
    route::RemoteSignature sig;
    for (const char* key : {"inputs", "outputs"}) {
      auto it = root.FindMember(key);
      if (it == root.MemberEnd() || !it->value.IsArray()) return unavailable(bad + " (no \"" + key + "\" array)");
      for (const auto& t : it->value.GetArray()) {
        if (!t.IsObject() || !t.HasMember("name") || !t["name"].IsString() || !t.HasMember("datatype") ||
            !t["datatype"].IsString() || !t.HasMember("shape") || !t["shape"].IsArray()) {
          return unavailable(bad + " (a tensor lacks name, datatype or shape)");
        }
        auto dtype = oip::dtype_from_oip(t["datatype"].GetString());
        if (!dtype) return unsupported(describe() + ": datatype " + t["datatype"].GetString() + " is not supported");
        std::vector<graph::Dim> dims;
        for (const auto& d : t["shape"].GetArray()) {
          if (!d.IsInt64()) return unavailable(bad + " (a shape holds a non-integer)");
          dims.push_back(d.GetInt64() >= 0 ? graph::Dim::of(d.GetInt64()) : graph::Dim{});
        }
        graph::TypeInfo type;
        type.kind = graph::TypeInfo::Kind::kTensor;
        type.dtype = *dtype;
        type.has_shape = true;
        type.dims = std::move(dims);
        (std::string_view(key) == "inputs" ? sig.inputs : sig.outputs).push_back({t["name"].GetString(), type});
      }
    }
    return sig;
  }

  static Status check_feeds(const route::RemoteSignature& sig, const NamedValues& feeds) {
    for (const ValueInfo& in : sig.inputs) {
      int found = 0;
      for (const auto& [name, value] : feeds) {
        if (name != in.name) continue;
        ++found;
        if (!value.is_tensor()) return invalid_argument("input '" + name + "' must be a tensor for a remote call");
        const Tensor& t = value.tensor();
        if (t.dtype() != in.type.dtype) {
          return invalid_argument("input '" + name + "' expects dtype " + dtype_name(in.type.dtype) + " but got " +
                                  dtype_name(t.dtype()));
        }
        bool ok = t.rank() == in.type.dims.size();
        for (size_t d = 0; ok && d < in.type.dims.size(); ++d) {
          ok = !in.type.dims[d].known() || in.type.dims[d].value == t.dim(d);
        }
        if (!ok) {
          return invalid_argument("input '" + name + "' expects shape " + in.type.to_string() + " but got " +
                                  shape_to_string(t.shape()));
        }
      }
      if (found == 0) return invalid_argument("input '" + in.name + "' is missing");
      if (found > 1) return invalid_argument("input '" + in.name + "' is given twice");
    }
    if (feeds.size() != sig.inputs.size()) {
      for (const auto& f : feeds) {
        const bool known =
            std::any_of(sig.inputs.begin(), sig.inputs.end(), [&](const ValueInfo& in) { return in.name == f.first; });
        if (!known) return invalid_argument("the model has no input named '" + f.first + "'");
      }
    }
    return Status::ok();
  }

  // The request body: the JSON header, then (binary) every input's raw bytes in order.
  static std::string encode(const route::RemoteSignature& sig, const NamedValues& feeds, bool binary, int timeout_us,
                            size_t* header_length) {
    rapidjson::StringBuffer sb;
    oip::JsonWriter w(sb);
    std::string raw;
    w.StartObject();
    if (timeout_us > 0) {
      w.Key("parameters");
      w.StartObject();
      w.Key("timeout");  // Triton's request timeout, in microseconds: late work is dropped server-side
      w.Int64(timeout_us);
      w.EndObject();
    }
    w.Key("inputs");
    w.StartArray();
    for (const auto& [name, value] : feeds) {
      const Tensor& t = value.tensor();
      w.StartObject();
      w.Key("name");
      w.String(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
      w.Key("datatype");
      w.String(oip::oip_datatype(t.dtype()));
      w.Key("shape");
      w.StartArray();
      for (int64_t d : t.shape()) w.Int64(d);
      w.EndArray();
      if (binary) {
        const std::string bytes = oip::to_binary(t);
        w.Key("parameters");
        w.StartObject();
        w.Key("binary_data_size");
        w.Uint64(bytes.size());
        w.EndObject();
        raw += bytes;
      } else {
        w.Key("data");
        oip::write_json_data(t, w);
      }
      w.EndObject();
    }
    w.EndArray();
    w.Key("outputs");
    w.StartArray();
    for (const ValueInfo& out : sig.outputs) {
      w.StartObject();
      w.Key("name");
      w.String(out.name.c_str(), static_cast<rapidjson::SizeType>(out.name.size()));
      w.Key("parameters");
      w.StartObject();
      w.Key("binary_data");
      w.Bool(binary);
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::string body(sb.GetString(), sb.GetSize());
    *header_length = binary ? body.size() : 0;
    body += raw;
    return body;
  }

  Result<NamedValues> decode(const route::RemoteSignature& sig, const HttpReply& r) const {
    const std::string bad = describe() + ": the answer is not an Open Inference Protocol v2 inference response";
    size_t json_size = r.body.size();
    if (!r.header_length.empty()) {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(r.header_length.c_str(), &end, 10);
      if (*end != '\0' || n > r.body.size())
        return unavailable(bad + " (Inference-Header-Content-Length runs past the body)");
      json_size = static_cast<size_t>(n);
    }
    rapidjson::Document doc;
    doc.Parse<oip::kJsonParseFlags>(r.body.data(), json_size);
    if (doc.HasParseError() || !doc.IsObject()) return unavailable(bad + " (not JSON)");
    const rapidjson::Value& root = doc;
    auto outs = root.FindMember("outputs");
    if (outs == root.MemberEnd() || !outs->value.IsArray()) return unavailable(bad + " (no \"outputs\" array)");
    std::string_view binary(r.body.data() + json_size, r.body.size() - json_size);
    NamedValues by_name;
    for (const auto& o : outs->value.GetArray()) {
      if (!o.IsObject() || !o.HasMember("name") || !o["name"].IsString() || !o.HasMember("datatype") ||
          !o["datatype"].IsString() || !o.HasMember("shape")) {
        return unavailable(bad + " (an output lacks name, datatype or shape)");
      }
      const std::string name = o["name"].GetString();
      auto dtype = oip::dtype_from_oip(o["datatype"].GetString());
      if (!dtype) return unavailable(bad + " (output '" + name + "' has an unknown datatype)");
      TANDEM_ASSIGN_OR_RETURN(Shape shape, oip::shape_from_json(o["shape"]));
      const rapidjson::Value* size = nullptr;
      if (auto p = o.FindMember("parameters"); p != o.MemberEnd() && p->value.IsObject()) {
        if (auto s = p->value.FindMember("binary_data_size"); s != p->value.MemberEnd()) size = &s->value;
      }
      Result<Tensor> t = internal_error("unset");
      if (size != nullptr) {
        if (!size->IsUint64() || size->GetUint64() > binary.size()) {
          return unavailable(bad + " (output '" + name +
                             "' claims more binary data than the answer holds: truncated?)");
        }
        const size_t n = static_cast<size_t>(size->GetUint64());
        t = oip::tensor_from_binary(*dtype, shape, binary.substr(0, n));
        binary.remove_prefix(n);
      } else if (o.HasMember("data")) {
        t = oip::tensor_from_json(*dtype, shape, o["data"]);
      } else {
        return unavailable(bad + " (output '" + name + "' has neither data nor binary_data_size)");
      }
      if (!t.is_ok()) return unavailable(bad + " (output '" + name + "': " + t.status().message() + ")");
      by_name.emplace_back(name, Value(std::move(t).value()));
    }
    NamedValues ordered;
    for (const ValueInfo& want : sig.outputs) {
      auto it = std::find_if(by_name.begin(), by_name.end(), [&](const auto& v) { return v.first == want.name; });
      if (it == by_name.end()) return unavailable(bad + " (output '" + want.name + "' is missing)");
      ordered.push_back(std::move(*it));
    }
    return ordered;
  }

  Result<HttpReply> post_infer(const route::RemoteSignature& sig, const NamedValues& feeds, bool binary,
                               Deadline deadline, route::RemoteTimings* t) {
    const int left = remaining_ms(deadline);
    size_t hlen = 0;
    const std::string body = encode(sig, feeds, binary, left > 0 ? left * 1000 : 0, &hlen);
    TANDEM_ASSIGN_OR_RETURN(
        HttpReply r, exchange_with_retries("POST", model_path_ + "/infer", &body, binary ? std::to_string(hlen) : "",
                                           deadline, &t->attempts));
    t->binary = binary;
    t->queue_ms = server_timing_ms(r.server_timing, "queue");
    t->compute_ms = server_timing_ms(r.server_timing, "compute");
    return r;
  }

  Result<NamedValues> infer_once(const route::RemoteSignature& sig, const NamedValues& feeds, Deadline deadline,
                                 route::RemoteTimings* t) {
    bool binary;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      binary = binary_;
    }
    TANDEM_ASSIGN_OR_RETURN(HttpReply r, post_infer(sig, feeds, binary, deadline, t));
    if (r.status == 200) return decode(sig, r);
    if (!binary || !rejects_binary(r)) return http_error(r);
    // A server without the binary extension rejects the request before running it: say it once
    // more in JSON, and keep to JSON with this server when that works.
    TANDEM_ASSIGN_OR_RETURN(HttpReply json, post_infer(sig, feeds, false, deadline, t));
    if (json.status != 200) return http_error(json);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      binary_ = false;
    }
    return decode(sig, json);
  }

  route::RemoteOptions o_;
  std::string model_path_;
  CircuitBreaker breaker_;
  std::mutex mutex_;
  std::vector<CURL*> idle_;
  std::optional<route::RemoteSignature> signature_;
  bool binary_ = true;
};

}  // namespace

Result<std::shared_ptr<route::RemoteModel>> make_oip_client(const route::RemoteOptions& options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return invalid_argument("remote URL '" + options.url + "' must start with http:// or https://");
  }
  if (options.model.empty()) return invalid_argument("the remote needs the model's name on the server");
  static std::once_flag once;
  static CURLcode init = CURLE_OK;
  std::call_once(once, [] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init != CURLE_OK) return internal_error(std::string("curl_global_init failed: ") + curl_easy_strerror(init));
  return std::shared_ptr<route::RemoteModel>(std::make_shared<OipClient>(options));
}

}  // namespace tandem::remote
