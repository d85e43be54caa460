// The event path's components: [outbox], the local event bus and the outbox
// relay that feeds it.
#include "actors/event_bus.hpp"
#include "actors/outbox_relay.hpp"
#include "actors/worker_pool.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

const config::section<outbox_settings>& outbox_section() {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  static const auto s
      = config::section<outbox_settings>{"outbox"}
            .add(&outbox_settings::poll_interval, "poll-interval",
                 "how often the outbox is read from its start (a row that "
                 "committed late waits this long at most)")
            .range(milliseconds{10}, seconds{3600})
            .add(&outbox_settings::batch, "batch",
                 "rows read at once, and the most events out at once")
            .range(2, 10000)
            .add(&outbox_settings::max_attempts, "max-attempts",
                 "delivery attempts before a row is marked dead")
            .range(1, 1000000)
            .add(&outbox_settings::backoff_min, "backoff-min",
                 "first retry delay (doubles with each attempt)")
            .range(milliseconds{1}, seconds{86400})
            .add(&outbox_settings::backoff_max, "backoff-max",
                 "longest retry delay")
            .range(milliseconds{1}, seconds{86400})
            .add(&outbox_settings::delivery_timeout, "delivery-timeout",
                 "time the local handlers of an event get")
            .range(seconds{1}, seconds{3600})
            .add(&outbox_settings::lease, "lease",
                 "how long a relay's claim of a row holds unless renewed "
                 "(each poll renews it): the rows of a relay that died go "
                 "to another after this")
            .range(milliseconds{1000}, seconds{3600});
  return s;
}

caf::expected<outbox_settings> read_outbox(const config::configuration& cfg) {
  auto s = outbox_section().read(cfg);
  if (s.backoff_max < s.backoff_min)
    return cfg.invalid("outbox.backoff-max",
                       "must not be shorter than outbox.backoff-min");
  // A few polls may fail or come late without a live relay losing its rows.
  if (s.lease < 4 * s.poll_interval)
    return cfg.invalid("outbox.lease",
                       "must be at least 4 times outbox.poll-interval");
  return s;
}

} // namespace

caf::expected<outbox_settings> read_outbox_of(const component_context& ctx) {
  return read_outbox(ctx.cfg);
}

component event_bus_component() {
  return checked_by(
      component{"event-bus",
                {{"mailer", "bridge"}, {}},
                {},
                options_of(outbox_section()),
                [](component_context& ctx) -> caf::expected<caf::actor> {
                  auto s = read_outbox(ctx.cfg);
                  if (!s)
                    return std::move(s.error());
                  return caf::actor_cast<caf::actor>(
                      ctx.sys.spawn(event_bus, s->delivery_timeout));
                }},
      read_outbox_of);
}

component outbox_relay_component() {
  return checked_by(
      component{"outbox-relay",
                {{"mailer", "bridge"}, {}},
                {"storage", "event-bus"},
                options_of(outbox_section()),
                [](component_context& ctx) -> caf::expected<caf::actor> {
                  auto s = read_outbox(ctx.cfg);
                  if (!s)
                    return std::move(s.error());
                  // Half the time the node waits for the relay: the rest is
                  // for deleting what it delivered and releasing its rows.
                  s->drain_grace = ctx.node.stop_timeout / 2;
                  auto store = ctx.get<storage_actor>("storage");
                  auto bus = ctx.get<event_bus_actor>("event-bus");
                  auto& sys = ctx.sys;
                  // A relay keeps nothing it cannot read again from the outbox:
                  // one that dies is replaced (the pool keeps the handle the
                  // services wake it through).
                  return caf::actor_cast<caf::actor>(
                      spawn_worker_pool<outbox_relay_actor>(
                          sys, 1,
                          [&sys, settings = *s, store, bus] {
                            return sys.spawn(outbox_relay, settings, store,
                                             bus);
                          },
                          worker_pool_settings{"outbox-relay"}));
                },
                true},
      read_outbox_of);
}

} // namespace herald
