// Strict JSON text, read without building a tree and written without one:
// the scanner under the bridge's CloudEvents reader (cloudevent_reader.hpp).
// What it takes is exactly what nlohmann::json::accept takes (RFC 8259,
// UTF-8 checked, a leading byte order mark skipped, numbers that overflow a
// double refused); tests/unit/json_reader.cpp holds the two side by side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace herald::amqp {

inline bool json_digit(char c) {
  return c >= '0' && c <= '9';
}

/// Whether the integer text [first, last) fits an int64 (negative) or a
/// uint64: what nlohmann reads as an integer rather than a double.
bool fits_integer(const char* first, const char* last);

/// Whether the number text [first, last) is finite as a double (nlohmann
/// refuses the ones that overflow). `exponent`: the text has one.
bool fits_double(const char* first, const char* last, bool exponent);

/// A strict RFC 8259 reader over one text. Containers are skipped with a
/// stack of their brackets rather than by recursion, so nesting depth costs
/// memory in proportion to the text, never the call stack.
class json_scanner {
public:
  explicit json_scanner(const std::string& text)
      : p_(text.data()), end_(text.data() + text.size()) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0)
      p_ += 3; // A byte order mark, which nlohmann skips too.
  }

  const char* pos() const { return p_; }

  bool at(char c) const { return p_ != end_ && *p_ == c; }

  bool at_number() const {
    return p_ != end_ && (*p_ == '-' || json_digit(*p_));
  }

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
    return integer || fits_double(start, p_, exponent);
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
    while (p_ != end_ && json_digit(*p_))
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
      if (json_digit(c))
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

  const char* p_;
  const char* end_;
};

/// Whether `text` is JSON at all (nlohmann::json::accept's answer).
bool is_json(const std::string& text);

/// `text` as a JSON string literal: quotes, backslashes and control
/// characters escaped, everything else (UTF-8) as it is.
void append_json_string(std::string& out, const std::string& text);

} // namespace herald::amqp
