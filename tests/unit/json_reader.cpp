#define CAF_SUITE json_reader

// The bridge's one-pass JSON reading (bridges/amqp/json_text,
// cloudevent_reader) judged by nlohmann::json, a parser nobody here wrote: on
// hand-picked edge cases and on thousands of generated and mangled documents (a
// fixed seed, so a failure repeats), both must take and refuse the same texts,
// and what the reader extracts must equal what nlohmann's tree holds.

#include "bridges/amqp/cloudevent_reader.hpp"

#include "tests/test.hpp"

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bridges/amqp/codec.hpp"

using namespace herald;
using namespace herald::amqp;
using json = nlohmann::json;

namespace {

/// nlohmann's answer for read_object(text).object.
bool oracle_object(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return !j.is_discarded() && j.is_object();
}

/// nlohmann's answer for read_object(text).user_id.
std::optional<std::string> oracle_user_id(const json& object) {
  auto i = object.find("user_id");
  if (i == object.end())
    return std::nullopt;
  if (i->is_number_unsigned())
    return std::to_string(i->get<uint64_t>());
  if (i->is_number_integer())
    return std::to_string(i->get<int64_t>());
  if (i->is_string() && !i->get_ref<const std::string&>().empty())
    return i->get<std::string>();
  return std::nullopt;
}

/// Random JSON text of the kinds that trip parsers up: escapes, surrogate
/// pairs, raw UTF-8, numbers at the edges of int64/uint64/double, odd
/// whitespace, nesting, repeated keys.
class generator {
public:
  explicit generator(uint32_t seed) : rng_(seed) {
    // nop
  }

  size_t pick(size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(rng_);
  }

  template <size_t N>
  const char* one_of(const char* const (&xs)[N]) {
    return xs[pick(N)];
  }

  std::string ws() {
    static const char* spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return one_of(spaces);
  }

  std::string string_literal() {
    static const char* parts[] = {"a",
                                  "user_id",
                                  "Zo\xc3\xab",
                                  "\\\"",
                                  "\\\\",
                                  "\\/",
                                  "\\n",
                                  "\\u00e9",
                                  "\\uD83D\\uDE00",
                                  "\\u0000",
                                  "\xf0\x9f\x98\x80",
                                  "\xe2\x82\xac",
                                  "\x7f",
                                  " ",
                                  "id",
                                  "data"};
    std::string result = "\"";
    for (size_t n = pick(4); n > 0; --n)
      result += one_of(parts);
    return result + "\"";
  }

  std::string number() {
    static const char* numbers[] = {"0",
                                    "-0",
                                    "42",
                                    "-7",
                                    "3.25",
                                    "1e5",
                                    "-2.5E-3",
                                    "1e308",
                                    "1e309",
                                    "-1.8e308",
                                    "1e-400",
                                    "9223372036854775807",
                                    "9223372036854775808",
                                    "-9223372036854775808",
                                    "-9223372036854775809",
                                    "18446744073709551615",
                                    "18446744073709551616",
                                    "123456789012345678901234567890"};
    return one_of(numbers);
  }

  std::string value(int depth) {
    switch (depth > 3 ? pick(4) : pick(6)) {
    case 0:
      return string_literal();
    case 1:
      return number();
    case 2: {
      static const char* words[] = {"true", "false", "null"};
      return one_of(words);
    }
    case 3:
      return pick(2) == 0 ? string_literal() : number();
    case 4: {
      std::string result = "[" + ws();
      for (size_t n = pick(4), i = 0; i < n; ++i)
        result += (i > 0 ? "," + ws() : "") + value(depth + 1) + ws();
      return result + "]";
    }
    default:
      return object(depth);
    }
  }

  std::string object(int depth) {
    std::string result = "{" + ws();
    for (size_t n = pick(5), i = 0; i < n; ++i)
      result += (i > 0 ? "," + ws() : "")
                + (pick(3) == 0 ? std::string{"\"user_id\""} : string_literal())
                + ws() + ":" + ws() + value(depth + 1) + ws();
    return result + "}";
  }

