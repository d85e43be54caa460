#define CAF_SUITE amqp_codec

// The AMQP bridge's pure parts: the wire codec (CloudEvents, go-micro), the
// route parser, topic patterns and how the broker is described.

#include "bridges/amqp/codec.hpp"

#include "tests/test.hpp"

#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

#include "bridges/amqp/publisher.hpp"
#include "bridges/amqp/settings.hpp"

using namespace herald;
using namespace herald::amqp;
using herald::test::code_of;
using json = nlohmann::json;

namespace {

/// Checks that `res` failed with invalid_argument and a message containing
/// `needle`.
#define CHECK_INVALID(res, needle)                                             \
  CHECK_REJECTED(res, ec::invalid_argument, needle)

event sample() {
  event ev;
  ev.id = "5f1c7e2a-8a34-4c1e-9d55-0d9a1b2c3d4e";
  ev.topic = "user.created";
  ev.time = 1700000000123;
  ev.source = "node-1";
  ev.key = "user:42";
  ev.data = R"({"user_id":42,"name":"Zoë","email":"zoe@example.org",)"
            R"("role":"user"})";
  ev.seq = 7;
  ev.attempts = 2;
  return ev;
}

/// What the consumer gets for a published message.
delivery deliver(message msg, std::string routing_key,
                 std::string exchange = "herald.events") {
  delivery d;
  d.tag = 1;
  d.exchange = std::move(exchange);
  d.routing_key = std::move(routing_key);
  d.msg = std::move(msg);
  return d;
}

/// A well-formed CloudEvent body, to be spoiled by the tests.
json ce_body() {
  return json{{"specversion", "1.0"},
              {"id", "e-1"},
              {"source", "go-service"},
              {"type", "user.created"},
              {"time", "2023-11-14T22:13:20.123Z"},
              {"datacontenttype", "application/json"},
              {"data", {{"user_id", "u-9"}, {"email", "a@b.c"}}}};
}

caf::expected<event> decode_ce(const json& body,
                               std::string content_type
                               = "application/cloudevents+json") {
  message msg;
  msg.body = body.dump();
  msg.content_type = std::move(content_type);
  return decode(deliver(msg, "user.created"), wire_format::cloudevents);
}

} // namespace

// -- CloudEvents
// ---------------------------------------------------------------

CAF_TEST(cloudevents encoding has every attribute with its type) {
  auto msg = encode(sample(), wire_format::cloudevents, "fallback");
  CAF_CHECK_EQUAL(msg.content_type, "application/cloudevents+json");
  CAF_CHECK_EQUAL(msg.message_id, sample().id);
  CAF_CHECK_EQUAL(msg.timestamp, 1700000000);
  CAF_CHECK(msg.persistent);
  CAF_CHECK(msg.headers.empty());
  auto body = json::parse(msg.body);
  CAF_REQUIRE(body.is_object());
  CAF_CHECK_EQUAL(body.size(), 7u);
  CAF_CHECK_EQUAL(body["specversion"], "1.0");
  CAF_CHECK_EQUAL(body["id"], sample().id);
  CAF_CHECK_EQUAL(body["source"], "node-1");
  CAF_CHECK_EQUAL(body["type"], "user.created");
  CAF_CHECK_EQUAL(body["time"], "2023-11-14T22:13:20.123Z");
  CAF_CHECK_EQUAL(body["datacontenttype"], "application/json");
  // data is embedded as an object, not as a string.
  CAF_CHECK(body["data"].is_object());
  CAF_CHECK_EQUAL(body["data"], json::parse(sample().data));
  CAF_CHECK_EQUAL(body["data"]["name"], "Zoë");
}

