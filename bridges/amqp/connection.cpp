#include "bridges/amqp/connection.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>
#include <utility>

#include <amqp.h>

#include "bridges/amqp/session.hpp"
#include "messages/error.hpp"

namespace herald::amqp {

using namespace detail;

/// All state lives in the session; the connection adds the operations.
struct connection::impl : detail::session {};

// -- opening and closing
// -------------------------------------------------------

connection::connection() : impl_(std::make_unique<impl>()) {}

connection::~connection() = default;

caf::expected<std::unique_ptr<connection>>
connection::open(const amqp_settings& settings) {
  std::unique_ptr<connection> result{new connection};
  if (auto err = result->impl_->connect(settings))
    return err;
  return result;
}

bool connection::usable() const {
  return impl_->usable;
}

// -- topology
// ------------------------------------------------------------------

caf::error connection::declare_exchange(const std::string& name, bool durable) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_exchange_declare(st.state, channel, bytes_of(name),
                        amqp_cstring_bytes("topic"), 0, durable ? 1 : 0, 0, 0,
                        amqp_empty_table);
  return st.check(amqp_get_rpc_reply(st.state), "declare exchange " + name,
                  rpc_kind::declaration);
}

caf::error connection::declare_queue(const std::string& name,
                                     const queue_options& opts) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  std::vector<amqp_table_entry_t> args;
  auto add_text = [&](const char* key, const std::string& value) {
    amqp_table_entry_t entry{};
    entry.key = amqp_cstring_bytes(key);
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = bytes_of(value);
    args.push_back(entry);
  };
  auto add_number = [&](const char* key, uint32_t value) {
    amqp_table_entry_t entry{};
    entry.key = amqp_cstring_bytes(key);
    entry.value.kind = AMQP_FIELD_KIND_I64;
    entry.value.value.i64 = value;
    args.push_back(entry);
  };
  if (!opts.dead_letter_exchange.empty())
    add_text("x-dead-letter-exchange", opts.dead_letter_exchange);
  if (!opts.dead_letter_routing_key.empty())
    add_text("x-dead-letter-routing-key", opts.dead_letter_routing_key);
  if (opts.message_ttl_ms > 0)
    add_number("x-message-ttl", opts.message_ttl_ms);
  if (opts.expires_ms > 0)
    add_number("x-expires", opts.expires_ms);
  if (opts.max_length > 0)
    add_number("x-max-length", opts.max_length);
  std::string overflow = "reject-publish";
  if (opts.reject_publish)
    add_text("x-overflow", overflow);
  amqp_table_t table{static_cast<int>(args.size()), args.data()};
  amqp_queue_declare(st.state, channel, bytes_of(name), 0, opts.durable ? 1 : 0,
                     0, 0, table);
  return st.check(amqp_get_rpc_reply(st.state), "declare queue " + name,
                  rpc_kind::declaration);
}

caf::error connection::bind(const std::string& queue,
                            const std::string& exchange,
                            const std::string& routing_key) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_queue_bind(st.state, channel, bytes_of(queue), bytes_of(exchange),
                  bytes_of(routing_key), amqp_empty_table);
  return st.check(amqp_get_rpc_reply(st.state),
                  "bind queue " + queue + " to " + exchange + " for "
                      + routing_key,
                  rpc_kind::declaration);
}

caf::error connection::delete_queue(const std::string& name) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_queue_delete(st.state, channel, bytes_of(name), 0, 0);
  return st.check(amqp_get_rpc_reply(st.state), "delete queue " + name,
                  rpc_kind::declaration);
}

caf::error connection::delete_exchange(const std::string& name) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_exchange_delete(st.state, channel, bytes_of(name), 0);
  return st.check(amqp_get_rpc_reply(st.state), "delete exchange " + name,
                  rpc_kind::declaration);
}

// -- publishing
// ----------------------------------------------------------------

caf::error connection::enable_confirms() {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  if (st.confirms)
    return caf::none;
  amqp_confirm_select(st.state, channel);
  if (auto err = st.check(amqp_get_rpc_reply(st.state), "confirm.select",
                          rpc_kind::declaration))
    return err;
  st.confirms = true;
  st.next_tag = 1;
  return caf::none;
}

