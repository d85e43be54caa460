#include "actors/hasher.hpp"

#include <crypt.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

namespace {

/// The worker's behaviour; `slot` (may be null) counts its load, `load`
/// keeps it alive.
hasher_actor::behavior_type
worker_behavior(argon2_params params, std::shared_ptr<worker_pool_load> load,
                worker_slot_load* slot) {
  return {
      [params, load, slot](
          atom::hash, const std::string& password) -> caf::result<std::string> {
        worker_load_guard guard{slot};
        auto res = hash_password(password, params);
        if (!res)
          return std::move(res.error());
        return std::move(*res);
      },
      [params, load, slot](atom::verify, const std::string& password,
                           const std::string& encoded) {
        worker_load_guard guard{slot};
        return verify_password(password, encoded, params);
      },
      [load, slot](atom::status) {
        // Asked directly (the pool answers for its workers): this worker
        // alone, idle while it answers.
        worker_load_guard guard{slot};
        return hasher_status{1, 0, slot ? slot->waiting.load() : 0u};
      },
  };
}

} // namespace

void lower_hashing_priority() {
  // Linux gives every thread its own nice value; raising it needs no
  // privilege. A failure leaves the thread as it was.
  auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  auto nice = getpriority(PRIO_PROCESS, tid);
  if (errno == 0)
    setpriority(PRIO_PROCESS, tid, std::min(nice + hashing_niceness, 19));
}

hasher_actor::behavior_type hasher_worker(hasher_actor::pointer,
                                          argon2_params params) {
  return worker_behavior(params, nullptr, nullptr);
}

hasher_actor::behavior_type
pooled_hasher_worker(hasher_actor::pointer, argon2_params params,
                     std::shared_ptr<worker_pool_load> load, size_t slot) {
  // A detached worker builds its behaviour on its own thread.
  lower_hashing_priority();
  auto* counts = load && slot < load->size() ? &load->slot(slot) : nullptr;
  return worker_behavior(params, std::move(load), counts);
}

hasher_actor spawn_hasher(caf::actor_system& sys, size_t workers,
                          argon2_params params) {
  // The pool keeps the function to respawn workers: capture by value.
  worker_pool_settings cfg;
  cfg.name = "hasher";
  cfg.load = std::make_shared<worker_pool_load>(std::max(workers, size_t{1}));
  cfg.status = [](const worker_pool_health& h) {
    return caf::make_message(hasher_status{static_cast<uint32_t>(h.live),
                                           static_cast<uint32_t>(h.busy),
                                           static_cast<uint32_t>(h.queued)});
  };
  // Named before the call: `std::move(cfg)` may run before the lambda copies.
  auto load = cfg.load;
  return spawn_worker_pool<hasher_actor>(
      sys, workers,
      [&sys, params, load](size_t slot) {
        return sys.spawn<caf::detached>(pooled_hasher_worker, params, load,
                                        slot);
      },
      std::move(cfg));
}

} // namespace herald
