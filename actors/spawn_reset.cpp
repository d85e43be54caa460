// The reset component: [reset] (and [password]'s policy), the password reset
// service.
#include "actors/password_reset.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

const config::section<reset_settings>& reset_section() {
  using std::chrono::seconds;
  static const auto s
      = config::section<reset_settings>{"reset"}
            .add(&reset_settings::ttl, "ttl",
                 "lifetime of a password reset link")
            .range(seconds{60}, seconds{86400})
            .add(&reset_settings::max_per_hour, "max-per-hour",
                 "reset requests allowed per email address and hour (known "
                 "or not)")
            .range(1, 1000000);
  return s;
}

/// [reset] and [password] as configured and checked.
caf::expected<reset_settings> read_reset(const component_context& ctx) {
  auto policy = read_password_policy(ctx.cfg);
  if (!policy)
    return std::move(policy.error());
  auto s = reset_section().read(ctx.cfg);
  s.passwords = *policy;
  s.drain_grace = ctx.node.stop_timeout;
  return s;
}

} // namespace

component reset_component() {
  auto opts = options_of(reset_section());
  auto& pw = password_options_declared();
  opts.insert(opts.end(), pw.begin(), pw.end());
  return checked_by(
      component{"reset",
                {{"reset"}, {}},
                {"storage", "hasher"},
                std::move(opts),
                [](component_context& ctx) -> caf::expected<caf::actor> {
                  auto s = read_reset(ctx);
                  if (!s)
                    return std::move(s.error());
                  return caf::actor_cast<caf::actor>(ctx.sys.spawn(
                      password_reset, std::move(*s),
                      ctx.get<storage_actor>("storage"),
                      ctx.get<hasher_actor>("hasher"),
                      ctx.route<token_actor>("token"),
                      ctx.get<outbox_relay_actor>("outbox-relay")));
                }},
      read_reset);
}

} // namespace herald