CAF_TEST(cloudevents data that is not a JSON object travels as a string) {
  auto ev = sample();
  // (A byte order mark: JSON for a parser, but not inside the envelope.)
  for (std::string data :
       {"not json", "[1,2]", "{\"a\":1} trailing", "{\"bad\":\"\xff\xfe\"}", "",
        "\xEF\xBB\xBF{\"a\":1}"}) {
    ev.data = data;
    auto body = json::parse(encode(ev, wire_format::cloudevents, "x").body);
    CAF_REQUIRE(body.contains("data"));
    CAF_CHECK(body["data"].is_string());
    CAF_CHECK_EQUAL(body["id"], ev.id);
  }
  // An object with white space and escapes is embedded as the object.
  ev.data = " {\n \"name\": \"a \\\"b\\\" \u00e9\", \"n\": [1, {}]}\n";
  auto body = json::parse(encode(ev, wire_format::cloudevents, "x").body);
  CAF_CHECK_EQUAL(body["data"], json::parse(ev.data));
  // Attributes with characters JSON must escape.
  ev.id = "id \"quoted\" \\ \n";
  ev.topic = "user.created";
  body = json::parse(encode(ev, wire_format::cloudevents, "x").body);
  CAF_CHECK_EQUAL(body["id"], ev.id);
}

CAF_TEST(cloudevents source falls back to the configured one) {
  auto ev = sample();
  ev.source.clear();
  auto body = json::parse(encode(ev, wire_format::cloudevents, "node-9").body);
  CAF_CHECK_EQUAL(body["source"], "node-9");
}

CAF_TEST(cloudevents round trip) {
  auto ev = sample();
  auto msg = encode(ev, wire_format::cloudevents, "x");
  auto back = decode(deliver(msg, ev.topic), wire_format::cloudevents);
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->id, ev.id);
  CAF_CHECK_EQUAL(back->topic, ev.topic);
  CAF_CHECK_EQUAL(back->time, ev.time);
  CAF_CHECK_EQUAL(back->source, ev.source);
  CAF_CHECK_EQUAL(back->key, "user:42");
  CAF_CHECK_EQUAL(json::parse(back->data), json::parse(ev.data));
  CAF_CHECK_EQUAL(back->seq, 0u);
  CAF_CHECK_EQUAL(back->attempts, 0u);
}

CAF_TEST(cloudevents decoding of an outside event) {
  auto ev = decode_ce(ce_body(), "application/cloudevents+json; charset=utf-8");
  CAF_REQUIRE(ev);
  CAF_CHECK_EQUAL(ev->id, "e-1");
  CAF_CHECK_EQUAL(ev->source, "go-service");
  CAF_CHECK_EQUAL(ev->key, "user:u-9");
  CAF_CHECK_EQUAL(ev->time, 1700000000123);
  // application/json with a CloudEvent body is taken too.
  CAF_CHECK(decode_ce(ce_body(), "application/json"));
  // Without user_id the key is the id; without time it comes from the
  // message.
  auto body = ce_body();
  body["data"].erase("user_id");
  body.erase("time");
  message msg;
  msg.body = body.dump();
  msg.content_type = "application/cloudevents+json";
  msg.timestamp = 1600000000;
  auto plain = decode(deliver(msg, "user.created"), wire_format::cloudevents);
  CAF_REQUIRE(plain);
  CAF_CHECK_EQUAL(plain->key, "e-1");
  CAF_CHECK_EQUAL(plain->time, 1600000000000);
}

