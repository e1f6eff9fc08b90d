// The wasm module has no main program: JavaScript calls the C API (core/runtime/tandem.h),
// exported by web/CMakeLists.txt, plus the heap query below.
#include <emscripten/heap.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>

#include "core/runtime/tandem.h"

extern "C" {

// Bytes malloc can still hand out: free blocks inside the heap plus what the heap can grow by
// before the module's maximum (4 GiB). JavaScript checks a model against it before copying it in.
uint64_t tandem_wasm_available_bytes(void) {
  const uint64_t top = reinterpret_cast<uintptr_t>(sbrk(0));
  const uint64_t max = emscripten_get_heap_max();
  const struct mallinfo info = mallinfo();
  return (max > top ? max - top : 0) + static_cast<uint64_t>(info.fordblks);
}

}  // extern "C"
