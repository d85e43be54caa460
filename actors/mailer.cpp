#include "actors/mailer.hpp"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <caf/sec.hpp>

#include "actors/outbox_relay.hpp"
#include "actors/password_reset.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

using self_ptr = event_handler_actor::stateful_pointer<mailer_state>;

constexpr size_t max_sent_unmarked = 4096;

/// What one event asks of the mailer.
struct mail_job {
  std::string template_name;
  uint64_t user_id = 0;
  /// Reset only: the expiry the event names (unix seconds; storage's own
  /// decides) and, for an event of an older herald that carried a token,
  /// that token's hash, so that storage voids it (the token itself is never
  /// mailed or kept).
  int64_t expires_at = 0;
  std::string legacy_hash;
};

caf::error invalid(const event& ev, const std::string& what) {
  return caf::make_error(ec::invalid_argument,
                         "event " + ev.id + " (" + ev.topic + "): " + what);
}

bool is_url_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool is_event_id(const std::string& id) {
  return !id.empty() && id.size() <= 128
         && std::all_of(id.begin(), id.end(),
                        [](char c) { return is_url_safe(c) || c == '.'; });
}

/// The job of an event, nothing for topics without mail, or
/// invalid_argument.
caf::expected<std::optional<mail_job>> job_of(const event& ev) {
  mail_job job;
  if (ev.topic == topic_user_created)
    job.template_name = template_welcome;
  else if (ev.topic == topic_reset_requested)
    job.template_name = template_reset;
  else if (ev.topic == topic_password_changed)
    job.template_name = template_password_changed;
  else
    return std::optional<mail_job>{};
  if (!is_event_id(ev.id))
    return invalid(ev, "the id must be 1 to 128 of [A-Za-z0-9._-]");
  auto data = nlohmann::json::parse(ev.data, nullptr, false);
  if (data.is_discarded() || !data.is_object())
    return invalid(ev, "the payload is not a JSON object");
  auto uid = data.find("user_id");
  if (uid == data.end() || !uid->is_number_integer() || *uid < 1)
    return invalid(ev, "the payload has no positive integer user_id");
  job.user_id = uid->get<uint64_t>();
  if (job.template_name == template_reset) {
    // Only events of an older herald carry a token; it was in the outbox and
    // on the broker, so it is never mailed: its hash tells storage which
    // token to void, and the mail gets a fresh one.
    auto token = data.find("token");
    if (token != data.end() && token->is_string()
        && !check_reset_token(token->get_ref<const std::string&>()))
      job.legacy_hash
          = reset_token_hash(token->get_ref<const std::string&>());
    auto expires = data.find("expires_at");
    if (expires == data.end() || !expires->is_number_integer())
      return invalid(ev, "the payload has no integer expires_at");
    job.expires_at = expires->get<int64_t>();
  }
  return std::optional<mail_job>{std::move(job)};
}

/// Keeps the code of herald errors; a timeout or another system error of a
/// request means the peer was not reachable in time: unavailable.
caf::error failure(const caf::error& err, const std::string& what) {
  if (err.category() == caf::atom("herald"))
    return annotate(err, what);
  return caf::make_error(ec::unavailable, what + ": " + render(err));
}

bool is_not_found(const caf::error& err) {
  return err.category() == caf::atom("herald")
         && err.code() == static_cast<uint8_t>(ec::not_found);
}

/// Answers every delivery waiting for `id`, which was being worked on, and
/// starts the next queued event in its place.
void finish(self_ptr self, const std::string& id, const caf::error& err) {
  auto& st = self->state;
  auto i = st.in_flight.find(id);
  if (i == st.in_flight.end())
    return;
  auto waiting = std::move(i->second);
  st.in_flight.erase(i);
  for (auto& rp : waiting) {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(caf::ok_atom_v);
  }
  --st.working;
  if (!st.stopping && !st.queued.empty()) {
    auto next = std::move(st.queued.front().second);
    st.queued.pop_front();
    ++st.working;
    next();
  }
}

void remember_sent(self_ptr self, const std::string& id) {
  auto& st = self->state;
  if (!st.sent_unmarked.insert(id).second)
    return;
  st.sent_order.push_back(id);
  if (st.sent_order.size() > max_sent_unmarked) {
    st.sent_unmarked.erase(st.sent_order.front());
    st.sent_order.pop_front();
  }
}

void mark(self_ptr self, const std::string& id) {
  self->request(self->state.store, self->state.settings.timeout,
                atom::mark_processed_v, std::string{mailer_handler_name}, id)
      .then(
          [self, id](caf::ok_atom) {
            self->state.sent_unmarked.erase(id);
            finish(self, id, caf::none);
          },
          [self, id](caf::error& err) {
            spdlog::warn("mail for event {} sent, but not recorded: {}", id,
                         render(err));
            finish(self, id, failure(err, "mail sent, recording event " + id));
          });
}