CAF_TEST(cloudevents decoding failures) {
  message junk;
  junk.content_type = "application/cloudevents+json";
  junk.body = "{not json";
  CHECK_INVALID(decode(deliver(junk, "t"), wire_format::cloudevents),
                "not JSON");
  CHECK_INVALID(decode_ce(json::array({1, 2})), "not a JSON object");
  CHECK_INVALID(decode_ce(ce_body(), "text/plain"), "content type");
  CHECK_INVALID(decode_ce(ce_body(), ""), "content type");
  for (auto name : {"id", "type", "source", "specversion"}) {
    auto body = ce_body();
    body.erase(name);
    CHECK_INVALID(decode_ce(body), std::string{"has no "} + name);
  }
  auto body = ce_body();
  body["id"] = "";
  CHECK_INVALID(decode_ce(body), "id is not a non-empty string");
  body = ce_body();
  body["type"] = 5;
  CHECK_INVALID(decode_ce(body), "type is not a non-empty string");
  body = ce_body();
  body["specversion"] = "0.3";
  CHECK_INVALID(decode_ce(body), "specversion");
  body["specversion"] = 1.0;
  CHECK_INVALID(decode_ce(body), "specversion");
  body = ce_body();
  body["data"] = "{\"user_id\":1}";
  CHECK_INVALID(decode_ce(body), "data is not a JSON object");
  body.erase("data");
  CHECK_INVALID(decode_ce(body), "has no data");
  body = ce_body();
  body["time"] = "yesterday";
  CHECK_INVALID(decode_ce(body), "time");
  body = ce_body();
  body["datacontenttype"] = "text/xml";
  CHECK_INVALID(decode_ce(body), "datacontenttype");
}

CAF_TEST(cloudevents carry the request id as the requestid extension) {
  auto ev = sample();
  auto plain = json::parse(encode(ev, wire_format::cloudevents, "x").body);
  CAF_CHECK(!plain.contains("requestid"));
  ev.request_id = "r-0123456789abcdef";
  auto msg = encode(ev, wire_format::cloudevents, "x");
  auto body = json::parse(msg.body);
  CAF_CHECK_EQUAL(body.size(), 8u);
  CAF_CHECK_EQUAL(body["requestid"], "r-0123456789abcdef");
  // An extension name as CloudEvents 1.0 allows: a-z0-9, at most 20.
  for (auto& [name, value] : body.items()) {
    CAF_CHECK_LESS_OR_EQUAL(name.size(), 20u);
    for (auto c : name)
      CAF_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
  auto back = decode(deliver(msg, ev.topic), wire_format::cloudevents);
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->request_id, "r-0123456789abcdef");
  CAF_CHECK_EQUAL(json::parse(back->data), json::parse(ev.data));
  // Data that is not an object travels as a string, the attribute with it.
  ev.data = "not json";
  body = json::parse(encode(ev, wire_format::cloudevents, "x").body);
  CAF_CHECK_EQUAL(body["requestid"], "r-0123456789abcdef");
  // The micro format has no place for it and is unchanged.
  CAF_CHECK_EQUAL(encode(sample(), wire_format::micro, "x").headers.size(), 3u);
}

CAF_TEST(cloudevents decoding keeps a well formed requestid only) {
  auto body = ce_body();
  body["requestid"] = "gw-7:abc.DEF_1";
  auto ev = decode_ce(body);
  CAF_REQUIRE(ev);
  CAF_CHECK_EQUAL(ev->request_id, "gw-7:abc.DEF_1");
  CAF_CHECK_EQUAL(decode_ce(ce_body())->request_id, "");
  // A bad trace attribute is dropped; the event is still taken.
  for (auto bad : {json(5), json(""), json("two words"), json("line\nbreak"),
                   json(std::string(65, 'a')), json::object()}) {
    body["requestid"] = bad;
    auto res = decode_ce(body);
    CAF_REQUIRE(res);
    CAF_CHECK_EQUAL(res->request_id, "");
    CAF_CHECK_EQUAL(res->id, "e-1");
  }
  body["requestid"] = std::string(64, 'a');
  CAF_CHECK_EQUAL(decode_ce(body)->request_id, std::string(64, 'a'));
}