std::vector<caf::error>
connection::publish(const std::string& exchange,
                    const std::vector<std::pair<std::string, message>>& keyed,
                    std::chrono::milliseconds confirm_timeout) {
  std::vector<outgoing> batch;
  batch.reserve(keyed.size());
  for (auto& [key, msg] : keyed)
    batch.push_back(outgoing{exchange, key, msg});
  std::vector<caf::error> result;
  result.reserve(keyed.size());
  for (auto& res : publish_batch(batch, confirm_timeout))
    result.push_back(std::move(res.error));
  return result;
}

// -- confirms
// ------------------------------------------------------------------

std::string timeout_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0)
    return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

void confirm_tracker::add(uint64_t tag, const outgoing& out, size_t id) {
  open_.emplace(tag, entry{id, out.exchange, out.routing_key,
                           out.msg.message_id, std::nullopt});
}

confirm_result confirm_tracker::result_of(const entry& x, bool nacked,
                                          const std::string& nack_reason) {
  using outcome = confirm_result::outcome;
  confirm_result res;
  if (x.returned) {
    // RabbitMQ acks an unroutable mandatory message after returning it: the
    // ack says only that the broker is done with it.
    res.what = outcome::returned;
    res.error = caf::make_error(ec::rejected, *x.returned);
  } else if (nacked) {
    res.what = outcome::nacked;
    res.error = caf::make_error(ec::deferred, nack_reason);
  }
  return res;
}

void confirm_tracker::apply(const confirm_event& ev,
                            std::vector<settled>& out) {
  using kind = confirm_event::kind;
  if (ev.what == kind::returned) {
    for (auto& [tag, x] : open_)
      if (!x.returned && x.exchange == ev.exchange
          && x.routing_key == ev.routing_key && x.message_id == ev.message_id) {
        x.returned = ev.reason.empty() ? "unroutable (basic.return)"
                                       : ev.reason;
        return;
      }
    return; // Its message timed out already.
  }
  auto nacked = ev.what == kind::nack;
  auto nack_reason = ev.reason.empty() ? "refused by the broker (basic.nack)"
                                       : ev.reason;
  auto settle = [&](std::map<uint64_t, entry>::iterator i) {
    out.push_back({i->second.id, result_of(i->second, nacked, nack_reason)});
    return open_.erase(i);
  };
  if (!ev.multiple) {
    if (auto i = open_.find(ev.tag); i != open_.end())
      settle(i);
    return;
  }
  for (auto i = open_.begin(); i != open_.end() && i->first <= ev.tag;)
    i = settle(i);
}

void confirm_tracker::fail_through(uint64_t tag, const caf::error& err,
                                   std::vector<settled>& out) {
  for (auto i = open_.begin(); i != open_.end() && i->first <= tag;) {
    if (i->second.returned)
      out.push_back({i->second.id, result_of(i->second, false, {})});
    else
      out.push_back(
          {i->second.id, confirm_result{confirm_result::outcome::failed, err}});
    i = open_.erase(i);
  }
}

