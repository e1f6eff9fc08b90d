// RapidJSON, configured once for the server: include this, never rapidjson/ directly.
// RapidJSON reports misuse (a GetInt() on a string, ...) through RAPIDJSON_ASSERT; here that
// throws, and the handlers catch at their boundary, so a missed type check is a 400/500, never
// undefined behaviour. Every access is still type-checked first.
#pragma once

#include <stdexcept>

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x)                                              \
  do {                                                                   \
    if (!(x)) throw std::logic_error("RapidJSON assertion failed: " #x); \
  } while (0)
#endif
#define RAPIDJSON_HAS_STDSTRING 1

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tandem::oip {

// NaN and infinities are valid tensor values: read and write them (as NaN, Infinity, -Infinity).
// Iterative parsing: the default recursive parser would overflow an IO thread's stack on a body
// of a million '[' (the test suite sends one).
inline constexpr unsigned kJsonParseFlags = rapidjson::kParseNanAndInfFlag | rapidjson::kParseIterativeFlag;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                     rapidjson::CrtAllocator, rapidjson::kWriteNanAndInfFlag>;

}  // namespace tandem::oip
