#include "bridges/amqp/session.hpp"

#include <algorithm>
#include <utility>

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

namespace herald::amqp::detail {

namespace {

/// Largest frame we accept (rabbitmq-c's default).
constexpr int frame_max = 131072;

} // namespace

// -- conversions
// ---------------------------------------------------------------

amqp_bytes_t bytes_of(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string to_string(amqp_bytes_t b) {
  if (b.len == 0)
    return {};
  return std::string{static_cast<const char*>(b.bytes), b.len};
}

timeval to_timeval(std::chrono::milliseconds d) {
  auto ms = std::max<int64_t>(d.count(), 0);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

namespace {

std::optional<std::string> header_text(const amqp_field_value_t& v) {
  switch (v.kind) {
  case AMQP_FIELD_KIND_UTF8:
  case AMQP_FIELD_KIND_BYTES:
    return to_string(v.value.bytes);
  case AMQP_FIELD_KIND_BOOLEAN:
    return std::string{v.value.boolean ? "true" : "false"};
  case AMQP_FIELD_KIND_I8:
    return std::to_string(v.value.i8);
  case AMQP_FIELD_KIND_U8:
    return std::to_string(v.value.u8);
  case AMQP_FIELD_KIND_I16:
    return std::to_string(v.value.i16);
  case AMQP_FIELD_KIND_U16:
    return std::to_string(v.value.u16);
  case AMQP_FIELD_KIND_I32:
    return std::to_string(v.value.i32);
  case AMQP_FIELD_KIND_U32:
    return std::to_string(v.value.u32);
  case AMQP_FIELD_KIND_I64:
    return std::to_string(v.value.i64);
  case AMQP_FIELD_KIND_U64:
  case AMQP_FIELD_KIND_TIMESTAMP:
    return std::to_string(v.value.u64);
  default:
    return std::nullopt;
  }
}

} // namespace

message to_message(const amqp_basic_properties_t& p, amqp_bytes_t body) {
  message m;
  m.body = to_string(body);
  if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
    m.content_type = to_string(p.content_type);
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
    m.message_id = to_string(p.message_id);
  m.timestamp = (p._flags & AMQP_BASIC_TIMESTAMP_FLAG)
                    ? static_cast<int64_t>(p.timestamp)
                    : 0;
  m.persistent
      = (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && p.delivery_mode == 2;
  if (p._flags & AMQP_BASIC_HEADERS_FLAG)
    for (int i = 0; i < p.headers.num_entries; ++i) {
      auto& entry = p.headers.entries[i];
      if (auto text = header_text(entry.value))
        m.headers.emplace(to_string(entry.key), std::move(*text));
    }
  return m;
}

amqp_basic_properties_t
properties_of(const message& msg, std::vector<amqp_table_entry_t>& entries) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = msg.persistent ? 2 : 1;
  if (!msg.content_type.empty()) {
    props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.content_type = bytes_of(msg.content_type);
  }
  if (!msg.message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = bytes_of(msg.message_id);
  }
  if (msg.timestamp > 0) {
    props._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    props.timestamp = static_cast<uint64_t>(msg.timestamp);
  }
  if (!msg.headers.empty()) {
    entries.clear();
    for (auto& [key, value] : msg.headers) {
      amqp_table_entry_t entry{};
      entry.key = bytes_of(key);
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = bytes_of(value);
      entries.push_back(entry);
    }
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers.num_entries = static_cast<int>(entries.size());
    props.headers.entries = entries.data();
  }
  return props;
}

// -- session
// -------------------------------------------------------------------

session::~session() {
  if (state == nullptr)
    return;
  if (open)
    amqp_connection_close(state, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(state);
}

caf::error session::connect(const amqp_settings& settings) {
  broker = describe_broker(settings.url);
  // amqp_parse_url cuts its argument into pieces; the copy holds the
  // password and is wiped once the login is done.
  std::string url = settings.url;
  struct wipe {
    std::string& s;
    ~wipe() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe_url{url};
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK)
    return caf::make_error(ec::invalid_argument,
                           "amqp url is not valid: expected "
                           "amqp[s]://user:password@host:port/vhost");
  state = amqp_new_connection();
  if (state == nullptr)
    return caf::make_error(ec::internal,
                           std::string{"amqp_new_connection failed"});
  amqp_socket_t* sock = nullptr;
  if (info.ssl) {
    sock = amqp_ssl_socket_new(state);
    if (sock == nullptr)
      return caf::make_error(ec::internal,
                             std::string{"amqp_ssl_socket_new failed"});
    if (!settings.ca_file.empty()) {
      if (amqp_ssl_socket_set_cacert(sock, settings.ca_file.c_str())
          != AMQP_STATUS_OK)
        return caf::make_error(ec::invalid_argument, "amqp ca_file "
                                                         + settings.ca_file
                                                         + " cannot be read");
    } else {
      auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(sock));
      SSL_CTX_set_default_verify_paths(ctx);
    }
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 1);
  } else {
    sock = amqp_tcp_socket_new(state);
    if (sock == nullptr)
      return caf::make_error(ec::internal,
                             std::string{"amqp_tcp_socket_new failed"});
  }
  auto limit = to_timeval(settings.connect_timeout);
  if (auto rc = amqp_socket_open_noblock(sock, info.host, info.port, &limit);
      rc != AMQP_STATUS_OK)
    return library_error(rc, "cannot connect");
  amqp_set_handshake_timeout(state, &limit);
  amqp_set_rpc_timeout(state, &limit);
  open = true;
  std::string vhost = *info.vhost != '\0' ? info.vhost : "/";
  auto heartbeat = static_cast<int>(settings.heartbeat.count());
  // consumer_cancel_notify: a consumer whose queue is deleted learns it
  // (basic.cancel) instead of waiting forever.
  amqp_table_entry_t capabilities[2]{};
  capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
  capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[0].value.value.boolean = 1;
  capabilities[1].key = amqp_cstring_bytes("authentication_failure_close");
  capabilities[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[1].value.value.boolean = 1;
  amqp_table_entry_t client[2]{};
  client[0].key = amqp_cstring_bytes("capabilities");
  client[0].value.kind = AMQP_FIELD_KIND_TABLE;
  client[0].value.value.table = amqp_table_t{2, capabilities};
  client[1].key = amqp_cstring_bytes("connection_name");
  client[1].value.kind = AMQP_FIELD_KIND_UTF8;
  client[1].value.value.bytes = amqp_cstring_bytes("herald");
  amqp_table_t properties{2, client};
  auto reply = amqp_login_with_properties(
      state, vhost.c_str(), 0, frame_max, heartbeat, &properties,
      AMQP_SASL_METHOD_PLAIN, info.user, info.password);
  if (auto err = check(reply, "login", rpc_kind::login))
    return err;
  amqp_channel_open(state, channel);
  if (auto err
      = check(amqp_get_rpc_reply(state), "open channel", rpc_kind::declaration))
    return err;
  usable = true;
  return caf::none;
}

caf::error session::make(ec code, const std::string& text) const {
  return caf::make_error(code, "amqp " + broker + ": " + text);
}

caf::error session::refusal(const std::string& text) const {
  return make(ec::unavailable, text);
}

caf::error session::require_usable() const {
  if (usable)
    return caf::none;
  return make(ec::unavailable, "connection not usable");
}

caf::error session::library_error(int status, const std::string& what) {
  usable = false;
  open = false;
  return make(ec::unavailable, what + ": " + amqp_error_string2(status));
}

caf::error session::closed(const amqp_method_t& method, const std::string& what,
                           rpc_kind kind) {
  usable = false;
  uint16_t code = 0;
  std::string text;
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* m = static_cast<amqp_connection_close_t*>(method.decoded);
    code = m->reply_code;
    text = to_string(m->reply_text);
    amqp_connection_close_ok_t ok{};
    amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    open = false;
  } else if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* m = static_cast<amqp_channel_close_t*>(method.decoded);
    code = m->reply_code;
    text = to_string(m->reply_text);
    amqp_channel_close_ok_t ok{};
    amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  } else {
    text = std::string{"unexpected method "} + amqp_method_name(method.id);
  }
  auto herald_code = ec::unavailable;
  if (kind != rpc_kind::stream) {
    if (code == AMQP_ACCESS_REFUSED
        || (kind == rpc_kind::login && code == AMQP_NOT_ALLOWED))
      herald_code = ec::forbidden;
    else if (kind == rpc_kind::declaration
             && (code == AMQP_NOT_FOUND || code == AMQP_PRECONDITION_FAILED))
      herald_code = ec::invalid_argument;
  }
  return make(herald_code,
              what + ": " + text + " (" + std::to_string(code) + ")");
}

caf::error session::check(const amqp_rpc_reply_t& reply,
                          const std::string& what, rpc_kind kind) {
  switch (reply.reply_type) {
  case AMQP_RESPONSE_NORMAL:
    return caf::none;
  case AMQP_RESPONSE_NONE:
    usable = false;
    return make(ec::unavailable, what + ": no reply");
  case AMQP_RESPONSE_LIBRARY_EXCEPTION:
    return library_error(reply.library_error, what);
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    return closed(reply.reply, what, kind);
  }
  return make(ec::internal, what + ": unknown reply type");
}

caf::expected<returned_message>
session::read_return(const amqp_frame_t& frame) {
  auto* m = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
  returned_message ret;
  ret.exchange = to_string(m->exchange);
  ret.routing_key = to_string(m->routing_key);
  ret.reason = "unroutable: no queue bound for " + ret.routing_key + " on "
               + (ret.exchange.empty() ? "the default exchange" : ret.exchange)
               + " (" + std::to_string(m->reply_code) + " "
               + to_string(m->reply_text) + ")";
  amqp_message_t msg;
  auto reply = amqp_read_message(state, frame.channel, &msg, 0);
  if (auto err = check(reply, "reading a returned message", rpc_kind::stream))
    return err;
  if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
    ret.message_id = to_string(msg.properties.message_id);
  amqp_destroy_message(&msg);
  return ret;
}

caf::error session::handle_other(const amqp_frame_t& frame) {
  if (frame.frame_type != AMQP_FRAME_METHOD)
    return caf::none;
  switch (frame.payload.method.id) {
  case AMQP_BASIC_DELIVER_METHOD: {
    auto* m = static_cast<amqp_basic_deliver_t*>(frame.payload.method.decoded);
    delivery d;
    d.tag = m->delivery_tag;
    d.redelivered = m->redelivered != 0;
    d.exchange = to_string(m->exchange);
    d.routing_key = to_string(m->routing_key);
    amqp_message_t msg;
    auto reply = amqp_read_message(state, frame.channel, &msg, 0);
    if (auto err = check(reply, "reading a delivery", rpc_kind::stream))
      return err;
    d.msg = to_message(msg.properties, msg.body);
    amqp_destroy_message(&msg);
    stash.push_back(std::move(d));
    return caf::none;
  }
  case AMQP_CHANNEL_CLOSE_METHOD:
  case AMQP_CONNECTION_CLOSE_METHOD:
    return closed(frame.payload.method, "closed by the broker",
                  rpc_kind::stream);
  case AMQP_BASIC_CANCEL_METHOD:
    usable = false;
    return make(ec::unavailable,
                "the broker cancelled the consumer (queue deleted?)");
  default:
    // Stale confirms and returns of a batch that timed out, and the like.
    return caf::none;
  }
}

} // namespace herald::amqp::detail