namespace {

/// Waits up to `left` for the socket to turn readable, or `wake_fd` (if not
/// negative); true if wake_fd is readable.
caf::expected<bool> await_socket(session& st, std::chrono::milliseconds left,
                                 int wake_fd) {
  pollfd fds[2]
      = {{amqp_get_sockfd(st.state), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  auto n = ::poll(fds, wake_fd < 0 ? 1 : 2, static_cast<int>(left.count()));
  if (n < 0 && errno != EINTR)
    return st.library_error(AMQP_STATUS_SOCKET_ERROR, "poll");
  return n > 0 && wake_fd >= 0 && fds[1].revents != 0;
}

/// Milliseconds until `deadline`, rounded up.
std::chrono::milliseconds
until(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::ceil<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
}

} // namespace

caf::expected<uint64_t> connection::send(const outgoing& out) {
  auto& st = *impl_;
  if (auto err = enable_confirms())
    return err;
  std::vector<amqp_table_entry_t> entries;
  auto props = properties_of(out.msg, entries);
  auto rc = amqp_basic_publish(st.state, channel, bytes_of(out.exchange),
                               bytes_of(out.routing_key),
                               out.mandatory ? 1 : 0, 0, &props,
                               bytes_of(out.msg.body));
  if (rc != AMQP_STATUS_OK)
    return st.library_error(rc, "publish");
  return st.next_tag++;
}

namespace {

/// The confirm event of a frame, if it is one (a return's message is read).
caf::expected<std::optional<confirm_event>>
confirm_of(session& st, const amqp_frame_t& frame) {
  auto id = frame.payload.method.id;
  confirm_event ev;
  if (id == AMQP_BASIC_ACK_METHOD) {
    auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
    ev.tag = m->delivery_tag;
    ev.multiple = m->multiple != 0;
  } else if (id == AMQP_BASIC_NACK_METHOD) {
    auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
    ev.what = confirm_event::kind::nack;
    ev.tag = m->delivery_tag;
    ev.multiple = m->multiple != 0;
    ev.reason = "amqp " + st.broker
                + ": refused for now by the broker (basic.nack: a queue at "
                  "its limit with x-overflow=reject-publish, or the broker "
                  "in trouble)";
  } else if (id == AMQP_BASIC_RETURN_METHOD) {
    auto ret = st.read_return(frame);
    if (!ret)
      return std::move(ret.error());
    ev.what = confirm_event::kind::returned;
    ev.exchange = std::move(ret->exchange);
    ev.routing_key = std::move(ret->routing_key);
    ev.message_id = std::move(ret->message_id);
    ev.reason = "amqp " + st.broker + ": " + ret->reason;
  } else {
    return std::optional<confirm_event>{};
  }
  return std::optional<confirm_event>{std::move(ev)};
}

} // namespace

caf::expected<std::vector<confirm_event>>
connection::confirms(std::chrono::milliseconds timeout, int wake_fd) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_maybe_release_buffers(st.state);
  std::vector<confirm_event> result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Everything that arrived, without waiting (heartbeats go out here).
    for (;;) {
      timeval now{0, 0};
      amqp_frame_t frame;
      auto rc = amqp_simple_wait_frame_noblock(st.state, &frame, &now);
      if (rc == AMQP_STATUS_TIMEOUT)
        break;
      if (rc != AMQP_STATUS_OK)
        return st.library_error(rc, "waiting for confirms");
      if (frame.frame_type != AMQP_FRAME_METHOD)
        continue;
      auto ev = confirm_of(st, frame);
      if (!ev)
        return std::move(ev.error());
      if (*ev)
        result.push_back(std::move(**ev));
      else if (auto err = st.handle_other(frame))
        return err;
    }
    auto left = until(deadline);
    if (!result.empty() || left.count() <= 0)
      return result;
    // rabbitmq-c's buffer holds no whole frame now: the socket tells when
    // more comes.
    auto woken = await_socket(st, left, wake_fd);
    if (!woken)
      return std::move(woken.error());
    if (*woken)
      return result;
  }
}

std::vector<confirm_result>
connection::publish_batch(const std::vector<outgoing>& batch,
                          std::chrono::milliseconds confirm_timeout) {
  auto n = batch.size();
  std::vector<confirm_result> result(n);
  auto fail_all = [&](const caf::error& err) {
    for (auto& res : result) {
      res.what = confirm_result::outcome::failed;
      res.error = err;
    }
    return result;
  };
  if (n == 0)
    return result;
  amqp_maybe_release_buffers(impl_->state);
  // Send everything, then wait.
  confirm_tracker tracker;
  uint64_t last_tag = 0;
  for (size_t i = 0; i < n; ++i) {
    auto tag = send(batch[i]);
    if (!tag)
      return fail_all(tag.error());
    tracker.add(*tag, batch[i], i);
    last_tag = *tag;
  }
  std::vector<confirm_tracker::settled> settled;
  auto deadline = std::chrono::steady_clock::now() + confirm_timeout;
  caf::error broken;
  while (!tracker.empty()) {
    auto left = until(deadline);
    if (left.count() <= 0)
      break;
    auto evs = confirms(left);
    if (!evs) {
      broken = std::move(evs.error());
      break;
    }
    for (auto& ev : *evs)
      tracker.apply(ev, settled);
  }
  // What is still open timed out (the connection stays usable; late
  // confirms are dropped) or went with the connection.
  auto timeout = "no confirm within " + timeout_text(confirm_timeout);
  tracker.fail_through(last_tag, broken ? broken : impl_->refusal(timeout),
                       settled);
  for (auto& x : settled)
    result[x.id] = std::move(x.result);
  return result;
}

// -- consuming
// -----------------------------------------------------------------

caf::error connection::consume(const std::string& queue, uint16_t prefetch) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_basic_qos(st.state, channel, 0, prefetch, 0);
  if (auto err = st.check(amqp_get_rpc_reply(st.state), "basic.qos",
                          rpc_kind::declaration))
    return err;
  amqp_basic_consume(st.state, channel, bytes_of(queue), amqp_empty_bytes, 0, 0,
                     0, amqp_empty_table);
  return st.check(amqp_get_rpc_reply(st.state), "consume " + queue,
                  rpc_kind::declaration);
}

