#include "actors/outbox_relay.hpp"

#include <algorithm>
#include <atomic>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "messages/error.hpp"

namespace herald {

namespace {

using self_ptr = outbox_relay_actor::stateful_pointer<outbox_relay_state>;
using clock_type = outbox_relay_state::clock;

void dispatch(self_ptr self);
void fetch(self_ptr self, bool renew = false);
void maybe_finish_stop(self_ptr self);

/// Puts `key` among the ready ones if its head can go: not with the bus, no
/// retry pending.
void mark_ready(outbox_relay_state& st, const std::string& key) {
  auto q = st.queues.find(key);
  if (q == st.queues.end() || q->second.empty() || st.busy.count(key) > 0
      || st.retry_at.count(key) > 0)
    return;
  st.ready.emplace(q->second.front().seq, key);
}

void flush(self_ptr self) {
  auto& st = self->state;
  // Never while a fetch is under way: it could read rows this deletes and
  // hand them out a second time.
  if (st.finishing || st.flushing || st.fetching || st.done.empty())
    return;
  st.flushing = true;
  auto seqs = st.done;
  self->request(st.store, st.settings.storage_timeout, atom::outbox_done_v,
                seqs)
      .then(
          [self, n = seqs.size()](caf::ok_atom) {
            auto& st = self->state;
            for (size_t i = 0; i < n; ++i)
              st.known.erase(st.done[i]);
            st.done.erase(st.done.begin(), st.done.begin() + n);
            st.flushing = false;
            if (st.fetch_again)
              fetch(self);
            maybe_finish_stop(self);
          },
          [self](caf::error& err) {
            // The rows stay; they are deleted at the next flush (or delivered
            // again after a restart, which handlers absorb by event id).
            spdlog::warn("outbox: deleting delivered rows failed: {}",
                         render(err));
            self->state.flushing = false;
            if (self->state.fetch_again)
              fetch(self);
            maybe_finish_stop(self);
          });
}

/// Lets a row that left the queues for good (marked dead) be read again
/// should it still be pending; a read already under way may hold a copy from
/// before the mark, so it waits for that read to end.
void forget(outbox_relay_state& st, uint64_t seq) {
  if (st.fetching)
    st.forget_after_fetch.push_back(seq);
  else
    st.known.erase(seq);
}

/// Drops the queued rows that storage no longer lists as this relay's:
/// their lease ran out (this relay could not renew it in time) and another
/// relay claimed them, so it delivers them now. A row with the bus stays
/// until its answer (its delivery may already be under way).
void drop_lost(outbox_relay_state& st, const std::vector<uint64_t>& held) {
  auto holds = [&](uint64_t seq) {
    return std::binary_search(held.begin(), held.end(), seq);
  };
  for (auto q = st.queues.begin(); q != st.queues.end();) {
    auto& [key, events] = *q;
    auto busy = st.busy.count(key) > 0;
    auto old_head = events.front().seq;
    size_t dropped = 0;
    for (auto i = events.begin() + (busy ? 1 : 0); i != events.end();) {
      if (holds(i->seq)) {
        ++i;
        continue;
      }
      st.known.erase(i->seq);
      i = events.erase(i);
      ++dropped;
    }
    if (dropped == 0) {
      ++q;
      continue;
    }
    spdlog::warn("outbox: {} row(s) of {} were taken over by another relay",
                 dropped, key);
    st.queued -= dropped;
    st.taken_over += dropped;
    st.ready.erase({old_head, key});
    if (events.empty()) {
      st.retry_at.erase(key);
      st.deferrals.erase(key);
      q = st.queues.erase(q);
      continue;
    }
    mark_ready(st, key);
    ++q;
  }
}

/// Claims rows into the queues, and renews the lease of the rows this relay
/// holds. Storage answers the rows claimed now and every row held: a held
/// row this relay already knows (queued, with the bus, delivered and not yet
/// deleted) is skipped, one it knows and that is no longer held was taken
/// over (drop_lost). Every poll tick claims with `renew`, even when there is
/// no room for more rows, so that a live relay never loses its rows; a row
/// that committed below one already read is simply free and claimed then.
void fetch(self_ptr self, bool renew) {
  auto& st = self->state;
  if (st.finishing)
    return;
  st.renew = st.renew || renew;
  if (st.fetching || st.flushing) {
    st.fetch_again = true;
    return;
  }
  // A batch in hand and more read ahead: enough in memory. While stopping
  // it only renews: the rows it holds stay its own until it releases them
  // (a stop slower than the lease would hand them to another relay while
  // their delivery may still be under way here).
  auto full = st.queued > st.settings.batch || st.stopping;
  if (full && !st.renew)
    return;
  st.fetching = true;
  st.fetch_again = false;
  st.renew = false;
  auto limit = full ? uint32_t{0} : st.settings.batch;
  self->request(st.store, st.settings.storage_timeout, atom::outbox_claim_v,
                st.instance, limit,
                static_cast<int64_t>(st.settings.lease.count()))
      .then(
          [self, limit](std::vector<event>& rows,
                        std::vector<uint64_t>& held) {
            auto& st = self->state;
            st.fetching = false;
            if (st.stopping) {
              // Claimed while the stop began, or a renewal during it: what
              // it holds is released with the rest.
              maybe_finish_stop(self);
              return;
            }
            drop_lost(st, held);
            size_t fresh = 0;
            for (auto& ev : rows) {
              if (!st.known.insert(ev.seq).second)
                continue;
              ++fresh;
              auto& q = st.queues[ev.key];
              q.push_back(std::move(ev));
              ++st.queued;
              if (q.size() == 1)
                mark_ready(st, q.front().key);
            }
            for (auto seq : st.forget_after_fetch)
              st.known.erase(seq);
            st.forget_after_fetch.clear();
            st.more = fresh > 0 && rows.size() == limit;
            dispatch(self);
            if (st.fetch_again)
              fetch(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.fetching = false;
            for (auto seq : st.forget_after_fetch)
              st.known.erase(seq);
            st.forget_after_fetch.clear();
            st.last_error = "reading the outbox: " + render(err);
            spdlog::warn("outbox: {}", st.last_error);
            maybe_finish_stop(self);
          });
}

void delivered(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto& q = st.queues[key];
  st.done.push_back(q.front().seq);
  q.pop_front();
  --st.queued;
  ++st.delivered;
  if (st.outage > 0)
    spdlog::info("outbox: delivering again");
  st.outage = 0;
  // What went wrong is over: the status no longer shows it (rows still
  // failing or dead keep theirs in storage).
  st.last_error.clear();
  st.deferrals.erase(key);
  if (q.empty())
    st.queues.erase(key);
  else
    mark_ready(st, key);
  if (st.done.size() >= st.settings.batch / 2)
    flush(self);
  // Read the next batch while this one is out, so the bus never waits for
  // storage while rows are pending.
  if (st.more && st.queued <= st.settings.batch)
    fetch(self);
}

/// Something every event needs is down (the broker, the mail server, the
/// event bus itself): not the event's fault.
bool is_outage(const caf::error& err) {
  return err == ec::unavailable || err == caf::sec::request_timeout;
}

void failed(self_ptr self, const std::string& key, const caf::error& err) {
  auto& st = self->state;
  auto& ev = st.queues[key].front();
  auto now = self->clock().now();
  auto text = render(err);
  st.last_error = ev.topic + " " + ev.id + ": " + text;
  if (is_outage(err)) {
    // Pause all keys instead of letting each fail on its own, and probe
    // with one; events failing together count once: the pause grows per
    // failed probe. An outage costs time, never an attempt: the event is
    // not at fault, and no row goes dead for it.
    if (st.outage == 0)
      spdlog::warn("outbox: delivering {} {} failed, pausing delivery: {}",
                   ev.topic, ev.id, text);
    if (st.outage == 0 || now >= st.paused_until) {
      ++st.outage;
      st.paused_until = now + backoff(st.settings, st.outage);
    }
    // The key waits for the end of the pause even if another key gets
    // through meanwhile (its topic may not need what is down).
    st.retry_at[key] = st.paused_until;
    return;
  }
  if (err == ec::deferred) {
    // Refused for now for this event alone (a full queue, a mail server
    // that says "later" for one address): its key waits, the others go on,
    // and no attempt is counted.
    auto n = ++st.deferrals[key];
    spdlog::log(n == 1 ? spdlog::level::warn : spdlog::level::debug,
                "outbox: {} {} deferred ({} times): {}", ev.topic, ev.id, n,
                text);
    st.retry_at[key] = now + backoff(st.settings, n);
    return;
  }
  ++ev.attempts;
  bool dead = ev.attempts >= st.settings.max_attempts;
  // Warn at the first failure and when giving up; the attempts between go
  // to debug.
  auto level
      = ev.attempts == 1 || dead ? spdlog::level::warn : spdlog::level::debug;
  spdlog::log(level, "outbox: delivering {} {} failed (attempt {}{}): {}",
              ev.topic, ev.id, ev.attempts, dead ? ", giving up" : "", text);
  // A dead row stays known until storage has marked it: a poll in between
  // would read it again and deliver it once more. Once marked, it is not
  // fetched again; if marking failed, it is still pending and may be.
  auto seq = ev.seq;
  self->request(st.store, st.settings.storage_timeout, atom::outbox_failed_v,
                seq, text, dead)
      .then(
          [self, seq, dead](caf::ok_atom) {
            if (dead)
              forget(self->state, seq);
          },
          [self, seq, dead](caf::error& err) {
            spdlog::warn("outbox: recording a failure failed: {}",
                         render(err));
            if (dead)
              forget(self->state, seq);
          });
  if (dead) {
    // The row stays in the outbox, marked dead; later events of the key go
    // on rather than waiting forever behind it.
    auto& q = st.queues[key];
    q.pop_front();
    --st.queued;
    st.deferrals.erase(key);
    if (q.empty())
      st.queues.erase(key);
    else
      mark_ready(st, key);
    return;
  }
  // This event failed on its own (unroutable, refused, a handler's bug):
  // only its key waits.
  st.retry_at[key] = now + backoff(st.settings, ev.attempts);
}

/// After the bus answered: the next events go, or, while stopping, the stop
/// goes on once the last delivery under way has its answer.
void answered(self_ptr self) {
  if (self->state.stopping)
    maybe_finish_stop(self);
  else
    dispatch(self);
}

void deliver(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto& ev = st.queues[key].front();
  st.ready.erase({ev.seq, key});
  st.busy.insert(key);
  // No request timeout: the poll tick fails what takes too long.
  auto id = st.in_flight.add(self->clock().now() + st.settings.delivery_timeout,
                             key);
  self->request(st.bus, caf::infinite, atom::publish_v, ev)
      .then(
          [self, id](caf::ok_atom) {
            if (auto key = self->state.in_flight.take(id)) {
              self->state.busy.erase(*key);
              delivered(self, *key);
              answered(self);
            }
          },
          [self, id](caf::error& err) {
            if (auto key = self->state.in_flight.take(id)) {
              self->state.busy.erase(*key);
              failed(self, *key, err);
              answered(self);
            }
          });
}

/// Fails the deliveries whose delivery_timeout passed (a late answer is
/// dropped).
void expire(self_ptr self) {
  auto& st = self->state;
  auto expired = st.in_flight.expire(self->clock().now());
  if (expired.empty())
    return;
  auto err = caf::make_error(
      ec::unavailable,
      "no answer from the event bus in "
          + std::to_string(st.settings.delivery_timeout.count()) + " s");
  for (auto& key : expired) {
    st.busy.erase(key);
    failed(self, key, err);
  }
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  // At most a batch with the bus at once (this runs after every delivery:
  // mostly there is room for one).
  auto room = st.settings.batch > st.busy.size()
                  ? st.settings.batch - st.busy.size()
                  : size_t{0};
  auto now = self->clock().now();
  if (st.outage > 0) {
    // During an outage one event at a time probes whether it is over.
    if (now < st.paused_until || !st.busy.empty())
      return;
    room = 1;
  }
  if (room == 0)
    return;
  // Retries that came due are ready again.
  for (auto i = st.retry_at.begin(); i != st.retry_at.end();) {
    if (i->second > now) {
      ++i;
      continue;
    }
    auto key = i->first;
    i = st.retry_at.erase(i);
    mark_ready(st, key);
  }
  // The oldest first, whatever their keys. A probe takes turns instead:
  // the one after the last probe, so that an event failing on its own with
  // `unavailable` cannot hold every other key back for ever.
  std::vector<std::string> keys;
  auto i = st.ready.begin();
  if (st.outage > 0) {
    i = st.ready.lower_bound({st.last_probe + 1, std::string{}});
    if (i == st.ready.end())
      i = st.ready.begin();
  }
  for (; i != st.ready.end() && keys.size() < room; ++i)
    keys.push_back(i->second);
  if (st.outage > 0 && !keys.empty())
    st.last_probe = st.queues[keys.front()].front().seq;
  for (auto& key : keys)
    deliver(self, key);
}

/// The end of an orderly stop, once no event is with the bus (or the grace
/// is over) and no claim or delete is under way (a claim's rows would be
/// claimed after the release). The rows delivered and not yet deleted go
/// first: otherwise the next start would deliver them again (handlers take
/// that by event id, but the broker would carry them twice). Then the rows
/// it still holds are released, so that other relays take them at once
/// instead of after the lease.
void maybe_finish_stop(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping || st.finishing || st.fetching || st.flushing
      || !(st.busy.empty() || st.grace_over))
    return;
  st.finishing = true;
  auto release = [self] {
    auto& st = self->state;
    self->request(st.store, st.settings.storage_timeout,
                  atom::outbox_release_v, st.instance)
        .then([self](caf::ok_atom) {
                self->quit(caf::exit_reason::user_shutdown);
              },
              [self](caf::error& err) {
                spdlog::warn("outbox: releasing the rows at the stop "
                             "failed ({}); other relays take them when "
                             "their lease runs out",
                             render(err));
                self->quit(caf::exit_reason::user_shutdown);
              });
  };
  if (st.done.empty()) {
    release();
    return;
  }
  self->request(st.store, st.settings.storage_timeout, atom::outbox_done_v,
                st.done)
      .then([release](caf::ok_atom) { release(); },
            [release](caf::error& err) {
              spdlog::warn("outbox: deleting delivered rows at the stop "
                           "failed ({}); they will be delivered again",
                           render(err));
              release();
            });
}

} // namespace

std::string random_instance_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) {
    // Without randomness, a name unique on this host for this process run:
    // two instances must never share an id.
    static std::atomic<uint64_t> n{0};
    return "instance-" + std::to_string(::getpid()) + "-"
           + std::to_string(
               std::chrono::steady_clock::now().time_since_epoch().count())
           + "-" + std::to_string(++n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    out += hex[c >> 4];
    out += hex[c & 0x0f];
  }
  return out;
}

