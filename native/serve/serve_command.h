// `tandem serve`: the Open Inference Protocol v2 model server (native/serve/README.md).
#pragma once

namespace tandem::serve {

// argv[0] is the first option after "serve". Returns the process exit code; 0 after a
// graceful shutdown (SIGINT/SIGTERM).
int cmd_serve(int argc, char** argv);

}  // namespace tandem::serve
