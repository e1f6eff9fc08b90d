#include "native/serve/grpc/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "backends/remote/oip_codec.h"
#include "core/model/onnx_reader.h"
#include "grpc_predict_v2.grpc.pb.h"
#include "native/serve/oip.h"

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "0.0.0"
#endif

namespace tandem::serve {
// The OIP v2 wire format, shared with the remote client (backends/remote).
using namespace ::tandem::oip;  // NOLINT(google-build-using-namespace)
namespace {

using grpc::StatusCode;
using inference::InferTensorContents;

// Core status to gRPC: the caller's fault, missing things, not ready, too big, ours.
grpc::Status to_grpc(const Status& st) {
  switch (st.code()) {
    case tandem::StatusCode::kOk:
      return grpc::Status::OK;
    case tandem::StatusCode::kInvalidArgument:
      return {StatusCode::INVALID_ARGUMENT, st.message()};
    case tandem::StatusCode::kNotFound:
      return {StatusCode::NOT_FOUND, st.message()};
    case tandem::StatusCode::kUnavailable:
      return {StatusCode::UNAVAILABLE, st.message()};
    case tandem::StatusCode::kDeadlineExceeded:
      return {StatusCode::DEADLINE_EXCEEDED, st.message()};
    case tandem::StatusCode::kOutOfMemory:
      return {StatusCode::RESOURCE_EXHAUSTED, st.message()};
    default:
      return {StatusCode::INTERNAL, st.message()};
  }
}

grpc::Status invalid(const std::string& message) { return {StatusCode::INVALID_ARGUMENT, message}; }

template <typename T, typename Src>
Result<Tensor> typed_ints(DType dtype, const Shape& shape, const Src& src) {
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  T* out = t.data<T>();
  for (int i = 0; i < src.size(); ++i) {
    const auto v = src.Get(i);
    if (v < static_cast<decltype(v)>(std::numeric_limits<T>::min()) ||
        v > static_cast<decltype(v)>(std::numeric_limits<T>::max())) {
      return invalid_argument("element " + std::to_string(i) + " (" + std::to_string(v) + ") is not a valid " +
                              oip_datatype(dtype));
    }
    out[i] = static_cast<T>(v);
  }
  return t;
}

// Typed contents to a tensor: the field that goes with the datatype, exactly numel elements.
Result<Tensor> tensor_from_contents(DType dtype, const Shape& shape, const InferTensorContents& c) {
  const int64_t n = shape_numel(shape);
  int64_t have = 0;
  const char* field = "";
  switch (dtype) {
    case DType::kBool:
      have = c.bool_contents_size(), field = "bool_contents";
      break;
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
      have = c.int_contents_size(), field = "int_contents";
      break;
    case DType::kInt64:
      have = c.int64_contents_size(), field = "int64_contents";
      break;
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
      have = c.uint_contents_size(), field = "uint_contents";
      break;
    case DType::kUInt64:
      have = c.uint64_contents_size(), field = "uint64_contents";
      break;
    case DType::kFloat32:
      have = c.fp32_contents_size(), field = "fp32_contents";
      break;
    case DType::kFloat64:
      have = c.fp64_contents_size(), field = "fp64_contents";
      break;
    case DType::kString:
      have = c.bytes_contents_size(), field = "bytes_contents";
      break;
    default:
      return invalid_argument(std::string(oip_datatype(dtype) ? oip_datatype(dtype) : "this datatype") +
                              " has no typed contents: send it in raw_input_contents");
  }
  if (have != n) {
    return invalid_argument(std::string(field) + " has " + std::to_string(have) + " elements but shape " +
                            shape_to_string(shape) + " needs " + std::to_string(n));
  }
  switch (dtype) {
    case DType::kBool: {
      TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
      for (int64_t i = 0; i < n; ++i) t.data<bool>()[i] = c.bool_contents(static_cast<int>(i));
      return t;
    }
    case DType::kInt8:
      return typed_ints<int8_t>(dtype, shape, c.int_contents());
    case DType::kInt16:
      return typed_ints<int16_t>(dtype, shape, c.int_contents());
    case DType::kInt32:
      return typed_ints<int32_t>(dtype, shape, c.int_contents());
    case DType::kInt64:
      return typed_ints<int64_t>(dtype, shape, c.int64_contents());
    case DType::kUInt8:
      return typed_ints<uint8_t>(dtype, shape, c.uint_contents());
    case DType::kUInt16:
      return typed_ints<uint16_t>(dtype, shape, c.uint_contents());
    case DType::kUInt32:
      return typed_ints<uint32_t>(dtype, shape, c.uint_contents());
    case DType::kUInt64:
      return typed_ints<uint64_t>(dtype, shape, c.uint64_contents());
    case DType::kFloat32: {
      TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
      if (n > 0) std::memcpy(t.raw_data(), c.fp32_contents().data(), static_cast<size_t>(n) * sizeof(float));
      return t;
    }
    case DType::kFloat64: {
      TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
      if (n > 0) std::memcpy(t.raw_data(), c.fp64_contents().data(), static_cast<size_t>(n) * sizeof(double));
      return t;
    }
    default: {  // kString
      std::vector<std::string> strings(c.bytes_contents().begin(), c.bytes_contents().end());
      return Tensor::from_strings(shape, std::move(strings));
    }
  }
}

// Whether a tensor of this dtype has a typed contents field (FP16 and BF16 travel raw only).
bool has_typed_contents(DType dtype) {
  return dtype != DType::kFloat16 && dtype != DType::kBFloat16 && oip_datatype(dtype) != nullptr;
}

template <typename T, typename Dst>
void put_ints(const Tensor& t, Dst* dst) {
  dst->Reserve(static_cast<int>(t.numel()));
  for (T v : t.span<T>()) dst->Add(v);
}

void tensor_to_contents(const Tensor& t, InferTensorContents* c) {
  switch (t.dtype()) {
    case DType::kBool:
      for (bool v : t.span<bool>()) c->add_bool_contents(v);
      break;
    case DType::kInt8:
      put_ints<int8_t>(t, c->mutable_int_contents());
      break;
    case DType::kInt16:
      put_ints<int16_t>(t, c->mutable_int_contents());
      break;
    case DType::kInt32:
      put_ints<int32_t>(t, c->mutable_int_contents());
      break;
    case DType::kInt64:
      put_ints<int64_t>(t, c->mutable_int64_contents());
      break;
    case DType::kUInt8:
      put_ints<uint8_t>(t, c->mutable_uint_contents());
      break;
    case DType::kUInt16:
      put_ints<uint16_t>(t, c->mutable_uint_contents());
      break;
    case DType::kUInt32:
      put_ints<uint32_t>(t, c->mutable_uint_contents());
      break;
    case DType::kUInt64:
      put_ints<uint64_t>(t, c->mutable_uint64_contents());
      break;
    case DType::kFloat32:
      c->mutable_fp32_contents()->Add(t.span<float>().begin(), t.span<float>().end());
      break;
    case DType::kFloat64:
      c->mutable_fp64_contents()->Add(t.span<double>().begin(), t.span<double>().end());
      break;
    case DType::kString:
      for (const std::string& s : t.strings()) c->add_bytes_contents(s);
      break;
    default:
      break;  // not reached: has_typed_contents() is checked first
  }
}

void fill_tensor_meta(const ValueInfo& v, inference::ModelMetadataResponse::TensorMetadata* m) {
  m->set_name(v.name);
  const char* dt = oip_datatype(v.type.dtype);
  m->set_datatype(dt != nullptr ? dt : "");
  if (v.type.has_shape) {
    for (const auto& d : v.type.dims) m->add_shape(d.known() ? d.value : -1);
  }
}

}  // namespace

struct GrpcServer::Impl final : inference::GRPCInferenceService::CallbackService {
  Impl(Repository* repository, Metrics* metrics, const Auth* auth)
      : repository_(repository), metrics_(metrics), auth_(auth) {}