  /// `text` with a few bytes replaced, inserted or removed.
  std::string mangle(std::string text) {
    static const char alphabet[] = "{}[],:\"\\u0123456789abcdefABCDEF.eE+-tn "
                                   "\x01\x1f\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0"
                                   "\xf4\xf5\xff";
    for (size_t n = 1 + pick(3); n > 0; --n) {
      auto c = alphabet[pick(sizeof(alphabet) - 1)];
      auto at = text.empty() ? 0 : pick(text.size());
      switch (pick(3)) {
      case 0:
        if (!text.empty())
          text[at] = c;
        break;
      case 1:
        text.insert(text.begin() + static_cast<ptrdiff_t>(at), c);
        break;
      default:
        if (!text.empty())
          text.erase(at, 1);
      }
    }
    return text;
  }

private:
  std::mt19937 rng_;
};

/// Compares the reader with nlohmann on `text`; answers whether it is JSON.
bool same_verdict(const std::string& text) {
  auto accepted = json::accept(text);
  CAF_CHECK_EQUAL(is_json(text), accepted);
  auto object = read_object(text);
  CAF_CHECK_EQUAL(object.json, accepted);
  CAF_CHECK_EQUAL(object.object, accepted && oracle_object(text));
  if (object.object && accepted)
    CAF_CHECK_EQUAL(object.user_id, oracle_user_id(json::parse(text)));
  if (is_json(text) != accepted)
    CAF_MESSAGE("differs on: " << json(text).dump(
                    -1, ' ', true, json::error_handler_t::replace));
  return accepted;
}

} // namespace

CAF_TEST(edge cases are judged as nlohmann judges them) {
  std::vector<std::string> texts = {"",
                                    " ",
                                    "{}",
                                    " {} ",
                                    "\xEF\xBB\xBF{}",
                                    "\xEF\xBB\xBF",
                                    "\xEF\xBB{}",
                                    " \xEF\xBB\xBF{}",
                                    "{} {}",
                                    "{},",
                                    "[1,]",
                                    "{\"a\":1,}",
                                    "{\"a\" 1}",
                                    "{1:2}",
                                    "{\"a\":}",
                                    "[",
                                    "]",
                                    "{\"a\":[1,2,{\"b\":null}]}",
                                    "\f{}",
                                    "\v{}",
                                    "nul",
                                    "nulls",
                                    "tru",
                                    "true",
                                    "[-]",
                                    "[-01]",
                                    "[01]",
                                    "[1.]",
                                    "[.5]",
                                    "[1.5e]",
                                    "[1e+]",
                                    "[1E+2]",
                                    "[-0]",
                                    "[1e308]",
                                    "[1.8e308]",
                                    "[-1e309]",
                                    "[1e-400]",
                                    "[123456789012345678901234567890]",
                                    std::string(400, '9'),
                                    "1" + std::string(400, '0') + ".5",
                                    "\"\\ud800\"",
                                    "\"\\udc00\"",
                                    "\"\\uD83D\\uDE00\"",
                                    "\"\\uD83Dx\"",
                                    "\"\\uD83D\\u0041\"",
                                    "\"\\u00\"",
                                    "\"\\uGGGG\"",
                                    "\"\\a\"",
                                    "\"\\/\"",
                                    "\"\\u0000\"",
                                    std::string("\"\0\"", 3),
                                    "\"\x7f\"",
                                    "\"\t\"",
                                    "\"\xc0\x80\"",
                                    "\"\xc1\xbf\"",
                                    "\"\xc2\x80\"",
                                    "\"\xe0\x9f\xbf\"",
                                    "\"\xe0\xa0\x80\"",
                                    "\"\xed\xa0\x80\"",
                                    "\"\xed\x9f\xbf\"",
                                    "\"\xef\xbf\xbf\"",
                                    "\"\xf0\x8f\xbf\xbf\"",
                                    "\"\xf0\x90\x80\x80\"",
                                    "\"\xf4\x8f\xbf\xbf\"",
                                    "\"\xf4\x90\x80\x80\"",
                                    "\"\xf5\x80\x80\x80\"",
                                    "\"\xe2\x82\"",
                                    "\"\xe2\x82",
                                    "\"abc",
                                    "{\"user_id\":1}",
                                    "{\"user_id\":-0}",
                                    "{\"user_id\":\"\"}",
                                    "{\"user_id\":\"7\"}",
                                    "{\"user_id\":1.0}",
                                    "{\"user_id\":[1]}",
                                    "{\"user_id\":null}",
                                    "{\"user_id\":1,\"user_id\":null}",
                                    "{\"user_id\":null,\"user_id\":2}",
                                    "{\"user_\\u0069d\":3}",
                                    "{\"user_id\":18446744073709551615}",
                                    "{\"user_id\":18446744073709551616}",
                                    "{\"user_id\":-9223372036854775808}",
                                    "{\"user_id\":-9223372036854775809}",
                                    "{\"x\":{\"user_id\":5}}"};
  for (auto& text : texts)
    same_verdict(text);
}