/// Ends the work on a claimed event that needs no mail (the user is gone,
/// the link expired or was settled): recorded as finished, so that no
/// mailer looks at it again. Answers ok even if recording fails: the claim
/// then lapses after the claim timeout, and a redelivery decides again.
void settle(self_ptr self, const std::string& id) {
  self->request(self->state.store, self->state.settings.timeout,
                atom::mark_processed_v, std::string{mailer_handler_name}, id)
      .then([self, id](caf::ok_atom) { finish(self, id, caf::none); },
            [self, id](caf::error& err) {
              spdlog::warn("event {} needs no mail, but recording it failed: "
                           "{}",
                           id, render(err));
              finish(self, id, caf::none);
            });
}

/// Fails a claimed event before its mail was sent: the claim is released
/// first, so that the retry (here or on another node) claims it anew and
/// sends the one mail. If releasing fails, the claim lapses after the claim
/// timeout and the retry is deferred until then.
void give_up(self_ptr self, const std::string& id, caf::error err) {
  self->request(self->state.store, self->state.settings.timeout,
                atom::event_release_v, std::string{mailer_handler_name}, id,
                self->state.instance)
      .then([self, id, err](caf::ok_atom) { finish(self, id, err); },
            [self, id, err](caf::error& release_err) {
              spdlog::warn("event {}: releasing the claim failed: {}", id,
                           render(release_err));
              finish(self, id, err);
            });
}

std::string base_url(const mailer_settings& settings) {
  auto url = settings.public_base_url;
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  return url;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Whether storage's answer to reset_issue means that the request needs no
/// mail any more (the user is gone, a reset happened since, it expired).
bool is_settled(const caf::error& err) {
  if (err.category() != caf::atom("herald"))
    return false;
  switch (static_cast<ec>(err.code())) {
    case ec::not_found:
    case ec::revoked:
    case ec::expired:
    case ec::already_used:
      return true;
    default:
      return false;
  }
}

/// Renders `values` with the template of `job` and sends the mail to `acc`.
void deliver(self_ptr self, const std::string& id, const mail_job& job,
             const account& acc, const mail_values& values) {
  auto& st = self->state;
  auto tpl = st.settings.templates.find(job.template_name);
  if (tpl == nullptr) {
    give_up(
        self, id,
        caf::make_error(ec::internal, "no mail template " + job.template_name));
    return;
  }
  auto text = render(*tpl, values);
  if (!text) {
    give_up(self, id, text.error());
    return;
  }
  mail m{acc.profile.email, std::move(text->subject), std::move(text->text),
         std::move(text->html), id};
  self->request(st.smtp, st.settings.send_timeout, atom::send_v, std::move(m))
      .then(
          [self, id](caf::ok_atom) {
            remember_sent(self, id);
            mark(self, id);
          },
          [self, id](caf::error& err) {
            give_up(self, id, failure(err, "mail for event " + id));
          });
}

/// Makes a reset token, has storage keep its hash for the request of event
/// `id` (voiding the tokens made for it before), then mails the link. The
/// token lives only here and in the mail: never logged, never in an error.
void send_reset_link(self_ptr self, const std::string& id, const mail_job& job,
                     const account& acc, mail_values values) {
  auto& st = self->state;
  if (job.expires_at <= unix_now()) {
    spdlog::info("reset link of event {} expired before its mail", id);
    settle(self, id);
    return;
  }
  auto token = make_reset_token();
  if (token.empty()) {
    give_up(self, id,
            caf::make_error(ec::internal,
                            std::string{"no randomness for a reset token"}));
    return;
  }
  auto hash = reset_token_hash(token);
  self->request(st.store, st.settings.timeout, atom::reset_issue_v, id,
                job.user_id, std::move(hash), job.legacy_hash)
      .then(
          [self, id, job, acc, values, token](int64_t expires_at) mutable {
            auto& st = self->state;
            auto now = unix_now();
            if (expires_at <= now) {
              spdlog::info("reset link of event {} expired before its mail",
                           id);
              settle(self, id);
              return;
            }
            values["link"]
                = base_url(st.settings) + "/reset-password?token=" + token;
            values["expires_in"] = describe_duration(expires_at - now);
            deliver(self, id, job, acc, values);
          },
          [self, id](caf::error& err) {
            if (is_settled(err)) {
              spdlog::info("event {}: no reset link to mail ({})", id,
                           render(err));
              settle(self, id);
              return;
            }
            give_up(self, id,
                    failure(err, "storing the reset link of event " + id));
          });
}

/// Sends the mail of `job` to `acc`.
void send(self_ptr self, const std::string& id, const mail_job& job,
          const account& acc) {
  auto& st = self->state;
  mail_values values{{"name", acc.profile.name},
                     {"email", acc.profile.email},
                     {"app_name", st.settings.app_name},
                     {"link", base_url(st.settings) + "/"}};
  if (job.template_name == template_reset)
    send_reset_link(self, id, job, acc, std::move(values));
  else
    deliver(self, id, job, acc, values);
}

void start(self_ptr self, const std::string& id, mail_job job) {
  auto& st = self->state;
  if (st.sent_unmarked.count(id) > 0) {
    mark(self, id);
    return;
  }
  // The claim comes first and is atomic: of two mailers that get the event
  // at the same instant, one goes on and the other is told to retry later
  // (`deferred`, no attempt counted), by which time the event is finished
  // or its claim has lapsed.
  self->request(st.store, st.settings.timeout, atom::event_claim_v,
                std::string{mailer_handler_name}, id, st.instance,
                static_cast<int64_t>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        st.settings.claim_timeout)
                        .count()))
      .then(
          [self, id, job](bool claimed) {
            if (!claimed) {
              finish(self, id, caf::none); // finished before
              return;
            }
            self->request(self->state.store, self->state.settings.timeout,
                          atom::get_v, job.user_id)
                .then(
                    [self, id, job](account& acc) { send(self, id, job, acc); },
                    [self, id, job](caf::error& err) {
                      if (is_not_found(err)) {
                        spdlog::info("event {}: user {} is gone, no mail", id,
                                     job.user_id);
                        settle(self, id);
                        return;
                      }
                      give_up(self, id,
                              failure(err, "looking up user "
                                               + std::to_string(job.user_id)));
                    });
          },
          [self, id](caf::error& err) {
            finish(self, id, failure(err, "claiming event " + id));
          });
}

} // namespace

