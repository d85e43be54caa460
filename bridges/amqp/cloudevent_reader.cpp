#include "bridges/amqp/cloudevent_reader.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <locale.h>

namespace herald::amqp {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// A strict RFC 8259 reader over one text. Containers are skipped with a
/// stack of their brackets rather than by recursion, so nesting depth costs
/// memory in proportion to the text, never the call stack.
class scanner {
public:
  explicit scanner(const std::string& text)
      : p_(text.data()), end_(text.data() + text.size()) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0)
      p_ += 3; // A byte order mark, which nlohmann skips too.
  }

  const char* pos() const { return p_; }

  bool at(char c) const { return p_ != end_ && *p_ == c; }

  bool at_number() const { return p_ != end_ && (*p_ == '-' || is_digit(*p_)); }

  void ws() {
    while (p_ != end_
           && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  /// Nothing but whitespace is left.
  bool finish() {
    ws();
    return p_ == end_;
  }

  /// The string at p_, its escapes resolved into `*out` (if given).
  bool string(std::string* out) {
    ++p_; // the opening quote
    auto run = p_;
    for (;;) {
      if (p_ == end_)
        return false;
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        if (out != nullptr)
          out->append(run, p_);
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (out != nullptr)
          out->append(run, p_);
        if (!escape(out))
          return false;
        run = p_;
      } else if (c < 0x20) {
        return false;
      } else if (c < 0x80) {
        ++p_;
      } else if (!utf8(c)) {
        return false;
      }
    }
  }

  /// The number at p_; `integer` says whether it is one that fits an int64
  /// or a uint64 (as nlohmann tells integers from floating point numbers).
  bool number(bool& integer) {
    auto start = p_;
    if (at('-'))
      ++p_;
    if (at('0'))
      ++p_;
    else if (p_ != end_ && *p_ >= '1' && *p_ <= '9')
      digits();
    else
      return false;
    bool plain = true;
    bool exponent = false;
    if (at('.')) {
      ++p_;
      if (!digits())
        return false;
      plain = false;
    }
    if (at('e') || at('E')) {
      ++p_;
      if (at('+') || at('-'))
        ++p_;
      if (!digits())
        return false;
      plain = false;
      exponent = true;
    }
    integer = plain && fits_integer(start, p_);
    return integer || finite(start, p_, exponent);
  }

  /// Any value at p_ (after whitespace), checked and passed over.
  bool skip_value() {
    std::string open; // the brackets of the containers p_ is in
    for (;;) {
      ws();
      if (p_ == end_)
        return false;
      if (*p_ == '{' || *p_ == '[') {
        auto bracket = *p_++;
        ws();
        if (at(bracket == '{' ? '}' : ']')) {
          ++p_;
        } else {
          if (bracket == '{' && !key())
            return false;
          open.push_back(bracket);
          continue;
        }
      } else if (!scalar()) {
        return false;
      }
      // After a value: close what ends here, or go on to the next value.
      for (;;) {
        if (open.empty())
          return true;
        ws();
        if (at(',')) {
          ++p_;
          if (open.back() == '{') {
            ws();
            if (!key())
              return false;
          }
          break;
        }
        if (!at(open.back() == '{' ? '}' : ']'))
          return false;
        ++p_;
        open.pop_back();
      }
    }
  }

  /// The object at p_: `on_member(name)` is called with p_ at each member's
  /// value, which it must pass over (answering false if it is not JSON).
  template <class F>
  bool members(F&& on_member) {
    ++p_; // {
    ws();
    if (at('}')) {
      ++p_;
      return true;
    }
    std::string name;
    for (;;) {
      name.clear();
      if (!at('"') || !string(&name))
        return false;
      ws();
      if (!at(':'))
        return false;
      ++p_;
      ws();
      if (p_ == end_ || !on_member(name))
        return false;
      ws();
      if (at(',')) {
        ++p_;
        ws();
        continue;
      }
      if (!at('}'))
        return false;
      ++p_;
      return true;
    }
  }

private:
  /// A member name and its colon.
  bool key() {
    if (!at('"') || !string(nullptr))
      return false;
    ws();
    if (!at(':'))
      return false;
    ++p_;
    return true;
  }

  bool scalar() {
    switch (*p_) {
    case '"':
      return string(nullptr);
    case 't':
      return word("true");
    case 'f':
      return word("false");
    case 'n':
      return word("null");
    default: {
      bool integer = false;
      return number(integer);
    }
    }
  }

  bool word(const char* w) {
    auto n = std::strlen(w);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, w, n) != 0)
      return false;
    p_ += n;
    return true;
  }

  /// One or more digits.
  bool digits() {
    auto start = p_;
    while (p_ != end_ && is_digit(*p_))
      ++p_;
    return p_ != start;
  }

  bool hex4(uint32_t& out) {
    if (end_ - p_ < 4)
      return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      auto c = *p_++;
      out <<= 4;
      if (is_digit(c))
        out |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }

  /// The escape at p_ (a backslash); a \u escape of a surrogate must be a
  /// high one followed by a low one.
  bool escape(std::string* out) {
    ++p_;
    if (p_ == end_)
      return false;
    char c = *p_++;
    switch (c) {
    case '"':
    case '\\':
    case '/':
      break;
    case 'b':
      c = '\b';
      break;
    case 'f':
      c = '\f';
      break;
    case 'n':
      c = '\n';
      break;
    case 'r':
      c = '\r';
      break;
    case 't':
      c = '\t';
      break;
    case 'u': {
      uint32_t cp = 0;
      if (!hex4(cp))
        return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        return false;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low = 0;
        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
          return false;
        p_ += 2;
        if (!hex4(low) || low < 0xDC00 || low > 0xDFFF)
          return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      if (out != nullptr)
        append_utf8(*out, cp);
      return true;
    }
    default:
      return false;
    }
    if (out != nullptr)
      out->push_back(c);
    return true;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    auto byte = [&](uint32_t x) { out.push_back(static_cast<char>(x)); };
    if (cp < 0x80) {
      byte(cp);
    } else if (cp < 0x800) {
      byte(0xC0 | (cp >> 6));
      byte(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      byte(0xE0 | (cp >> 12));
      byte(0x80 | ((cp >> 6) & 0x3F));
      byte(0x80 | (cp & 0x3F));
    } else {
      byte(0xF0 | (cp >> 18));
      byte(0x80 | ((cp >> 12) & 0x3F));
      byte(0x80 | ((cp >> 6) & 0x3F));
      byte(0x80 | (cp & 0x3F));
    }
  }

  /// One multi-byte UTF-8 character starting with `c` at p_ (RFC 3629:
  /// no overlong forms, no surrogates, nothing above U+10FFFF).
  bool utf8(unsigned char c) {
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    ptrdiff_t n = 0; // continuation bytes
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c == 0xE0) {
      n = 2;
      lo = 0xA0;
    } else if (c == 0xED) {
      n = 2;
      hi = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF) {
      n = 2;
    } else if (c == 0xF0) {
      n = 3;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      n = 3;
    } else if (c == 0xF4) {
      n = 3;
      hi = 0x8F;
    } else {
      return false;
    }
    if (end_ - p_ <= n)
      return false;
    auto first = static_cast<unsigned char>(p_[1]);
    if (first < lo || first > hi)
      return false;
    for (ptrdiff_t i = 2; i <= n; ++i)
      if ((static_cast<unsigned char>(p_[i]) & 0xC0) != 0x80)
        return false;
    p_ += n + 1;
    return true;
  }

  /// Whether the integer text [first, last) fits an int64 (negative) or a
  /// uint64.
  static bool fits_integer(const char* first, const char* last) {
    auto n = last - first;
    if (n <= 18)
      return true;
    if (n > 20)
      return false;
    char buf[24];
    std::memcpy(buf, first, static_cast<size_t>(n));
    buf[n] = '\0';
    errno = 0;
    if (*first == '-')
      static_cast<void>(std::strtoll(buf, nullptr, 10));
    else
      static_cast<void>(std::strtoull(buf, nullptr, 10));
    return errno == 0;
  }

  /// Whether the number [first, last) is finite as a double (nlohmann
  /// refuses the ones that overflow). Only a long or exponent-bearing
  /// number can overflow; those are converted in the C locale.
  static bool finite(const char* first, const char* last, bool exponent) {
    if (!exponent && last - first < 300)
      return true;
    static locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", nullptr);
    std::string text{first, last};
    return std::isfinite(strtod_l(text.c_str(), nullptr, c_locale));
  }

  const char* p_;
  const char* end_;
};

