// Value types of the user family. `user` is the public view of an account and
// never carries the password hash; `account` is what storage holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"

namespace herald {

/// Roles a user can have. Kept as text on the wire and in the database.
constexpr const char* role_user = "user";
constexpr const char* role_admin = "admin";

/// A user as every caller outside storage sees it.
struct user {
  uint64_t id = 0;
  std::string name;
  std::string email;
  std::string role;
  /// Bumped to revoke every token issued before; tokens carry it as `ver`.
  uint32_t token_version = 0;
  /// Unix seconds.
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user& x) {
  return f(caf::meta::type_name("herald::user"), x.id, x.name, x.email, x.role,
           x.token_version, x.created_at, x.updated_at);
}

/// Input of user creation; the password is plain text until the hasher.
struct new_user {
  std::string name;
  std::string email;
  std::string password;
  std::string role = role_user;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_user& x) {
  return f(caf::meta::type_name("herald::new_user"), x.name, x.email,
           x.password, x.role);
}

/// A partial update: only fields whose `set_` flag is true change.
struct user_patch {
  bool set_name = false;
  std::string name;
  bool set_email = false;
  std::string email;
  bool set_password = false;
  std::string password;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_patch& x) {
  return f(caf::meta::type_name("herald::user_patch"), x.set_name, x.name,
           x.set_email, x.email, x.set_password, x.password);
}

/// One page of a user listing, ordered by id (keyset pagination: no
/// offset and no total, so a page costs the same anywhere in a table of any
/// size, and stays stable while users are added or deleted).
struct user_page {
  std::vector<user> items;
  /// The id to pass as `after` for the next page; 0 if there is none.
  uint64_t next = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_page& x) {
  return f(caf::meta::type_name("herald::user_page"), x.items, x.next);
}

/// A stored account: the user plus its password hash (argon2id PHC string or
/// an imported bcrypt hash). Only storage and the user actor see this.
struct account {
  user profile;
  std::string password_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account& x) {
  return f(caf::meta::type_name("herald::account"), x.profile, x.password_hash);
}

/// Input of account creation in storage: already validated and hashed.
struct new_account {
  std::string name;
  std::string email;
  std::string role = role_user;
  std::string password_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_account& x) {
  return f(caf::meta::type_name("herald::new_account"), x.name, x.email, x.role,
           x.password_hash);
}

/// A partial update of a stored account, applied in one transaction.
struct account_patch {
  bool set_name = false;
  std::string name;
  bool set_email = false;
  std::string email;
  bool set_password_hash = false;
  std::string password_hash;
  bool set_role = false;
  std::string role;
  /// Increments token_version (revokes all tokens issued before).
  bool bump_token_version = false;
  /// If not empty: apply the patch only while the stored hash is still this
  /// one, else `conflict` and nothing changes (a rehash at login must not
  /// undo a password change made meanwhile).
  std::string only_if_hash{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_patch& x) {
  return f(caf::meta::type_name("herald::account_patch"), x.set_name, x.name,
           x.set_email, x.email, x.set_password_hash, x.password_hash,
           x.set_role, x.role, x.bump_token_version, x.only_if_hash);
}

/// Answer of the hasher to a verify request.
struct password_check {
  bool valid = false;
  /// True if the hash uses an old scheme or weaker parameters than the
  /// current policy and should be replaced after a successful login.
  bool needs_rehash = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, password_check& x) {
  return f(caf::meta::type_name("herald::password_check"), x.valid,
           x.needs_rehash);
}

} // namespace herald
