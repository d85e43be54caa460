// Value types of the token family.
#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"
#include "messages/user.hpp"

namespace herald {

/// A freshly issued access token.
struct issued_token {
  /// The compact JWS (header.payload.signature).
  std::string token;
  /// Unix seconds.
  int64_t expires_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, issued_token& x) {
  return f(caf::meta::type_name("herald::issued_token"), x.token, x.expires_at);
}

/// A successful login: a token for the user who proved the password.
struct session {
  issued_token token;
  user profile;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session& x) {
  return f(caf::meta::type_name("herald::session"), x.token, x.profile);
}

/// The validated claims of a token. Never carries secrets.
struct claims {
  /// User id (`sub`).
  uint64_t subject = 0;
  std::string issuer;
  std::string audience;
  std::string jwt_id;
  std::string role;
  /// The user's token_version when the token was issued (`ver`).
  uint32_t token_version = 0;
  int64_t issued_at = 0;
  int64_t not_before = 0;
  int64_t expires_at = 0;
  /// Key id from the header.
  std::string key_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claims& x) {
  return f(caf::meta::type_name("herald::claims"), x.subject, x.issuer,
           x.audience, x.jwt_id, x.role, x.token_version, x.issued_at,
           x.not_before, x.expires_at, x.key_id);
}

} // namespace herald
