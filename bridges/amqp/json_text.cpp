#include "bridges/amqp/json_text.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <locale.h>

namespace herald::amqp {

bool fits_integer(const char* first, const char* last) {
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

bool fits_double(const char* first, const char* last, bool exponent) {
  if (!exponent && last - first < 300)
    return true;
  static locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", nullptr);
  std::string text{first, last};
  return std::isfinite(strtod_l(text.c_str(), nullptr, c_locale));
}

bool is_json(const std::string& text) {
  json_scanner s{text};
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
