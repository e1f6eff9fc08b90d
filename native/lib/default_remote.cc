// The target's remote client: libcurl natively (backends/remote); none in builds without it (the
// browser build routes remote calls through fetch in web/).
#include "core/route/remote.h"
#if TANDEM_HAS_REMOTE
#include "backends/remote/oip_client.h"
#endif

namespace tandem::route {

Result<std::shared_ptr<RemoteModel>> connect_remote(const RemoteOptions& options) {
#if TANDEM_HAS_REMOTE
  return remote::make_oip_client(options);
#else
  (void)options;
  return unsupported(
      "this build has no remote client (native: configure with -DTANDEM_REMOTE=ON and libcurl; "
      "in the browser, the JavaScript package makes remote calls)");
#endif
}

}  // namespace tandem::route
