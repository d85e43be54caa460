// The user component: [password], the user service. The password policy is
// shared with the reset component (actors/spawn_reset.cpp).
#include <openssl/rand.h>

#include <caf/scoped_actor.hpp>

#include "actors/user.hpp"
#include "messages/error.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

const config::section<password_policy>& password_section() {
  static const auto s
      = config::section<password_policy>{"password"}
            .add(&password_policy::min_length, "min-length",
                 "shortest password in characters (NIST SP 800-63B-4: 15 "
                 "for password-only login)")
            .range(8, 1024)
            .add(&password_policy::max_bytes, "max-bytes",
                 "longest password in bytes; longer input is refused before "
                 "any hashing")
            .range(8, 65536);
  return s;
}

/// A hash of random noise with the hasher's current parameters: logins for
/// an unknown email verify against it, at the same cost as known ones.
caf::expected<std::string> dummy_hash(component_context& ctx) {
  unsigned char noise[32];
  if (RAND_bytes(noise, sizeof(noise)) != 1)
    return caf::make_error(ec::internal,
                           std::string{"no randomness for the dummy hash"});
  caf::expected<std::string> result{
      caf::make_error(ec::internal, std::string{"the hasher did not answer"})};
  caf::scoped_actor self{ctx.sys};
  self->request(ctx.get<hasher_actor>("hasher"), std::chrono::seconds{60},
                atom::hash_v,
                std::string(reinterpret_cast<char*>(noise), sizeof(noise)))
      .receive([&](std::string& hash) { result = std::move(hash); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

caf::expected<password_policy>
read_password_policy(const config::configuration& cfg) {
  auto p = password_section().read(cfg);
  if (p.min_length > p.max_bytes)
    return cfg.invalid("password.min-length",
                       "must not be more than password.max-bytes");
  return p;
}

const std::vector<config::option>& password_options_declared() {
  static const auto opts = options_of(password_section());
  return opts;
}

caf::expected<user_settings> read_user_settings(component_context& ctx) {
  auto policy = read_password_policy(ctx.cfg);
  if (!policy)
    return std::move(policy.error());
  auto dummy = dummy_hash(ctx);
  if (!dummy)
    return annotate(dummy.error(), "hashing the dummy password");
  user_settings s;
  s.passwords = *policy;
  s.dummy_hash = std::move(*dummy);
  s.drain_grace = ctx.node.stop_timeout;
  return s;
}

component user_component() {
  return checked_by(
      component{
          "user",
          {{"user"}, {}},
          {"storage", "hasher"},
          password_options_declared(),
          [](component_context& ctx) -> caf::expected<caf::actor> {
            auto s = read_user_settings(ctx);
            if (!s)
              return std::move(s.error());
            return caf::actor_cast<caf::actor>(ctx.sys.spawn(
                user_service, std::move(*s), ctx.get<storage_actor>("storage"),
                ctx.get<hasher_actor>("hasher"), ctx.route<token_actor>("token"),
                ctx.get<outbox_relay_actor>("outbox-relay")));
          }},
      [](const component_context& ctx) {
        return read_password_policy(ctx.cfg);
      });
}

} // namespace herald
