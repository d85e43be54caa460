// base64url (RFC 4648 section 5) without padding: the encoding of JWT
// segments, token keys and password reset tokens. It stays in namespace
// herald::jwt, where it started, so callers keep their names.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace herald::jwt {

/// Encodes bytes as unpadded base64url.
std::string base64url_encode(std::string_view bytes);

/// Decodes unpadded base64url into `out`. Rejects padding, characters
/// outside the alphabet, impossible lengths (4n+1) and non-canonical
/// encodings (unused trailing bits set), so every byte string has exactly
/// one accepted encoding.
bool base64url_decode(std::string_view text, std::string& out);

/// How many bytes `text` decodes to if it is valid (for a fixed buffer).
size_t base64url_decoded_size(std::string_view text);

/// The same checks, into `out`, which holds base64url_decoded_size(text)
/// bytes (its contents are unspecified when this answers false).
bool base64url_decode(std::string_view text, unsigned char* out);

/// True for the 64 characters of the alphabet: A-Z a-z 0-9 - _.
bool is_base64url_char(char c);

} // namespace herald::jwt