/// The members of the object at the scanner's position, answering user_id as
/// text when it is an integer ("-0" as "0") or a non-empty string.
bool read_user_id(scanner& s, std::optional<std::string>& user_id) {
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
         {"data_base64", &ce_fields::data_base64}};
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

/// Reads `text` as one JSON value with nothing after it; `read(scanner,
/// result)` reads an object (answering false on anything that is not JSON).
template <class Result, class Read>
Result read_top(const std::string& text, Read read) {
  Result result;
  scanner s{text};
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
bool read_member(scanner& s, ce_fields& result, json_member* m) {
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
  return read_top<ce_fields>(body, [](scanner& s, ce_fields& result) {
    return s.members([&](const std::string& name) {
      return read_member(s, result, member_named(result, name));
    });
  });
}

object_fields read_object(const std::string& text) {
  return read_top<object_fields>(text, [](scanner& s, object_fields& result) {
    return read_user_id(s, result.user_id);
  });
}

bool is_json(const std::string& text) {
  scanner s{text};
  return s.skip_value() && s.finish();
}

void append_json_string(std::string& out, const std::string& text) {
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  size_t plain = 0; // start of the run not yet written
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(text, plain, i - plain);
    plain = i + 1;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default: {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    }
    }
  }
  out.append(text, plain, text.size() - plain);
  out.push_back('"');
}

} // namespace herald::amqp