CAF_TEST(rfc 3339 times) {
  CAF_CHECK_EQUAL(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_rfc3339_ms(1700000000123), "2023-11-14T22:13:20.123Z");
  CAF_CHECK_EQUAL(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
  CAF_CHECK_EQUAL(parse_rfc3339("2023-11-14T22:13:20.123Z"), 1700000000123);
  CAF_CHECK_EQUAL(parse_rfc3339("2023-11-14T22:13:20Z"), 1700000000000);
  CAF_CHECK_EQUAL(parse_rfc3339("2023-11-14T23:13:20.5+01:00"), 1700000000500);
  CAF_CHECK_EQUAL(parse_rfc3339("2023-11-14t22:13:20.123456789z"),
                  1700000000123);
  for (auto bad :
       {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T00:00:00Z",
        "2023-02-30T00:00:00Z", "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20Zjunk", "2023-11-14T22:13:20+0100"})
    CAF_CHECK(!parse_rfc3339(bad));
}

CAF_TEST(rfc 3339 times agree with the C library) {
  // The C library's gmtime_r is the judge; every value also reads back.
  auto reference = [](int64_t unix_ms) {
    auto secs = unix_ms / 1000 - (unix_ms % 1000 < 0 ? 1 : 0);
    auto ms = unix_ms - secs * 1000;
    auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[80];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return std::string{buf};
  };
  constexpr int64_t day = 86400000;
  std::vector<int64_t> values = {0,
                                 -1,
                                 1,
                                 day - 1,
                                 day,
                                 -day,
                                 -day - 1,
                                 951782400000,     // 2000-02-29
                                 951868800000,     // 2000-03-01
                                 -2203891200000,   // 1900-03-01
                                 4107456000000,    // 2100-02-28
                                 4107542400000,    // 2100-03-01
                                 253402300799999,  // 9999-12-31T23:59:59.999
                                 -62167219200000}; // 0000-01-01
  std::mt19937_64 rng{42};
  std::uniform_int_distribution<int64_t> any{-62167219200000, 253402300799999};
  for (int i = 0; i < 20000; ++i)
    values.push_back(any(rng));
  for (auto x : values) {
    auto text = format_rfc3339_ms(x);
    CAF_CHECK_EQUAL(text, reference(x));
    if (x >= 0)
      CAF_CHECK_EQUAL(parse_rfc3339(text), x);
  }
}

// -- go-micro
// ------------------------------------------------------------------

CAF_TEST(micro encoding puts data in the body and strings in headers) {
  auto ev = sample();
  auto msg = encode(ev, wire_format::micro, "x");
  CAF_CHECK_EQUAL(msg.body, ev.data);
  CAF_CHECK_EQUAL(msg.content_type, "application/json");
  CAF_CHECK_EQUAL(msg.message_id, ev.id);
  CAF_CHECK_EQUAL(msg.timestamp, 1700000000);
  CAF_CHECK(msg.persistent);
  CAF_CHECK_EQUAL(msg.headers.size(), 3u);
  CAF_CHECK_EQUAL(msg.headers["Content-Type"], "application/json");
  CAF_CHECK_EQUAL(msg.headers["Micro-Topic"], "user.created");
  CAF_CHECK_EQUAL(msg.headers["Micro-Id"], ev.id);
  auto back = decode(deliver(msg, ev.topic, "micro"), wire_format::micro);
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->id, ev.id);
  CAF_CHECK_EQUAL(back->topic, ev.topic);
  CAF_CHECK_EQUAL(back->key, "user:42");
  CAF_CHECK_EQUAL(back->data, ev.data);
  CAF_CHECK_EQUAL(back->time, 1700000000000);
}

CAF_TEST(micro decoding of what a go - micro service sends) {
  // go-micro sets only the headers; no message id, no timestamp.
  message msg;
  msg.body = R"({"id":"7","email":"x@y.z"})";
  msg.headers = {{"Content-Type", "application/json"},
                 {"Micro-Topic", "create.password.reset"}};
  auto ev = decode(deliver(msg, "ignored.key", "micro"), wire_format::micro);
  CAF_REQUIRE(ev);
  CAF_CHECK_EQUAL(ev->topic, "create.password.reset");
  CAF_CHECK_EQUAL(ev->id.rfind("micro-", 0), 0u);
  CAF_CHECK_EQUAL(ev->id.size(), 6u + 64u);
  CAF_CHECK_EQUAL(ev->key, ev->id);
  // The same message again gets the same id; another body another one.
  auto again = decode(deliver(msg, "ignored.key", "micro"), wire_format::micro);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->id, ev->id);
  auto other = msg;
  other.body = R"({"id":"8","email":"x@y.z"})";
  auto third = decode(deliver(other, "k", "micro"), wire_format::micro);
  CAF_REQUIRE(third);
  CAF_CHECK_NOT_EQUAL(third->id, ev->id);
  // Without Micro-Topic the routing key is the topic; message_id is the id
  // when there is no Micro-Id.
  msg.headers.erase("Micro-Topic");
  msg.message_id = "m-1";
  auto keyed
      = decode(deliver(msg, "user.deleted", "micro"), wire_format::micro);
  CAF_REQUIRE(keyed);
  CAF_CHECK_EQUAL(keyed->topic, "user.deleted");
  CAF_CHECK_EQUAL(keyed->id, "m-1");
}

