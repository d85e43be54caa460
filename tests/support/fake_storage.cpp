#include "tests/support/fake_storage.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "messages/error.hpp"

namespace herald::test {

namespace {

caf::error unavailable() {
  return caf::make_error(ec::unavailable, std::string{"fake storage is down"});
}

caf::error missing(uint64_t id) {
  return caf::make_error(ec::not_found,
                         "no user with id " + std::to_string(id));
}

bool email_taken(const fake_store& s, const std::string& email, uint64_t id) {
  for (auto& [other, acc] : s.accounts)
    if (acc.profile.email == email && other != id)
      return true;
  return false;
}

account* find_by_email(fake_store& s, const std::string& email) {
  for (auto& [id, acc] : s.accounts)
    if (acc.profile.email == email)
      return &acc;
  return nullptr;
}

/// Appends an outbox row as the MySQL store does in its transactions;
/// answers its id.
std::string add_event(fake_store& s, const char* topic, uint64_t user_id,
                      nlohmann::json data) {
  event ev;
  ev.seq = s.next_seq++;
  ev.id = "00000000-0000-4000-8000-" + std::to_string(100000000000 + ev.seq);
  ev.topic = topic;
  ev.time = s.now * 1000;
  ev.source = s.source;
  ev.key = "user:" + std::to_string(user_id);
  ev.data = data.dump();
  auto id = ev.id;
  s.outbox.emplace(ev.seq, std::move(ev));
  return id;
}

caf::error check_reset(fake_store& s, const std::string& hash) {
  auto i = s.resets.find(hash);
  if (i == s.resets.end())
    return caf::make_error(ec::not_found, std::string{"unknown reset token"});
  if (i->second.used)
    return caf::make_error(ec::already_used,
                           std::string{"reset token was used already"});
  if (i->second.voided)
    return caf::make_error(ec::revoked, std::string{"reset token was voided"});
  if (i->second.expires_at <= s.now)
    return caf::make_error(ec::expired, std::string{"reset token expired"});
  return caf::none;
}

// -- throttling (same rules as storage/throttle.cpp) --------------------------

caf::expected<int64_t> throttle_hit(fake_store& s,
                                    const std::vector<throttle_rule>& rules) {
  if (auto err = check_throttle_rules(rules))
    return err;
  // Rows past their window and block are forgotten, as MySQL prunes them.
  for (auto i = s.throttles.begin(); i != s.throttles.end();)
    i = std::max(i->second.last_at + i->second.rule.window,
                 i->second.blocked_until)
                <= s.now
            ? s.throttles.erase(i)
            : std::next(i);
  int64_t wait = 0;
  for (auto& r : rules)
    if (auto i = s.throttles.find(throttle_key_hash(r.key));
        i != s.throttles.end())
      wait = std::max(wait, i->second.blocked_until - s.now);
  if (wait > 0)
    return wait;
  for (auto& r : rules) {
    auto& t = s.throttles[throttle_key_hash(r.key)];
    t.events
        = t.events == 0 || s.now - t.last_at >= r.window ? 1 : t.events + 1;
    t.last_at = s.now;
    t.rule = r;
    t.rule.key.clear();
    t.blocked_until = s.now + throttle_wait(r, t.events);
  }
  return int64_t{0};
}

caf::error throttle_undo(fake_store& s, const std::vector<std::string>& keys) {
  if (auto err = check_throttle_keys(keys))
    return err;
  std::set<std::string> hashes;
  for (auto& k : keys)
    hashes.insert(throttle_key_hash(k));
  for (auto& hash : hashes) {
    auto i = s.throttles.find(hash);
    if (i == s.throttles.end())
      continue;
    auto& t = i->second;
    if (t.events <= 1) {
      s.throttles.erase(i);
      continue;
    }
    --t.events;
    t.blocked_until = t.last_at + throttle_wait(t.rule, t.events);
  }
  return caf::none;
}

caf::error throttle_clear(fake_store& s, const std::vector<std::string>& keys) {
  if (auto err = check_throttle_keys(keys))
    return err;
  for (auto& k : keys)
    s.throttles.erase(throttle_key_hash(k));
  return caf::none;
}

} // namespace

storage_actor::behavior_type fake_storage(storage_actor::pointer self,
                                          std::shared_ptr<fake_store> store) {
  return {
      [store](atom::create, const request_context& ctx,
              new_account& x) -> caf::result<account> {
        if (store->down)
          return unavailable();
        store->contexts.push_back(ctx);
        ++store->creates;
        if (email_taken(*store, x.email, 0))
          return caf::make_error(ec::conflict,
                                 std::string{"email is already registered"});
        account acc;
        acc.profile.id = store->next_id++;
        acc.profile.name = std::move(x.name);
        acc.profile.email = std::move(x.email);
        acc.profile.role = std::move(x.role);
        acc.profile.created_at = acc.profile.updated_at = 1700000000;
        acc.password_hash = std::move(x.password_hash);
        store->accounts[acc.profile.id] = acc;
        add_event(*store, topic_user_created, acc.profile.id,
                  {{"user_id", acc.profile.id},
                   {"name", acc.profile.name},
                   {"email", acc.profile.email},
                   {"role", acc.profile.role}});
        return acc;
      },
      [store](atom::get, uint64_t id) -> caf::result<account> {
        if (store->down)
          return unavailable();
        auto i = store->accounts.find(id);
        if (i == store->accounts.end())
          return missing(id);
        return i->second;
      },
      [store](atom::get, atom::by_email,
              const std::string& email) -> caf::result<account> {
        if (store->down)
          return unavailable();
        for (auto& [id, acc] : store->accounts)
          if (acc.profile.email == email)
            return acc;
        return caf::make_error(ec::not_found,
                               std::string{"no user with email"});
      },
      [store](atom::list, uint64_t after,
              uint32_t limit) -> caf::result<user_page> {
        if (store->down)
          return unavailable();
        if (limit == 0)
          return caf::make_error(ec::invalid_argument,
                                 std::string{"limit must be at least 1"});
        user_page result;
        for (auto i = store->accounts.upper_bound(after);
             i != store->accounts.end(); ++i) {
          if (result.items.size() == limit) {
            result.next = result.items.back().id;
            break;
          }
          result.items.push_back(i->second.profile);
        }
        return result;
      },
      [store](atom::update, const request_context& ctx, uint64_t id,
              account_patch& p) -> caf::result<account> {
        if (store->down)
          return unavailable();
        store->contexts.push_back(ctx);
        ++store->updates;
        auto i = store->accounts.find(id);
        if (i == store->accounts.end())
          return missing(id);
        if (p.set_email && email_taken(*store, p.email, id))
          return caf::make_error(ec::conflict,
                                 std::string{"email is already registered"});
        auto& acc = i->second;
        if (!p.only_if_hash.empty() && acc.password_hash != p.only_if_hash)
          return caf::make_error(ec::conflict,
                                 std::string{"the password changed meanwhile"});
        // Like the MySQL store: only real changes count and are announced.
        auto changed = nlohmann::json::array();
        if (p.set_name && p.name != acc.profile.name)
          changed.push_back("name");
        if (p.set_email && p.email != acc.profile.email)
          changed.push_back("email");
        if (p.set_role && p.role != acc.profile.role)
          changed.push_back("role");
        bool new_hash
            = p.set_password_hash && p.password_hash != acc.password_hash;
        if (p.set_name)
          acc.profile.name = p.name;
        if (p.set_email)
          acc.profile.email = p.email;
        if (p.set_role)
          acc.profile.role = p.role;
        if (p.set_password_hash)
          acc.password_hash = p.password_hash;
        if (p.bump_token_version)
          ++acc.profile.token_version;
        acc.profile.updated_at += 1;
        if (!changed.empty())
          add_event(*store, topic_user_updated, id,
                    {{"user_id", id},
                     {"name", acc.profile.name},
                     {"email", acc.profile.email},
                     {"role", acc.profile.role},
                     {"changed", changed}});
        if (new_hash && p.bump_token_version)
          add_event(*store, topic_password_changed, id,
                    {{"user_id", id},
                     {"name", acc.profile.name},
                     {"email", acc.profile.email}});
        return acc;
      },
      [store](atom::remove, const request_context& ctx,
              uint64_t id) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        store->contexts.push_back(ctx);
        auto i = store->accounts.find(id);
        if (i == store->accounts.end())
          return missing(id);
        add_event(*store, topic_user_deleted, id,
                  {{"user_id", id}, {"email", i->second.profile.email}});
        store->accounts.erase(i);
        for (auto r = store->resets.begin(); r != store->resets.end();)
          r = r->second.user_id == id ? store->resets.erase(r) : std::next(r);
        for (auto r = store->reset_requested.begin();
             r != store->reset_requested.end();)
          r = r->second.user_id == id ? store->reset_requested.erase(r)
                                      : std::next(r);
        return caf::ok_atom_v;
      },
      [store](atom::status) -> caf::result<storage_status> {
        if (store->down)
          return unavailable();
        return storage_status{"memory", "ok", store->accounts.size()};
      },
      [store](atom::reset_request, const request_context& ctx,
              reset_ticket& t) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        store->contexts.push_back(ctx);
        auto& times = store->reset_requests[t.email];
        times.erase(
            std::remove_if(times.begin(), times.end(),
                           [&](int64_t x) { return x <= store->now - 3600; }),
            times.end());
        if (times.size() >= t.max_per_hour)
          return caf::make_error(ec::rate_limited,
                                 std::string{"too many reset requests"});
        times.push_back(store->now);
        auto acc = find_by_email(*store, t.email);
        if (acc == nullptr)
          return caf::ok_atom_v;
        auto id = add_event(*store, topic_reset_requested, acc->profile.id,
                            {{"user_id", acc->profile.id},
                             {"name", acc->profile.name},
                             {"email", acc->profile.email},
                             {"expires_at", t.expires_at}});
        store->reset_requested[id]
            = fake_reset{acc->profile.id, t.expires_at, false, false, id};
        return caf::ok_atom_v;
      },
      [store](atom::reset_issue, const std::string& event_id,
              uint64_t user_id, const std::string& hash,
              const std::string& legacy_hash) -> caf::result<int64_t> {
        ++store->issues;
        if (store->down || store->issue_down)
          return unavailable();
        if (hash.size() != 64
            || (!legacy_hash.empty() && legacy_hash.size() != 64))
          return caf::make_error(ec::invalid_argument,
                                 std::string{"not a token hash"});
        if (store->accounts.count(user_id) == 0)
          return missing(user_id);
        auto req = store->reset_requested.find(event_id);
        if (req == store->reset_requested.end() && !legacy_hash.empty()) {
          auto old = store->resets.find(legacy_hash);
          if (old != store->resets.end() && old->second.user_id == user_id
              && old->second.event_id.empty()) {
            req = store->reset_requested.emplace(event_id, old->second).first;
            req->second.event_id = event_id;
            old->second.event_id = event_id;
            old->second.voided = true;
          }
        }
        if (req == store->reset_requested.end()
            || req->second.user_id != user_id)
          return caf::make_error(ec::not_found,
                                 std::string{"no reset request for the event"});
        if (req->second.used)
          return caf::make_error(ec::already_used,
                                 std::string{"reset request was used"});
        if (req->second.voided)
          return caf::make_error(ec::revoked,
                                 std::string{"reset request was voided"});
        if (req->second.expires_at <= store->now)
          return caf::make_error(ec::expired,
                                 std::string{"reset request expired"});
        for (auto& [other, r] : store->resets)
          if (r.event_id == event_id && !r.used)
            r.voided = true;
        store->resets[hash] = fake_reset{user_id, req->second.expires_at,
                                         false, false, event_id};
        return req->second.expires_at;
      },
      [store](atom::reset_check,
              const std::string& hash) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        if (auto err = check_reset(*store, hash))
          return err;
        return caf::ok_atom_v;
      },
      [store](atom::reset_confirm, const request_context& ctx,
              const std::string& hash,
              const std::string& password_hash) -> caf::result<account> {
        if (store->down)
          return unavailable();
        store->contexts.push_back(ctx);
        if (auto err = check_reset(*store, hash))
          return err;
        auto& reset = store->resets[hash];
        auto& acc = store->accounts.at(reset.user_id);
        acc.password_hash = password_hash;
        ++acc.profile.token_version;
        reset.used = true;
        for (auto& [other, r] : store->resets)
          if (other != hash && r.user_id == reset.user_id && !r.used)
            r.voided = true;
        for (auto& [id, r] : store->reset_requested)
          if (r.user_id == reset.user_id)
            r.voided = true;
        add_event(*store, topic_password_changed, acc.profile.id,
                  {{"user_id", acc.profile.id},
                   {"name", acc.profile.name},
                   {"email", acc.profile.email}});
        return acc;
      },
      [store](atom::outbox_fetch, uint64_t after,
              uint32_t limit) -> caf::result<std::vector<event>> {
        if (store->down)
          return unavailable();
        if (!store->hold_failures && !store->held_failures.empty()) {
          // Released: recorded and answered now, inside this actor, before
          // this read (which then sees them).
          for (auto& release : store->held_failures)
            release();
          store->held_failures.clear();
        }
        store->fetched_after.push_back(after);
        std::vector<event> result;
        result.reserve(std::min<size_t>(limit, store->outbox.size()));
        for (auto i = store->outbox.upper_bound(after);
             i != store->outbox.end() && result.size() < limit; ++i)
          if (store->dead.count(i->first) == 0)
            result.push_back(i->second);
        return result;
      },
      [store](atom::outbox_claim, const std::string& owner, uint32_t limit,
              int64_t lease_ms)
          -> caf::result<std::vector<event>, std::vector<uint64_t>> {
        if (store->down)
          return unavailable();
        if (!store->hold_failures && !store->held_failures.empty()) {
          for (auto& release : store->held_failures)
            release();
          store->held_failures.clear();
        }
        store->claim_limits.push_back(limit);
        auto now_ms = store->now * 1000;
        auto holds = [&](uint64_t seq) {
          auto c = store->claims.find(seq);
          return c != store->claims.end() && c->second.first == owner;
        };
        for (auto& [seq, c] : store->claims)
          if (c.first == owner)
            c.second = now_ms + lease_ms;
        std::vector<event> claimed;
        std::set<std::string> blocked;
        for (auto& [seq, ev] : store->outbox) {
          if (claimed.size() >= limit)
            break;
          if (store->dead.count(seq) > 0 || holds(seq))
            continue;
          auto c = store->claims.find(seq);
          bool free = c == store->claims.end() || c->second.second < now_ms;
          // An earlier row of the key that this relay does not hold blocks
          // the later ones, whether it is free or another's.
          if (!free || blocked.count(ev.key) > 0) {
            blocked.insert(ev.key);
            continue;
          }
          claimed.push_back(ev);
        }
        for (auto& ev : claimed)
          store->claims[ev.seq] = {owner, now_ms + lease_ms};
        std::vector<uint64_t> held;
        for (auto& [seq, c] : store->claims)
          if (c.first == owner && store->dead.count(seq) == 0
              && store->outbox.count(seq) > 0)
            held.push_back(seq);
        return caf::result<std::vector<event>, std::vector<uint64_t>>{
            std::move(claimed), std::move(held)};
      },
      [store](atom::outbox_release,
              const std::string& owner) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        for (auto i = store->claims.begin(); i != store->claims.end();)
          if (i->second.first == owner)
            i = store->claims.erase(i);
          else
            ++i;
        return caf::ok_atom_v;
      },
      [store](atom::outbox_done,
              const std::vector<uint64_t>& seqs) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        for (auto seq : seqs) {
          store->outbox.erase(seq);
          store->claims.erase(seq);
        }
        if (store->after_outbox_done)
          store->after_outbox_done(*store);
        return caf::ok_atom_v;
      },
      [self, store](atom::outbox_failed, uint64_t seq, const std::string& error,
                    bool dead) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        auto record = [store, seq, error, dead]() -> caf::error {
          auto i = store->outbox.find(seq);
          if (i == store->outbox.end())
            return caf::make_error(ec::not_found,
                                   std::string{"no outbox row"});
          ++i->second.attempts;
          store->last_error = error;
          if (dead) {
            store->dead.insert(seq);
            auto& ev = i->second;
            store->dead_events.push_back(dead_event{
                ev.topic, ev.id, ev.attempts, error, store->now * 1000});
          }
          return caf::none;
        };
        if (store->hold_failures) {
          // Neither recorded nor answered until the test releases it.
          auto rp = self->make_response_promise<caf::ok_atom>();
          store->held_failures.emplace_back([record, rp]() mutable {
            if (auto err = record())
              rp.deliver(std::move(err));
            else
              rp.deliver(caf::ok_atom_v);
          });
          return rp;
        }
        if (auto err = record())
          return err;
        return caf::ok_atom_v;
      },
      [store](atom::outbox, atom::status) -> caf::result<outbox_status> {
        if (store->down)
          return unavailable();
        outbox_status st;
        st.dead = store->dead.size();
        st.pending = store->outbox.size() - st.dead;
        st.last_error = store->last_error;
        st.dead_events.assign(store->dead_events.rbegin(),
                              store->dead_events.rend());
        if (st.dead_events.size() > outbox_status::max_dead_shown)
          st.dead_events.resize(outbox_status::max_dead_shown);
        for (auto& [seq, ev] : store->outbox)
          if (store->dead.count(seq) == 0) {
            st.oldest_age_ms = store->now * 1000 - ev.time;
            break;
          }
        return st;
      },
      [store](atom::processed, const std::string& handler,
              const std::string& id) -> caf::result<bool> {
        if (store->down)
          return unavailable();
        return store->processed.count({handler, id}) > 0;
      },
      [store](atom::event_claim, const std::string& handler,
              const std::string& id, const std::string& owner,
              int64_t timeout_ms) -> caf::result<bool> {
        if (store->down)
          return unavailable();
        if (store->processed.count({handler, id}) > 0)
          return false;
        auto now_ms = store->now * 1000;
        auto [i, fresh] = store->event_claims.emplace(
            std::make_pair(handler, id), std::make_pair(owner, now_ms));
        if (!fresh && i->second.first != owner
            && i->second.second > now_ms - timeout_ms)
          return caf::make_error(ec::deferred,
                                 "event " + id + " is being handled by "
                                     "another " + handler);
        i->second = {owner, now_ms};
        return true;
      },
      [store](atom::event_release, const std::string& handler,
              const std::string& id,
              const std::string& owner) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        auto i = store->event_claims.find({handler, id});
        if (i != store->event_claims.end() && i->second.first == owner)
          store->event_claims.erase(i);
        return caf::ok_atom_v;
      },
      [store](atom::mark_processed, const std::string& handler,
              const std::string& id) -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        store->processed.emplace(handler, id);
        store->event_claims.erase({handler, id});
        return caf::ok_atom_v;
      },
      [store](atom::throttle_hit,
              const std::vector<throttle_rule>& rules) -> caf::result<int64_t> {
        if (store->down)
          return unavailable();
        return throttle_hit(*store, rules);
      },
      [store](atom::throttle_undo, const std::vector<std::string>& keys)
          -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        if (auto err = throttle_undo(*store, keys))
          return err;
        return caf::ok_atom_v;
      },
      [store](atom::throttle_clear, const std::vector<std::string>& keys)
          -> caf::result<caf::ok_atom> {
        if (store->down)
          return unavailable();
        if (auto err = throttle_clear(*store, keys))
          return err;
        return caf::ok_atom_v;
      },
  };
}

} // namespace herald::test
