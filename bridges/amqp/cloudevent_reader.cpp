#include "bridges/amqp/cloudevent_reader.hpp"

#include <string_view>

#include "bridges/amqp/json_text.hpp"

namespace herald::amqp {

namespace {

/// The members of the object at the scanner's position, answering user_id as
/// text when it is an integer ("-0" as "0") or a non-empty string.
bool read_user_id(json_scanner& s, std::optional<std::string>& user_id) {
  return s.members([&](const std::string& name) {
    if (name != "user_id")
      return s.skip_value();
    user_id.reset();
    if (s.at('"')) {
      std::string x;
      if (!s.string(&x))
        return false;
      if (!x.empty())
        user_id = std::move(x);
      return true;
    }
    if (s.at_number()) {
      auto start = s.pos();
      bool integer = false;
      if (!s.number(integer))
        return false;
      if (integer) {
        std::string text{start, s.pos()};
        user_id = text == "-0" ? "0" : std::move(text);
      }
      return true;
    }
    return s.skip_value();
  });
}

json_member* member_named(ce_fields& x, const std::string& name) {
  struct entry {
    std::string_view name;
    json_member ce_fields::*member;
  };
  static constexpr entry members[]
      = {{"specversion", &ce_fields::specversion},
         {"id", &ce_fields::id},
         {"source", &ce_fields::source},
         {"type", &ce_fields::type},
         {"time", &ce_fields::time},
         {"datacontenttype", &ce_fields::datacontenttype},
         {"data", &ce_fields::data},
         {"data_base64", &ce_fields::data_base64},
         {"requestid", &ce_fields::requestid}};
  for (auto& m : members)
    if (name == m.name)
      return &(x.*m.member);
  return nullptr;
}

} // namespace

std::string json_member::json() const {
  if (kind != string)
    return value;
  std::string result;
  append_json_string(result, value);
  return result;
}

namespace {

/// Reads `text` as one JSON value with nothing after it; `read(json_scanner,
/// result)` reads an object (answering false on anything that is not JSON).
template <class Result, class Read>
Result read_top(const std::string& text, Read read) {
  Result result;
  json_scanner s{text};
  s.ws();
  if (!s.at('{')) {
    result.json = s.skip_value() && s.finish();
    return result;
  }
  if (!read(s, result) || !s.finish())
    return Result{};
  result.json = true;
  result.object = true;
  return result;
}

/// The value of the CloudEvent member `m` (null: one the bridge ignores).
bool read_member(json_scanner& s, ce_fields& result, json_member* m) {
  if (m == nullptr)
    return s.skip_value();
  m->value.clear();
  if (m == &result.data)
    result.user_id.reset();
  if (s.at('"')) {
    m->kind = json_member::string;
    return s.string(&m->value);
  }
  auto start = s.pos();
  bool ok = false;
  if (s.at('{')) {
    m->kind = json_member::object;
    ok = m == &result.data ? read_user_id(s, result.user_id) : s.skip_value();
  } else {
    m->kind = json_member::other;
    ok = s.skip_value();
  }
  m->value.assign(start, s.pos());
  return ok;
}

} // namespace

ce_fields read_cloudevent(const std::string& body) {
  return read_top<ce_fields>(body, [](json_scanner& s, ce_fields& result) {
    return s.members([&](const std::string& name) {
      return read_member(s, result, member_named(result, name));
    });
  });
}

object_fields read_object(const std::string& text) {
  return read_top<object_fields>(text,
                                 [](json_scanner& s, object_fields& result) {
                                   return read_user_id(s, result.user_id);
                                 });
}

} // namespace herald::amqp
