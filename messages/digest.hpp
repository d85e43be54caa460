// Digests in the form herald stores them: the password reset service hashes
// tokens with it and storage compares and records those hashes, so both sides
// must agree on it to the letter.
#pragma once

#include <string>
#include <string_view>

namespace herald {

/// SHA-256 of `text` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view text);

} // namespace herald