CAF_TEST(micro decoding failures) {
  message msg;
  msg.headers = {{"Micro-Topic", "user.created"}};
  for (auto body : {"", "[1,2]", "\"text\"", "{broken", "42"}) {
    msg.body = body;
    CHECK_INVALID(decode(deliver(msg, "user.created"), wire_format::micro),
                  "not a JSON object");
  }
  msg.body = "{}";
  msg.headers.clear();
  CHECK_INVALID(decode(deliver(msg, ""), wire_format::micro), "no topic");
}

// -- route settings
// ------------------------------------------------------------

CAF_TEST(outbound routes) {
  auto r = parse_outbound("topics=user.*,password.# exchange=herald.events");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->topics,
                  (std::vector<std::string>{"user.*", "password.#"}));
  CAF_CHECK_EQUAL(r->exchange, "herald.events");
  CAF_CHECK(r->durable);
  CAF_CHECK(r->format == wire_format::cloudevents);
  r = parse_outbound("  exchange=micro\ttopics=user.created  durable=false "
                     "format=micro ");
  CAF_REQUIRE(r);
  CAF_CHECK(!r->durable);
  CAF_CHECK(r->format == wire_format::micro);
  CHECK_INVALID(parse_outbound(""), "missing topics=");
  CHECK_INVALID(parse_outbound("topics=user.*"), "missing exchange=");
  CHECK_INVALID(parse_outbound("exchange=x"), "missing topics=");
  CHECK_INVALID(parse_outbound("topics=a exchange="), "exchange must not be");
  CHECK_INVALID(parse_outbound("topics= exchange=x"), "at least one topic");
  CHECK_INVALID(parse_outbound("topics=a,,b exchange=x"), "empty topic");
  CHECK_INVALID(parse_outbound("topics=a, exchange=x"), "empty topic");
  CHECK_INVALID(parse_outbound("topics=user* exchange=x"), "whole words");
  CHECK_INVALID(parse_outbound("topics=a exchange=x colour=red"),
                "unknown key 'colour'");
  CHECK_INVALID(parse_outbound("topics=a exchange=x exchange=y"), "twice");
  CHECK_INVALID(parse_outbound("topics=a exchange=x durable=yes"),
                "durable must be true or false");
  CHECK_INVALID(parse_outbound("topics=a exchange=x format=xml"),
                "format must be cloudevents or micro");
  CHECK_INVALID(parse_outbound("topics=a exchange=x stray"), "key=value");
  CHECK_INVALID(parse_outbound("topics=a exchange=amq.topic"), "amq.");
  CHECK_INVALID(parse_outbound("topics=a exchange=a/b"), "may hold only");
}