std::chrono::milliseconds backoff(const outbox_settings& cfg,
                                  uint32_t attempt) {
  auto delay = cfg.backoff_min;
  for (uint32_t i = 1; i < attempt && delay < cfg.backoff_max; ++i)
    delay *= 2;
  return std::min(delay, cfg.backoff_max);
}

outbox_relay_actor::behavior_type
outbox_relay(outbox_relay_actor::stateful_pointer<outbox_relay_state> self,
             outbox_settings settings, storage_actor store,
             event_bus_actor bus) {
  auto& st = self->state;
  st.settings = settings;
  st.store = std::move(store);
  st.bus = std::move(bus);
  st.instance = random_instance_id();
  // An orderly stop sends nothing new to the bus and waits for the events
  // with it, renewing its leases and deleting what was delivered meanwhile
  // (maybe_finish_stop then). Releasing a row whose delivery is under way
  // would let another relay publish it while this one does too.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (msg.reason != caf::exit_reason::user_shutdown || st.stopping) {
      // Told again (the node stopped waiting), or killed: what was delivered
      // is deleted if storage gets to it; the rest waits for its lease.
      if (!st.done.empty())
        caf::anon_send(st.store, atom::outbox_done_v, st.done);
      self->quit(msg.reason);
      return;
    }
    st.stopping = true;
    if (st.busy.empty()) {
      maybe_finish_stop(self);
      return;
    }
    auto grace = std::min<caf::timespan>(st.settings.drain_grace,
                                         st.settings.delivery_timeout);
    st.stop_deadline = self->clock().now() + grace;
    spdlog::info("outbox: stopping once the {} event(s) with the bus are "
                 "answered (at most {} ms)",
                 st.busy.size(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(grace)
                     .count());
  });
  // The id its claims carry in the outbox's claimed_by column.
  spdlog::info("outbox: relay {} started", st.instance);
  self->send(self, atom::tick_v);
  return {
      [self](atom::outbox, atom::status) -> caf::result<outbox_status> {
        auto rp = self->make_response_promise<outbox_status>();
        self->request(self->state.store, self->state.settings.storage_timeout,
                      atom::outbox_v, atom::status_v)
            .then(
                [self, rp](outbox_status& s) mutable {
                  s.delivered = self->state.delivered;
                  if (!self->state.last_error.empty())
                    s.last_error = self->state.last_error;
                  rp.deliver(std::move(s));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::wake) {
        if (!self->state.stopping)
          fetch(self);
      },
      [self](atom::tick) {
        auto& st = self->state;
        if (st.stopping) {
          if (st.finishing)
            return;
          expire(self);
          if (!st.grace_over && !st.busy.empty()
              && self->clock().now() >= st.stop_deadline) {
            spdlog::warn("outbox: {} event(s) still with the bus at the end "
                         "of the stop's grace: another relay may deliver "
                         "them again",
                         st.busy.size());
            st.grace_over = true;
          }
          flush(self);
          fetch(self, true);
          maybe_finish_stop(self);
          self->delayed_send(self, st.settings.poll_interval, atom::tick_v);
          return;
        }
        expire(self);
        flush(self);
        dispatch(self); // Retries that came due.
        fetch(self, true);
        self->delayed_send(self, self->state.settings.poll_interval,
                           atom::tick_v);
      },
  };
}

} // namespace herald
