// The rabbitmq-c side of an amqp::connection: the library's connection
// state, how its replies and the broker's refusals map to herald errors, and
// what to do with frames that arrive while waiting for something else.
// Private to connection.cpp; nothing else includes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <amqp.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/settings.hpp"
#include "messages/error.hpp"

namespace herald::amqp::detail {

/// The one channel of a connection.
constexpr amqp_channel_t channel = 1;

/// Borrows the bytes of `s` (rabbitmq-c takes non-const pointers but does not
/// write through them).
amqp_bytes_t bytes_of(const std::string& s);

std::string to_string(amqp_bytes_t b);

/// A non-negative duration as timeval.
timeval to_timeval(std::chrono::milliseconds d);

/// A delivered message's properties and body as a herald message. Headers
/// that are not strings become decimal text or "true"/"false"; tables and
/// arrays are left out.
message to_message(const amqp_basic_properties_t& p, amqp_bytes_t body);

/// The AMQP properties of `msg`; `entries` holds the header table and must
/// live until the publish is done.
amqp_basic_properties_t properties_of(const message& msg,
                                      std::vector<amqp_table_entry_t>& entries);

/// What an RPC was for: decides how a refusal maps to a herald error.
enum class rpc_kind {
  /// 403 and 530 -> forbidden.
  login,
  /// 403 -> forbidden; 404, 406 -> invalid_argument.
  declaration,
  /// Everything -> unavailable (consuming, publishing).
  stream,
};

/// A basic.return with its message read.
struct returned_message {
  std::string exchange;
  std::string routing_key;
  std::string message_id;
  /// "unroutable: no queue bound for <key> on <exchange> (312 NO_ROUTE)".
  std::string reason;
};

struct session {
  amqp_connection_state_t state = nullptr;
  /// The URL without password, for error texts.
  std::string broker;
  /// The AMQP connection is open (closed on destruction).
  bool open = false;
  bool usable = false;
  bool confirms = false;
  /// Delivery tag of the next publish in confirm mode.
  uint64_t next_tag = 1;
  /// Deliveries read while waiting for something else.
  std::deque<delivery> stash;

  session() = default;
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  /// Opens socket (TLS for amqps), logs in, opens the channel; see
  /// connection::open.
  caf::error connect(const amqp_settings& settings);

  /// "amqp <broker>: <text>" with `code`.
  caf::error make(ec code, const std::string& text) const;

  /// A refusal (unavailable) that leaves the connection as it is.
  caf::error refusal(const std::string& text) const;

  /// none if usable, else unavailable.
  caf::error require_usable() const;

  /// A socket-level failure: the connection is gone.
  caf::error library_error(int status, const std::string& what);

  /// The broker closed the channel or the connection: answers close-ok and
  /// maps the reply code per `kind`.
  caf::error closed(const amqp_method_t& method, const std::string& what,
                    rpc_kind kind);

  /// none for a normal reply, else the mapped error.
  caf::error check(const amqp_rpc_reply_t& reply, const std::string& what,
                   rpc_kind kind);

  /// Reads the message after a basic.return frame.
  caf::expected<returned_message> read_return(const amqp_frame_t& frame);

  /// Deals with a frame that came while waiting for something else:
  /// deliveries are kept in `stash`, stale confirms and returns dropped, a
  /// close or a cancelled consumer ends the connection's use (error).
  caf::error handle_other(const amqp_frame_t& frame);
};

} // namespace herald::amqp::detail