CAF_TEST(inbound routes) {
  auto r = parse_inbound("queue=herald.mailer exchange=herald.events "
                         "bind=user.created,password.reset_requested "
                         "handler=mailer");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->queue, "herald.mailer");
  CAF_CHECK_EQUAL(r->exchange, "herald.events");
  CAF_CHECK_EQUAL(
      r->bindings,
      (std::vector<std::string>{"user.created", "password.reset_requested"}));
  CAF_CHECK_EQUAL(r->handler, "mailer");
  CAF_CHECK(r->exchange_durable);
  CAF_CHECK(r->format == wire_format::cloudevents);
  r = parse_inbound("queue=q exchange=micro bind=# handler=mailer "
                    "durable=false format=micro");
  CAF_REQUIRE(r);
  CAF_CHECK(!r->exchange_durable);
  CAF_CHECK(r->format == wire_format::micro);
  CHECK_INVALID(parse_inbound("exchange=x bind=a handler=h"), "missing queue=");
  CHECK_INVALID(parse_inbound("queue=q bind=a handler=h"), "missing exchange=");
  CHECK_INVALID(parse_inbound("queue=q exchange=x handler=h"), "missing bind=");
  CHECK_INVALID(parse_inbound("queue=q exchange=x bind=a"), "missing handler=");
  CHECK_INVALID(parse_inbound("queue= exchange=x bind=a handler=h"),
                "queue must not be empty");
  CHECK_INVALID(parse_inbound("queue=q exchange=x bind=a handler="),
                "handler must not be empty");
  CHECK_INVALID(parse_inbound("queue=q exchange=x bind=a handler=h topics=a"),
                "unknown key 'topics'");
  CHECK_INVALID(
      parse_inbound("queue=q exchange=x bind=a handler=h format=json"),
      "format");
}

CAF_TEST(topic patterns) {
  CAF_CHECK(topic_matches("user.created", "user.created"));
  CAF_CHECK(!topic_matches("user.created", "user.deleted"));
  CAF_CHECK(topic_matches("user.*", "user.created"));
  CAF_CHECK(!topic_matches("user.*", "user"));
  CAF_CHECK(!topic_matches("user.*", "user.password.changed"));
  CAF_CHECK(topic_matches("*.created", "user.created"));
  CAF_CHECK(topic_matches("user.#", "user"));
  CAF_CHECK(topic_matches("user.#", "user.password.changed"));
  CAF_CHECK(!topic_matches("user.#", "users.created"));
  CAF_CHECK(topic_matches("#", "anything.at.all"));
  CAF_CHECK(topic_matches("#", ""));
  CAF_CHECK(topic_matches("#.changed", "user.password.changed"));
  CAF_CHECK(topic_matches("#.changed", "changed"));
  CAF_CHECK(topic_matches("user.#.changed", "user.changed"));
  CAF_CHECK(!topic_matches("user.#.changed", "user.changed.not"));
  CAF_CHECK(topic_matches("*.*", "a.b"));
  CAF_CHECK(!topic_matches("*.*", "a.b.c"));
  CAF_CHECK(!topic_matches("*", ""));
}

CAF_TEST(first matching outbound route wins) {
  amqp_settings s;
  s.outbound.push_back(*parse_outbound("topics=user.created exchange=a"));
  s.outbound.push_back(*parse_outbound("topics=user.# exchange=b"));
  CAF_CHECK_EQUAL(route_of(s, "user.created"), std::optional<size_t>{0});
  CAF_CHECK_EQUAL(route_of(s, "user.deleted"), std::optional<size_t>{1});
  CAF_CHECK(!route_of(s, "password.reset_requested"));
}

CAF_TEST(the broker is described without its password) {
  CAF_CHECK_EQUAL(describe_broker("amqp://guest:s3cret@127.0.0.1:5673/"),
                  "amqp://guest@127.0.0.1:5673/");
  CAF_CHECK_EQUAL(describe_broker("amqps://app:p%40ss@mq.example.org/prod"),
                  "amqps://app@mq.example.org:5671/prod");
  CAF_CHECK_EQUAL(describe_broker("amqp://u:pw@h:1/%2f"), "amqp://u@h:1/");
  auto bad = describe_broker("http://user:s3cret@host/");
  CAF_CHECK_EQUAL(bad.find("s3cret"), std::string::npos);
  bad = describe_broker("amqp://user:s3cr/et@host/");
  CAF_CHECK_EQUAL(bad.find("s3cr"), std::string::npos);
}
