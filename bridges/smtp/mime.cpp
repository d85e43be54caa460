#include "bridges/smtp/mime.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "messages/error.hpp"

namespace herald::mime {

namespace {

constexpr size_t max_line = 78;
constexpr size_t max_qp_line = 76;
/// Bytes of UTF-8 per encoded-word: 39 bytes are 52 base64 characters, so
/// "=?UTF-8?B?...?=" is 64 columns and fits after "Subject: " in 78.
constexpr size_t word_bytes = 39;

caf::error invalid(std::string what) {
  return caf::make_error(ec::invalid_argument, std::move(what));
}

bool has_crlf(const std::string& str) {
  return str.find_first_of("\r\n") != std::string::npos;
}

bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
      || (c >= '0' && c <= '9'))
    return true;
  return c != '\0' && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

bool is_dot_atom(const std::string& str) {
  if (str.empty() || str.front() == '.' || str.back() == '.')
    return false;
  for (size_t i = 0; i < str.size(); ++i) {
    if (str[i] == '.') {
      if (str[i + 1] == '.')
        return false;
    } else if (!is_atext(str[i])) {
      return false;
    }
  }
  return true;
}

bool is_domain(const std::string& str) {
  if (str.empty() || str.size() > 253)
    return false;
  size_t start = 0;
  while (start <= str.size()) {
    auto end = str.find('.', start);
    if (end == std::string::npos)
      end = str.size();
    auto len = end - start;
    if (len == 0 || len > 63 || str[start] == '-' || str[end - 1] == '-')
      return false;
    for (auto i = start; i < end; ++i) {
      auto c = str[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '-';
      if (!ok)
        return false;
    }
    start = end + 1;
  }
  return true;
}

bool is_printable_ascii(const std::string& str) {
  for (auto c : str)
    if (c < 0x20 || c > 0x7E)
      return false;
  return true;
}

std::string base64(const std::string& in) {
  static constexpr char alphabet[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = byte(i) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

/// Splits UTF-8 text into chunks of at most word_bytes, never inside a
/// multi-byte sequence (continuation bytes stay with their lead byte).
std::vector<std::string> utf8_chunks(const std::string& text) {
  std::vector<std::string> chunks;
  size_t start = 0;
  while (start < text.size()) {
    auto end = std::min(start + word_bytes, text.size());
    while (end < text.size() && end > start + 1
           && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    chunks.push_back(text.substr(start, end - start));
    start = end;
  }
  return chunks;
}

std::string encoded_words(const std::string& value) {
  std::string out;
  for (auto& chunk : utf8_chunks(value)) {
    if (!out.empty())
      out += "\r\n "; // folding whitespace between words is not displayed
    out += "=?UTF-8?B?" + base64(chunk) + "?=";
  }
  return out;
}

/// A display name as an atom phrase, a quoted string or encoded-words.
std::string encode_phrase(const std::string& name) {
  if (!is_printable_ascii(name) || name.find("=?") != std::string::npos)
    return encoded_words(name);
  bool plain = true;
  for (auto c : name)
    if (!is_atext(c) && c != ' ')
      plain = false;
  if (plain)
    return name;
  std::string out = "\"";
  for (auto c : name) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string trim(const std::string& str) {
  auto first = str.find_first_not_of(" \t");
  if (first == std::string::npos)
    return {};
  auto last = str.find_last_not_of(" \t");
  return str.substr(first, last - first + 1);
}

/// id-left ["@" id-right] of atext and dots; compose() adds a missing
/// right side.
bool is_message_id(const std::string& id) {
  if (id.empty() || id.size() > 250 || id.front() == '@' || id.back() == '@'
      || std::count(id.begin(), id.end(), '@') > 1)
    return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return is_atext(c) || c == '.' || c == '@';
  });
}

void add_part(std::string& out, const char* type, const std::string& body) {
  out += "Content-Type: ";
  out += type;
  out += "; charset=utf-8\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += quoted_printable(body);
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)
    out += "\r\n";
}

} // namespace

bool is_addr_spec(const std::string& text) {
  if (text.size() > 254)
    return false;
  auto at = text.rfind('@');
  if (at == std::string::npos || at == 0 || at > 64)
    return false;
  return is_dot_atom(text.substr(0, at)) && is_domain(text.substr(at + 1));
}

caf::expected<mailbox> parse_mailbox(const std::string& text) {
  if (has_crlf(text))
    return invalid("sender '" + text + "' contains CR or LF");
  mailbox result;
  auto open = text.find('<');
  if (open == std::string::npos) {
    result.address = trim(text);
  } else {
    auto close = text.find('>', open);
    if (close == std::string::npos || trim(text.substr(close + 1)) != "")
      return invalid("sender '" + text + "' is not 'Name <address>'");
    result.display_name = trim(text.substr(0, open));
    result.address = text.substr(open + 1, close - open - 1);
    for (auto c : result.display_name)
      if ((c >= 0 && c < 0x20) || c == 0x7F)
        return invalid("sender name contains control characters");
  }
  if (!is_addr_spec(result.address))
    return invalid("sender address '" + result.address
                   + "' is not a plain address");
  return result;
}

std::string encode_header(const std::string& name, const std::string& value) {
  if (is_printable_ascii(value) && value.find("=?") == std::string::npos
      && name.size() + 2 + value.size() <= max_line)
    return name + ": " + value;
  return name + ": " + encoded_words(value);
}

std::string quoted_printable(const std::string& text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t pos = 0;
  while (pos <= text.size()) {
    auto eol = text.find('\n', pos);
    auto end = eol == std::string::npos ? text.size() : eol;
    auto line_end = end;
    if (eol != std::string::npos && end > pos && text[end - 1] == '\r')
      --line_end;
    size_t column = 0;
    for (auto i = pos; i < line_end; ++i) {
      auto c = static_cast<unsigned char>(text[i]);
      bool last = i + 1 == line_end;
      std::string token;
      if ((c >= 33 && c <= 126 && c != '=')
          || ((c == ' ' || c == '\t') && !last))
        token = std::string(1, static_cast<char>(c));
      else
        token = {'=', hex[c >> 4], hex[c & 15]};
      // A soft break needs one column for its '='; the line's last token
      // may use that column.
      auto limit = last ? max_qp_line : max_qp_line - 1;
      if (column + token.size() > limit) {
        out += "=\r\n";
        column = 0;
      }
      out += token;
      column += token.size();
    }
    if (eol == std::string::npos)
      break;
    out += "\r\n";
    pos = eol + 1;
  }
  return out;
}

std::string format_date(int64_t unix_seconds) {
  static constexpr const char* days[]
      = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[]
      = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000",
                days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

caf::error check_mail(const mail& m) {
  if (!is_addr_spec(m.to))
    return invalid("recipient '" + (has_crlf(m.to) ? "(with CR/LF)" : m.to)
                   + "' is not a plain address");
  if (has_crlf(m.subject))
    return invalid("subject contains CR or LF");
  if (!m.message_id.empty() && !is_message_id(m.message_id))
    return invalid("message id contains characters outside atext");
  return caf::none;
}

caf::expected<std::string> compose(const mail& m, const envelope_info& info) {
  if (auto err = check_mail(m))
    return err;
  if (has_crlf(info.from.display_name) || !is_addr_spec(info.from.address))
    return invalid("sender '" + info.from.address + "' is not valid");
  auto id = m.message_id;
  if (id.empty())
    id = make_boundary().substr(2) + "." + std::to_string(info.date);
  if (id.find('@') == std::string::npos)
    id += "@" + info.from.address.substr(info.from.address.rfind('@') + 1);
  std::string out;
  out += "Date: " + format_date(info.date) + "\r\n";
  if (info.from.display_name.empty())
    out += "From: " + info.from.address + "\r\n";
  else
    out += "From: " + encode_phrase(info.from.display_name) + " <"
           + info.from.address + ">\r\n";
  out += "To: " + m.to + "\r\n";
  out += encode_header("Subject", m.subject) + "\r\n";
  out += "Message-ID: <" + id + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  // RFC 3834: tells auto-responders not to answer.
  out += "Auto-Submitted: auto-generated\r\n";
  if (m.html.empty()) {
    add_part(out, "text/plain", m.text);
    return out;
  }
  out += "Content-Type: multipart/alternative;\r\n boundary=\"" + info.boundary
         + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format.\r\n";
  out += "\r\n--" + info.boundary + "\r\n";
  add_part(out, "text/plain", m.text);
  out += "\r\n--" + info.boundary + "\r\n";
  add_part(out, "text/html", m.html);
  out += "\r\n--" + info.boundary + "--\r\n";
  return out;
}

std::string make_boundary() {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out = "=_herald_";
  for (int i = 0; i < 32; ++i)
    out += hex[rd() & 15];
  return out;
}

} // namespace herald::mime
