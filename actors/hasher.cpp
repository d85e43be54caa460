#include "actors/hasher.hpp"

#include <crypt.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <caf/typed_event_based_actor.hpp>

#include "actors/worker_pool.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

constexpr size_t salt_len = 16;
constexpr size_t hash_len = 32;

bool starts_with(const std::string& str, const char* prefix) {
  return str.compare(0, std::strlen(prefix), prefix) == 0;
}

bool is_bcrypt(const std::string& encoded) {
  return starts_with(encoded, "$2a$") || starts_with(encoded, "$2b$")
         || starts_with(encoded, "$2y$");
}

/// Reads m, t, p from `$argon2id$v=19$m=..,t=..,p=..$...`.
bool parse_argon2_params(const std::string& encoded, argon2_params& out) {
  unsigned v = 0, m = 0, t = 0, p = 0;
  if (std::sscanf(encoded.c_str(), "$argon2id$v=%u$m=%u,t=%u,p=%u$", &v, &m, &t,
                  &p)
      != 4)
    return false;
  out = argon2_params{m, t, p};
  return v == ARGON2_VERSION_NUMBER;
}

password_check verify_bcrypt(const std::string& password,
                             const std::string& encoded) {
  // crypt_r works on C strings; a password with NUL bytes cannot match.
  if (password.find('\0') != std::string::npos)
    return {false, false};
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  auto* out = crypt_r(password.c_str(), encoded.c_str(), data.get());
  if (out == nullptr || out[0] == '*')
    return {false, false};
  auto len = std::strlen(out);
  bool ok
      = len == encoded.size() && CRYPTO_memcmp(out, encoded.data(), len) == 0;
  return {ok, ok};
}

} // namespace

caf::expected<std::string> hash_password(const std::string& password,
                                         const argon2_params& params) {
  unsigned char salt[salt_len];
  if (RAND_bytes(salt, sizeof(salt)) != 1)
    return caf::make_error(ec::internal,
                           std::string{"no randomness for a salt"});
  auto len
      = argon2_encodedlen(params.iterations, params.memory_kib,
                          params.parallelism, salt_len, hash_len, Argon2_id);
  std::vector<char> out(len);
  auto rc = argon2id_hash_encoded(
      params.iterations, params.memory_kib, params.parallelism, password.data(),
      password.size(), salt, salt_len, hash_len, out.data(), out.size());
  if (rc != ARGON2_OK)
    return caf::make_error(ec::internal, std::string{"argon2id failed: "}
                                             + argon2_error_message(rc));
  return std::string{out.data()};
}

password_check verify_password(const std::string& password,
                               const std::string& encoded,
                               const argon2_params& params) {
  if (is_bcrypt(encoded))
    return verify_bcrypt(password, encoded);
  argon2_params stored;
  if (!parse_argon2_params(encoded, stored))
    return {false, false};
  auto rc = argon2id_verify(encoded.c_str(), password.data(), password.size());
  if (rc != ARGON2_OK)
    return {false, false};
  bool weaker = stored.memory_kib < params.memory_kib
                || stored.iterations < params.iterations
                || stored.parallelism < params.parallelism;
  return {true, weaker};
}

hasher_actor::behavior_type hasher_worker(hasher_actor::pointer,
                                          argon2_params params) {
  return {
      [params](atom::hash,
               const std::string& password) -> caf::result<std::string> {
        auto res = hash_password(password, params);
        if (!res)
          return std::move(res.error());
        return std::move(*res);
      },
      [params](atom::verify, const std::string& password,
               const std::string& encoded) {
        return verify_password(password, encoded, params);
      },
  };
}

hasher_actor spawn_hasher(caf::actor_system& sys, size_t workers,
                          argon2_params params) {
  // The pool keeps the function to respawn workers: capture by value.
  return spawn_worker_pool<hasher_actor>(
      sys, workers,
      [&sys, params] {
        return sys.spawn<caf::detached>(hasher_worker, params);
      },
      worker_pool_settings{"hasher"});
}

} // namespace herald