namespace {

/// Waits up to `limit` for a delivery (zero: takes what has arrived without
/// waiting); nullopt on timeout.
caf::expected<std::optional<delivery>>
receive(session& st, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (!st.stash.empty()) {
      auto d = std::move(st.stash.front());
      st.stash.pop_front();
      return std::optional<delivery>{std::move(d)};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto tv = to_timeval(std::max(left, std::chrono::milliseconds{0}));
    amqp_envelope_t env;
    auto reply = amqp_consume_message(st.state, &env, &tv, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      delivery d;
      d.tag = env.delivery_tag;
      d.redelivered = env.redelivered != 0;
      d.exchange = to_string(env.exchange);
      d.routing_key = to_string(env.routing_key);
      d.msg = to_message(env.message.properties, env.message.body);
      amqp_destroy_envelope(&env);
      return std::optional<delivery>{std::move(d)};
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
        && reply.library_error == AMQP_STATUS_TIMEOUT)
      return std::optional<delivery>{};
    if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION
        || reply.library_error != AMQP_STATUS_UNEXPECTED_STATE)
      return st.check(reply, "consume", rpc_kind::stream);
    // Another method came first (it was put back): deal with it.
    amqp_frame_t frame;
    auto rc = amqp_simple_wait_frame(st.state, &frame);
    if (rc != AMQP_STATUS_OK)
      return st.library_error(rc, "connection lost");
    if (frame.frame_type == AMQP_FRAME_METHOD
        && frame.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
      if (auto ret = st.read_return(frame); !ret)
        return std::move(ret.error());
    } else if (auto err = st.handle_other(frame)) {
      return err;
    }
    if (st.stash.empty() && std::chrono::steady_clock::now() >= deadline)
      return std::optional<delivery>{};
  }
}

} // namespace

caf::expected<std::optional<delivery>>
connection::next(std::chrono::milliseconds timeout, int wake_fd) {
  auto& st = *impl_;
  if (st.stash.empty())
    if (auto err = st.require_usable())
      return err;
  amqp_maybe_release_buffers(st.state);
  if (wake_fd < 0)
    return receive(st, timeout);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // What arrived already (also sends a heartbeat when one is due, and
    // notices a broker that stopped sending them).
    auto got = receive(st, std::chrono::milliseconds{0});
    if (!got || *got)
      return got;
    auto left = until(deadline);
    if (left.count() <= 0)
      return got;
    // rabbitmq-c's buffer is empty now (it tried to read): the socket
    // tells when more comes. (With TLS, OpenSSL reads one record at a time,
    // leaving the rest in the socket.)
    auto woken = await_socket(st, left, wake_fd);
    if (!woken)
      return std::move(woken.error());
    if (*woken)
      return std::optional<delivery>{};
  }
}

caf::expected<std::optional<delivery>>
connection::get(const std::string& queue) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  amqp_maybe_release_buffers(st.state);
  auto reply = amqp_basic_get(st.state, channel, bytes_of(queue), 1);
  if (auto err = st.check(reply, "get from " + queue, rpc_kind::declaration))
    return err;
  if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
    return std::optional<delivery>{};
  auto* ok = static_cast<amqp_basic_get_ok_t*>(reply.reply.decoded);
  delivery d;
  d.tag = ok->delivery_tag;
  d.redelivered = ok->redelivered != 0;
  d.exchange = to_string(ok->exchange);
  d.routing_key = to_string(ok->routing_key);
  amqp_message_t msg;
  if (auto err = st.check(amqp_read_message(st.state, channel, &msg, 0),
                          "get from " + queue, rpc_kind::stream))
    return err;
  d.msg = to_message(msg.properties, msg.body);
  amqp_destroy_message(&msg);
  return std::optional<delivery>{std::move(d)};
}

caf::error connection::ack(uint64_t tag, bool multiple) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  if (auto rc = amqp_basic_ack(st.state, channel, tag, multiple ? 1 : 0);
      rc != 0)
    return st.library_error(rc, "ack");
  return caf::none;
}

caf::error connection::reject(uint64_t tag, bool requeue) {
  auto& st = *impl_;
  if (auto err = st.require_usable())
    return err;
  if (auto rc = amqp_basic_reject(st.state, channel, tag, requeue ? 1 : 0);
      rc != 0)
    return st.library_error(rc, "reject");
  return caf::none;
}

} // namespace herald::amqp