CAF_TEST(deep nesting is read without recursion) {
  auto deep = std::string(100000, '[') + std::string(100000, ']');
  CAF_CHECK(is_json(deep));
  CAF_CHECK(json::accept(deep));
  CAF_CHECK(!is_json(std::string(100000, '[') + std::string(99999, ']')));
  auto deep_object = "{\"data\":" + deep + "}";
  CAF_CHECK(read_object(deep_object).object);
}

CAF_TEST(generated and mangled documents are judged as nlohmann judges them) {
  generator gen{20261123};
  size_t taken = 0;
  size_t refused = 0;
  for (int i = 0; i < 4000; ++i) {
    auto text = gen.pick(4) == 0 ? gen.value(0) : gen.object(0);
    (same_verdict(text) ? taken : refused) += 1;
    for (int j = 0; j < 4; ++j)
      (same_verdict(gen.mangle(text)) ? taken : refused) += 1;
  }
  // Both verdicts were exercised in earnest.
  CAF_MESSAGE(taken << " taken, " << refused << " refused");
  CAF_CHECK_GREATER(taken, 3000u);
  CAF_CHECK_GREATER(refused, 3000u);
}

CAF_TEST(cloudevents decode like nlohmann reads them) {
  generator gen{7};
  size_t decoded = 0;
  for (int i = 0; i < 2000; ++i) {
    // A CloudEvent whose data (and sometimes other members) is generated.
    auto data = gen.object(1);
    std::string body = "{" + gen.ws() + "\"specversion\":\"1.0\","
                       + "\"id\":" + gen.string_literal() + "," + gen.ws()
                       + "\"source\":\"s\",\"type\":\"t\"," + "\"extra\":"
                       + gen.value(1) + ",\"data\":" + data + gen.ws() + "}";
    if (gen.pick(3) == 0)
      body = gen.mangle(body);
    message msg;
    msg.body = body;
    msg.content_type = cloudevents_content_type;
    delivery d;
    d.msg = msg;
    auto ev = decode(d, wire_format::cloudevents);
    auto tree = json::parse(body, nullptr, false);
    auto non_empty_string = [&](const char* name) {
      auto i = tree.find(name);
      return i != tree.end() && i->is_string()
             && !i->get_ref<const std::string&>().empty();
    };
    bool valid = !tree.is_discarded() && tree.is_object()
                 && tree.value("specversion", json{}) == "1.0"
                 && non_empty_string("id") && non_empty_string("source")
                 && non_empty_string("type") && tree.contains("data")
                 && tree["data"].is_object() && !tree.contains("time")
                 && !tree.contains("datacontenttype")
                 && !tree.contains("data_base64");
    CAF_CHECK_EQUAL(static_cast<bool>(ev), valid);
    if (!ev || !valid || !json::accept(ev->data))
      continue;
    ++decoded;
    CAF_CHECK_EQUAL(ev->id, tree["id"].get<std::string>());
    CAF_CHECK_EQUAL(json::parse(ev->data), tree["data"]);
    auto user = oracle_user_id(tree["data"]);
    CAF_CHECK_EQUAL(ev->key, user ? "user:" + *user : ev->id);
  }
  CAF_CHECK_GREATER(decoded, 600u);
}

CAF_TEST(strings come back escaped as JSON) {
  for (std::string text :
       {std::string{}, std::string{"plain"}, std::string{"q\"b\\s/"},
        std::string{"\b\f\n\r\t\x01\x1f"}, std::string("nul\0!", 5),
        std::string{"Zo\xc3\xab \xf0\x9f\x98\x80"}}) {
    std::string out;
    append_json_string(out, text);
    CAF_CHECK(json::accept(out));
    CAF_CHECK_EQUAL(json::parse(out).get<std::string>(), text);
  }
}