  // Health stays open without a key (as /v2/health/*): load balancers and kubelets probe it.
  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* resp) override {
    resp->set_live(true);
    return finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* resp) override {
    resp->set_ready(ready_.load() && repository_->not_ready_reason().empty());
    return finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* resp) override {
    if (!allowed(ctx)) return finish(ctx, unauthenticated());
    if (!valid_model_name(req->name())) return finish(ctx, invalid("invalid model name"));
    auto found = repository_->find(req->name(), req->version());
    // Unknown: NOT_FOUND (REST 404); known but not loaded: ready = false (REST 503).
    if (!found.is_ok() && found.status().code() != tandem::StatusCode::kUnavailable) {
      return finish(ctx, to_grpc(found.status()));
    }
    resp->set_ready(found.is_ok());
    return finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* resp) override {
    if (!allowed(ctx)) return finish(ctx, unauthenticated());
    resp->set_name("tandem");
    resp->set_version(TANDEM_VERSION);
    for (const char* e : {"binary_tensor_data", "model_repository", "statistics"}) resp->add_extensions(e);
    return finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* resp) override {
    if (!allowed(ctx)) return finish(ctx, unauthenticated());
    if (!valid_model_name(req->name())) return finish(ctx, invalid("invalid model name"));
    auto found = repository_->find(req->name(), req->version());
    if (!found.is_ok()) return finish(ctx, to_grpc(found.status()));
    const ModelVersion& mv = **found;
    resp->set_name(req->name());
    if (!req->version().empty()) {
      resp->add_versions(mv.version_str);
    } else {
      for (const auto& v : repository_->versions(req->name())) resp->add_versions(v->version_str);
    }
    resp->set_platform("onnx");
    for (const auto& v : mv.inputs) fill_tensor_meta(v, resp->add_inputs());
    for (const auto& v : mv.outputs) fill_tensor_meta(v, resp->add_outputs());
    return finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    try {
      infer(ctx, req, resp, reactor);
    } catch (const std::exception& e) {
      // Only reached before a request is queued; the queued path answers from the job.
      reactor->Finish({StatusCode::INTERNAL, std::string("internal error: ") + e.what()});
    }
    return reactor;
  }

