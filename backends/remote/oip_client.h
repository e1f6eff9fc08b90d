// An Open Inference Protocol v2 client over libcurl: the native remote side of a HybridSession.
// Works against tandem serve and any OIP v2 server (Triton, KServe): binary tensor extension by
// default with a JSON fallback, connection reuse (a pool of curl handles, one per concurrent
// call), per-call deadlines, retries with backoff only where the model provably did not run, a
// circuit breaker, API keys and TLS (also mutual).
#pragma once

#include <memory>

#include "core/route/remote.h"

namespace tandem::remote {

// Makes the client; contacts nothing until the first call.
Result<std::shared_ptr<route::RemoteModel>> make_oip_client(const route::RemoteOptions& options);

}  // namespace tandem::remote