std::string describe_duration(int64_t seconds) {
  auto plural = [](int64_t n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
  };
  auto minutes = (seconds + 30) / 60;
  if (minutes < 1)
    return "less than a minute";
  if (minutes < 120)
    return plural(minutes, "minute");
  auto hours = (minutes + 30) / 60;
  if (hours < 48)
    return plural(hours, "hour");
  return plural((hours + 12) / 24, "day");
}

event_handler_actor::behavior_type
mailer(event_handler_actor::stateful_pointer<mailer_state> self,
       mailer_settings settings, storage_actor store, smtp_actor smtp) {
  self->state.settings = std::move(settings);
  self->state.instance = random_instance_id();
  self->state.store = std::move(store);
  self->state.smtp = std::move(smtp);
  // A mail being sent at a shutdown is finished and marked, so that its
  // redelivery after the next start sends no second one.
  drain_on_exit(self, self->state.requests, self->state.settings.drain_grace,
                [self] {
                  // Only the events under way are finished: the waiting
                  // ones are not claimed, so they are answered now.
                  auto& st = self->state;
                  st.stopping = true;
                  auto err = caf::make_error(
                      ec::unavailable, std::string{"the node is stopping; "
                                                   "this mail was not "
                                                   "started"});
                  for (auto& queued : st.queued) {
                    auto i = st.in_flight.find(queued.first);
                    if (i == st.in_flight.end())
                      continue;
                    for (auto& rp : i->second)
                      rp.deliver(err);
                    st.in_flight.erase(i);
                  }
                  st.queued.clear();
                });
  return {
      [self](atom::handle, const event& ev) -> caf::result<caf::ok_atom> {
        auto job = job_of(ev);
        if (!job)
          return std::move(job.error());
        if (!*job)
          return caf::ok_atom_v;
        if (self->state.stopping && self->state.in_flight.count(ev.id) == 0)
          return caf::make_error(ec::unavailable,
                                 "the node is stopping; event " + ev.id
                                     + " was not started");
        auto rp = self->state.requests.open<caf::ok_atom>(self);
        auto& waiting = self->state.in_flight[ev.id];
        waiting.push_back(rp);
        if (waiting.size() > 1)
          return rp; // joins the delivery being worked on or queued
        auto& st = self->state;
        if (st.working < st.settings.in_flight) {
          ++st.working;
          start(self, ev.id, std::move(**job));
        } else {
          st.queued.emplace_back(
              ev.id, [self, id = ev.id, job = std::move(**job)]() mutable {
                start(self, id, std::move(job));
              });
        }
        return rp;
      },
  };
}

} // namespace herald