  void infer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
             inference::ModelInferResponse* resp, grpc::ServerUnaryReactor* reactor) {
    const Clock::time_point received = Clock::now();
    if (!allowed(ctx)) return reactor->Finish(unauthenticated());
    const std::string& model = req->model_name();
    if (!valid_model_name(model)) return reactor->Finish(invalid("invalid model name"));
    auto found = repository_->find(model, req->model_version());
    if (!found.is_ok()) return reactor->Finish(to_grpc(found.status()));
    std::shared_ptr<ModelVersion> mv = std::move(found).value();
    Metrics* metrics = metrics_;
    const std::string vs = mv->version_str;
    auto fail = [&](const grpc::Status& status) {
      metrics->record_request(model, vs, false, 0, 0, 0);
      reactor->Finish(status);
    };

    // raw_input_contents: one entry per input, and then no input may carry typed contents.
    const bool raw = req->raw_input_contents_size() > 0;
    if (raw && req->raw_input_contents_size() != req->inputs_size()) {
      return fail(invalid("raw_input_contents has " + std::to_string(req->raw_input_contents_size()) + " entries for " +
                          std::to_string(req->inputs_size()) + " inputs"));
    }
    NamedValues feeds;
    std::set<std::string> seen;
    bool typed_output = !raw;
    for (int i = 0; i < req->inputs_size(); ++i) {
      const auto& in = req->inputs(i);
      const std::string& n = in.name();
      if (!seen.insert(n).second) return fail(invalid("input '" + n + "' is given twice"));
      DType dtype = DType::kUndefined;
      if (Status st = check_input(*mv, n, in.datatype(), &dtype); !st.is_ok()) return fail(to_grpc(st));
      Shape shape;
      for (int64_t d : in.shape()) {
        if (d < 0) return fail(invalid("input '" + n + "': \"shape\" must hold non-negative integers"));
        shape.push_back(d);
      }
      if (shape_numel(shape) < 0)
        return fail(invalid("input '" + n + "': shape " + shape_to_string(shape) + " is too large"));
      if (Status st = check_input_shape(*mv, n, shape); !st.is_ok()) return fail(to_grpc(st));
      Result<Tensor> t = internal_error("unset");
      if (raw) {
        if (in.has_contents()) {
          return fail(invalid("input '" + n + "' has typed contents, but the request uses raw_input_contents"));
        }
        t = tensor_from_binary(dtype, shape, req->raw_input_contents(i));
      } else {
        t = tensor_from_contents(dtype, shape, in.contents());
      }
      if (!t.is_ok()) {
        const Status& e = t.status();
        return fail(to_grpc(Status(e.code(), "input '" + n + "': " + e.message())));
      }
      if (!has_typed_contents(dtype)) typed_output = false;
      feeds.emplace_back(n, Value(std::move(t).value()));
    }
    for (const auto& v : mv->inputs) {
      if (!seen.count(v.name)) return fail(invalid("input '" + v.name + "' is missing"));
    }
    std::vector<std::string> outputs;
    for (const auto& o : req->outputs()) {
      if (std::none_of(mv->outputs.begin(), mv->outputs.end(),
                       [&](const ValueInfo& v) { return v.name == o.name(); })) {
        return fail(invalid("model '" + model + "' has no output '" + o.name() + "'"));
      }
      outputs.push_back(o.name());
    }
    if (outputs.empty()) {
      for (const auto& v : mv->outputs) outputs.push_back(v.name);
    }

    // The call's deadline is the queue deadline: still waiting then, it is dropped unrun. So is
    // Triton's "timeout" request parameter (microseconds), whichever comes first.
    Job job;
    job.enqueued = Clock::now();
    const auto deadline = ctx->deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      const auto left = deadline - std::chrono::system_clock::now();
      job.deadline = job.enqueued + std::chrono::duration_cast<Clock::duration>(
                                        std::min<std::chrono::system_clock::duration>(left, kMaxQueueDeadline));
    }
    if (const auto t = req->parameters().find("timeout"); t != req->parameters().end()) {
      const auto& p = t->second;
      int64_t us = -1;
      if (p.parameter_choice_case() == inference::InferParameter::kInt64Param) us = p.int64_param();
      if (us < 0) return fail(invalid("parameter \"timeout\" (microseconds) must be a whole number"));
      const auto until =
          job.enqueued + std::min<std::chrono::microseconds>(std::chrono::microseconds(us), kMaxQueueDeadline);
      job.deadline = std::min(job.deadline, until);
    }
    job.feeds = std::move(feeds);
    resp->set_model_name(model);
    resp->set_model_version(vs);
    resp->set_id(req->id());
    // The callback holds what it needs, never the ModelVersion (see Job::done). `resp` and
    // `reactor` live until Finish.
    job.done = [metrics, reactor, resp, received, model, vs, typed_output, outputs = std::move(outputs)](JobResult r) {
      grpc::Status status = grpc::Status::OK;
      try {
        if (r.outcome == JobOutcome::kDeadline) {
          status = {StatusCode::DEADLINE_EXCEEDED, r.outputs.status().message()};
        } else if (!r.outputs.is_ok()) {
          status = to_grpc(r.outputs.status());
        } else {
          status = encode(*r.outputs, outputs, typed_output, resp);
        }
      } catch (const std::exception& e) {
        status = {StatusCode::INTERNAL, std::string("encoding the response failed: ") + e.what()};
      }
      const uint64_t total_ns =
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - received).count());
      metrics->record_request(model, vs, status.ok(), total_ns, r.queue_ns, r.compute_ns);
      reactor->Finish(status);
    };
    Status st = mv->scheduler->submit(std::move(job));
    if (!st.is_ok() && mv->scheduler->stopping()) {
      // Reloaded between the lookup and now: the new instance takes the request.
      auto again = repository_->find(model, req->model_version());
      if (again.is_ok() && *again != mv) {
        mv = *again;
        st = mv->scheduler->submit(std::move(job));
      }
    }
    if (!st.is_ok()) {
      // A full queue is backpressure (retry later); a stopping one means the model is going away.
      return fail({mv->scheduler->stopping() ? StatusCode::UNAVAILABLE : StatusCode::RESOURCE_EXHAUSTED, st.message()});
    }
  }

  // Outputs in the requested order: raw_output_contents unless every input came as typed
  // contents and every output has a typed field (the answer mirrors the request).
  static grpc::Status encode(const NamedValues& values, const std::vector<std::string>& names, bool typed,
                             inference::ModelInferResponse* resp) {
    std::vector<const Tensor*> tensors;
    for (const std::string& name : names) {
      auto it = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == name; });
      if (it == values.end() || !it->second.is_tensor()) {
        return {StatusCode::INTERNAL, "output '" + name + "' was not produced as a tensor"};
      }
      const Tensor& t = it->second.tensor();
      if (oip_datatype(t.dtype()) == nullptr) {
        return {StatusCode::INTERNAL, "output '" + name + "' has a datatype OIP cannot carry"};
      }
      if (!has_typed_contents(t.dtype())) typed = false;
      tensors.push_back(&t);
    }
    for (size_t i = 0; i < names.size(); ++i) {
      const Tensor& t = *tensors[i];
      auto* out = resp->add_outputs();
      out->set_name(names[i]);
      out->set_datatype(oip_datatype(t.dtype()));
      for (int64_t d : t.shape()) out->add_shape(d);
      if (typed) {
        tensor_to_contents(t, out->mutable_contents());
      } else {
        resp->add_raw_output_contents(to_binary(t));
      }
    }
    return grpc::Status::OK;
  }

  bool allowed(grpc::CallbackServerContext* ctx) const {
    if (!auth_->enabled()) return true;
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    if (it == md.end()) return auth_->allows(nullptr);
    const std::string value(it->second.data(), it->second.size());
    return auth_->allows(&value);
  }

  static grpc::Status unauthenticated() {
    return {StatusCode::UNAUTHENTICATED, "missing or invalid API key (metadata authorization: Bearer <key>)"};
  }

  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  Repository* repository_;
  Metrics* metrics_;
  const Auth* auth_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<grpc::Server> server;
  std::thread stopper;
  std::mutex stop_mu;
  bool stopping = false;
};

