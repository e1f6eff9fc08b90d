# XNNPACK and its helpers, built from Debian's orig tarballs inside this build
# tree (one version for native and wasm). Only production kernels are built.
include(${CMAKE_CURRENT_LIST_DIR}/debian_source.cmake)

# Patches (cmake/patches/) only add Emscripten support; native builds see the same code.
#  xnnpack: map Emscripten to a "wasm" target with the wasm + wasmsimd production kernels,
#           and fix two wasmsimd kernels that include <arm_neon.h> instead of <wasm_simd128.h>.
#  pthreadpool: PTHREADPOOL_EMSCRIPTEN_THREADS picks the real pool instead of the
#           single-thread shim (the wasm-threads preset).
tandem_debian_source(XNNPACK_SOURCE PACKAGE xnnpack VERSION 0.0~git20241108.4ea82e5
  SHA256 90bde2caef0f880f627bab0dc805a86c4b8070cd98e3243db3046ab3f3be1a99
  PATCH ${CMAKE_CURRENT_LIST_DIR}/patches/xnnpack-emscripten.patch)
tandem_debian_source(PTHREADPOOL_SOURCE_DIR PACKAGE pthreadpool VERSION 0.0~git20240616.560c60d
  SHA256 4cc3cbd933b28131d2a34edc54f76af9fb41bc490af5eae1a5bd3cd07ea90708
  PATCH ${CMAKE_CURRENT_LIST_DIR}/patches/pthreadpool-emscripten-threads.patch)
tandem_debian_source(CPUINFO_SOURCE_DIR PACKAGE cpuinfo VERSION 0.0~git20250905.877328f
  SHA256 557ca404a3836b9f335a3a06b65ff9fe9dbaaefab7fb5c0185f53d9f33615a10)
tandem_debian_source(FXDIV_SOURCE_DIR PACKAGE fxdiv VERSION 0.0~git20200417.b408327
  SHA256 7953482badaf4cb34026c3487c257b8e4ab2df061c019bd6fabbbc12ad52c44b)

set(XNNPACK_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(XNNPACK_BUILD_BENCHMARKS OFF CACHE BOOL "" FORCE)
set(XNNPACK_BUILD_ALL_MICROKERNELS OFF CACHE BOOL "" FORCE)
set(XNNPACK_LIBRARY_TYPE static CACHE STRING "" FORCE)
set(XNNPACK_ENABLE_KLEIDIAI OFF CACHE BOOL "" FORCE)
set(CPUINFO_SOURCE_DIR "${CPUINFO_SOURCE_DIR}" CACHE STRING "" FORCE)
set(PTHREADPOOL_SOURCE_DIR "${PTHREADPOOL_SOURCE_DIR}" CACHE STRING "" FORCE)
set(FXDIV_SOURCE_DIR "${FXDIV_SOURCE_DIR}" CACHE STRING "" FORCE)
set(CPUINFO_LOG_LEVEL "error" CACHE STRING "" FORCE)
set(PTHREADPOOL_EMSCRIPTEN_THREADS ${TANDEM_WASM_THREADS} CACHE BOOL "" FORCE)

# GCC 12 runs out of ymm registers in XNNPACK's AVX2/FMA3 GEMM kernels and spills an
# accumulator inside the inner loop: half the speed clang-14 gets (measured 25 vs 47
# GFLOP/s on a 1024^3 fp32 GEMM). The presets use clang; say so to anyone using GCC.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  message(WARNING "XNNPACK built with GCC runs its x86 GEMM kernels at about half speed; "
                  "configure with -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 (as the presets do).")
endif()

# Third-party code is built with its own flags: no -Werror, no sanitizers.
add_subdirectory(${XNNPACK_SOURCE} ${CMAKE_BINARY_DIR}/xnnpack EXCLUDE_FROM_ALL SYSTEM)
# XNNPACK's Debug config logs every operator at level 5 to stdout. stdout is tandem serve's
# one-line protocol (the port), and a parent that stops reading it after that line would block
# the logging thread once the pipe fills (a debug-build server froze mid-request so). Errors and
# warnings only (to stderr) in Debug; nothing otherwise, as before.
if(TARGET logging)
  set(TANDEM_XNN_LOG "XNN_LOG_LEVEL=$<IF:$<CONFIG:Debug>,3,0>")
  set_target_properties(logging PROPERTIES COMPILE_DEFINITIONS "${TANDEM_XNN_LOG}" INTERFACE_COMPILE_DEFINITIONS
                                                                                   "${TANDEM_XNN_LOG}")
endif()
