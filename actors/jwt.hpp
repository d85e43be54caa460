// JSON Web Tokens as herald uses them: compact JWS with HS256 only (RFC 7515,
// RFC 7519, RFC 8725). Plain functions without actors; the token actor calls
// them inline (HMAC-SHA256 is cheap enough for an event-based actor).
//
// Every rejection that proves nothing about the caller's identity is
// ec::unauthenticated with a message naming the reason; a token that was
// valid but is past its `exp` (beyond the leeway) is ec::expired.
// Configuration mistakes (keys, policy) are ec::invalid_argument.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/base64url.hpp"
#include "messages/token.hpp"
#include "messages/user.hpp"

namespace herald::jwt {

// -- keys ---------------------------------------------------------------------

/// Smallest accepted HMAC secret: 256 bits (RFC 7518 section 3.2).
constexpr size_t min_secret_size = 32;

/// An HMAC-SHA256 key and the id (`kid`) tokens name it by.
struct key {
  std::string id;
  /// Raw secret bytes (not encoded).
  std::string secret;
};

/// The keys of a node: the first signs new tokens, every key verifies, so
/// a rotation puts the new key first and keeps the old one until every
/// token it signed has expired.
struct key_ring {
  std::vector<key> keys;

  /// Returns the key with the given id or nullptr.
  const key* find(std::string_view id) const;
};

/// Parses a key spec "kid:base64url-secret" (unpadded base64url). The kid
/// must be 1..64 characters of [A-Za-z0-9._-]; the secret at least
/// `min_secret_size` bytes once decoded.
caf::expected<key> parse_key(std::string_view spec);

/// Checks a whole ring: at least one key, every key valid, no kid twice.
caf::error check(const key_ring& ring);

/// Parses key specs (in order: the first signs) into a checked ring.
caf::expected<key_ring> parse_key_ring(const std::vector<std::string>& specs);

// -- policy -------------------------------------------------------------------

/// Largest clock skew a policy may tolerate (RFC 8725 asks for little).
constexpr std::chrono::seconds max_leeway{60};

/// Default cap on the size of a compact token, checked before any work.
constexpr size_t default_max_size = 8192;

/// What a token must say to be accepted, and how long issued ones live.
struct policy {
  std::string issuer;
  std::string audience;
  std::chrono::seconds ttl{900};
  /// Tolerated clock skew for exp, nbf and iat; at most `max_leeway`.
  std::chrono::seconds leeway{30};
  size_t max_size = default_max_size;
};

/// Checks a policy at configuration time: non-empty issuer and audience,
/// positive ttl, leeway within [0, max_leeway], a sane size cap.
caf::error check(const policy& p);

// -- signing and verification -------------------------------------------------

/// Builds a compact JWS: base64url(header) "." base64url(payload) "."
/// base64url(HMAC-SHA256(secret, first two parts)). The JSON texts are used
/// as given. Returns an empty string if OpenSSL fails.
std::string sign(std::string_view header_json, std::string_view payload_json,
                 const key& k);

/// What the signature layer established about a token.
struct verified {
  /// The `kid` of the header (empty if the header had none).
  std::string key_id;
  /// The decoded payload bytes, not yet parsed.
  std::string payload;
};

/// Verifies the signature layer against a key ring. Checks, in order: size
/// cap, exactly three base64url segments, a header that is a JSON object
/// without duplicate members, `alg` exactly "HS256", `typ` absent or "JWT",
/// no `crit`, a `kid` naming a key of the ring (herald always sets `kid`,
/// so a token without one is refused), and the MAC over the received bytes
/// of header and payload segment, compared in constant time.
caf::expected<verified> verify_signature(std::string_view token,
                                         const key_ring& ring,
                                         size_t max_size = default_max_size);

/// Verifies the signature layer against one chosen key: as above, except
/// that the header may omit `kid` (if present it must equal `k.id`). Meant
/// for tokens of outside issuers and for test vectors such as RFC 7515 A.1.
caf::expected<verified> verify_signature(std::string_view token, const key& k,
                                         size_t max_size = default_max_size);

/// Checks the claims of a verified payload (a JSON object) at time `now`
/// (Unix seconds): `exp` required and > now - leeway (else ec::expired),
/// `nbf` if present <= now + leeway, `iss` == issuer, `aud` == audience or
/// an array containing it, `iat` required and <= now + leeway, `sub` a
/// canonical decimal user id, `ver` an integer in uint32 range, `jti` a
/// non-empty string, `role` a string if present.
caf::expected<claims> check_claims(std::string_view payload_json,
                                   const policy& p, int64_t now);

/// The checks of claims that passed check_claims before which depend on
/// `now`, in its order: `exp` > now - leeway (else ec::expired), `nbf` (iat
/// if the token has none) and `iat` <= now + leeway.
caf::error check_times(const claims& c, const policy& p, int64_t now);

/// Whether the 32 bytes at `mac` are the HMAC-SHA256 of `input` under `k`
/// (compared in constant time).
bool mac_matches(const key& k, std::string_view input,
                 const unsigned char* mac);

/// Full validation: `verify_signature` with the ring, then `check_claims`.
caf::expected<claims> validate(std::string_view token, const key_ring& ring,
                               const policy& p, int64_t now);

// -- issuing ------------------------------------------------------------------

/// Returns 16 random bytes (RAND_bytes) as base64url, or an empty string if
/// the random generator fails.
std::string random_jti();

/// Issues a token for `u`, signed with the first key of the ring: header
/// {"alg":"HS256","kid":...,"typ":"JWT"}, claims iss, aud, sub (decimal id),
/// iat = nbf = now, exp = now + ttl, jti, ver (token version) and role.
/// Nothing else of the user goes into the token.
caf::expected<issued_token> issue(const user& u, const key_ring& ring,
                                  const policy& p, int64_t now,
                                  const std::string& jti);

} // namespace herald::jwt