GrpcServer::GrpcServer(GrpcOptions options, Repository* repository, Metrics* metrics, const Auth* auth)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(repository, metrics, auth)) {}

GrpcServer::~GrpcServer() {
  begin_shutdown(std::chrono::milliseconds(0));
  wait();
}

Status GrpcServer::start() {
  grpc::ServerBuilder builder;
  // IPv6 literals need brackets in a gRPC address.
  const std::string host = options_.host.find(':') != std::string::npos && options_.host.front() != '['
                               ? "[" + options_.host + "]"
                               : options_.host;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    // Read once here so that a missing or empty file fails the start with its name (the HTTP
    // port has already checked that they are a usable pair).
    for (const std::string* file : {&options_.tls_cert_file, &options_.tls_key_file, &options_.tls_client_ca_file}) {
      if (file->empty() && file == &options_.tls_client_ca_file) continue;
      auto bytes = tandem::model::read_file(*file);
      if (!bytes.is_ok() || bytes->empty()) {
        return invalid_argument("gRPC: cannot read the TLS file '" + *file +
                                "': " + (bytes.is_ok() ? "it is empty" : bytes.status().message()));
      }
    }
    // gRPC's file watcher re-reads the files every second, so rotated certificates (cert-manager,
    // Kubernetes Secret volumes) take effect for new connections without a restart, as on the
    // HTTP port. It wants the key and certificate replaced together (both are in a Secret).
    constexpr unsigned kRefreshSeconds = 1;
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options_.tls_key_file, options_.tls_cert_file, options_.tls_client_ca_file, kRefreshSeconds);
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (!options_.tls_client_ca_file.empty()) {
      tls.watch_root_certs();
      tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    credentials = grpc::experimental::TlsServerCredentials(tls);
  }
  int selected = 0;
  builder.AddListeningPort(host + ":" + std::to_string(options_.port), credentials, &selected);
  builder.RegisterService(impl_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(options_.max_message_bytes, INT_MAX)));
  builder.SetMaxSendMessageSize(INT_MAX);
  impl_->server = builder.BuildAndStart();
  if (impl_->server == nullptr || selected == 0) {
    impl_->server.reset();
    return Status(tandem::StatusCode::kUnavailable,
                  "gRPC: cannot listen on " + host + ":" + std::to_string(options_.port));
  }
  port_ = static_cast<uint16_t>(selected);
  return Status::ok();
}

void GrpcServer::set_ready(bool ready) { impl_->ready_ = ready; }

void GrpcServer::begin_shutdown(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopping || impl_->server == nullptr) return;
  impl_->stopping = true;
  const auto deadline = std::chrono::system_clock::now() + grace;
  impl_->stopper = std::thread([server = impl_->server.get(), deadline] { server->Shutdown(deadline); });
}

void GrpcServer::wait() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopper.joinable()) impl_->stopper.join();
}

}  // namespace tandem::serve
