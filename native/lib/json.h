// JSON string escaping for the native programs' hand-built JSON (the CLI's --json, tandem
// serve's bodies and errors, tandem-edge): one copy for all of them.
#pragma once

#include <string>
#include <string_view>

namespace tandem {

// `s` as the inside of a JSON string (no quotes): quote, backslash and control characters
// escaped (\n \r \t by name, the rest and DEL as \u00XX); other bytes pass (UTF-8 stays UTF-8).
std::string json_escape(std::string_view s);

}  // namespace tandem
