// The remote as a Backend: the same interface as XNNPACK or the reference kernels, for a whole
// model. It claims every node; a partition that is not the whole graph is refused at compile, so
// put it alone in SessionOptions::backends. Its Executable sends the graph's inputs to the server
// and writes the server's outputs into the frame. (HybridSession talks to the RemoteModel
// directly, so a remote placement never loads the model locally; this adapter is for a Session
// that has the model on the device but wants the server's compute.)
#pragma once

#include <memory>

#include "core/route/remote.h"
#include "core/runtime/backend.h"

namespace tandem::remote {

std::shared_ptr<Backend> make_backend(std::shared_ptr<route::RemoteModel> model);

}  // namespace tandem::remote
