#include "actors/account_policy.hpp"

#include <algorithm>
#include <cctype>

#include "messages/error.hpp"
#include "messages/user.hpp"

namespace herald {

namespace {

caf::error invalid(std::string what) {
  return caf::make_error(ec::invalid_argument, std::move(what));
}

bool is_atext(char c) {
  auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u))
    return true;
  static constexpr const char specials[] = "!#$%&'*+-/=?^_`{|}~";
  return std::find(std::begin(specials), std::end(specials) - 1, c)
         != std::end(specials) - 1;
}

bool valid_local_part(const std::string& local) {
  if (local.empty() || local.size() > 64 || local.front() == '.'
      || local.back() == '.')
    return false;
  for (size_t i = 0; i < local.size(); ++i) {
    if (local[i] == '.') {
      if (local[i + 1] == '.')
        return false;
    } else if (!is_atext(local[i])) {
      return false;
    }
  }
  return true;
}

bool valid_domain(const std::string& domain) {
  if (domain.empty() || domain.size() > 253)
    return false;
  size_t labels = 0;
  size_t start = 0;
  std::string last;
  while (start <= domain.size()) {
    auto end = domain.find('.', start);
    if (end == std::string::npos)
      end = domain.size();
    auto label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-'
        || label.back() == '-')
      return false;
    for (auto c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
        return false;
    ++labels;
    last = std::move(label);
    start = end + 1;
  }
  // A top-level domain is alphabetic and at least two letters long.
  return labels >= 2 && last.size() >= 2
         && std::all_of(last.begin(), last.end(), [](char c) {
              return std::isalpha(static_cast<unsigned char>(c));
            });
}

} // namespace

size_t utf8_length(const std::string& str) {
  size_t count = 0;
  for (size_t i = 0; i < str.size();) {
    auto c = static_cast<unsigned char>(str[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::string::npos;
    }
    if (i + len > str.size())
      return std::string::npos;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(str[i + k]);
      if ((cc & 0xC0) != 0x80)
        return std::string::npos;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points are invalid.
    static constexpr uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return std::string::npos;
    i += len;
    ++count;
  }
  return count;
}

caf::error normalize_email(std::string& email) {
  if (email.empty())
    return invalid("email is empty");
  if (email.size() > 254)
    return invalid("email is longer than 254 characters");
  auto at = email.rfind('@');
  if (at == std::string::npos)
    return invalid("email '" + email + "' has no '@'");
  if (email.find('@') != at)
    return invalid("email has more than one '@'");
  auto local = email.substr(0, at);
  auto domain = email.substr(at + 1);
  if (!valid_local_part(local))
    return invalid("email has an invalid part before '@'");
  if (!valid_domain(domain))
    return invalid("email has an invalid domain");
  std::transform(email.begin(), email.end(), email.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return caf::none;
}

caf::error normalize_name(std::string& name) {
  auto is_space
      = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!name.empty() && is_space(name.back()))
    name.pop_back();
  size_t lead = 0;
  while (lead < name.size() && is_space(name[lead]))
    ++lead;
  name.erase(0, lead);
  if (name.empty())
    return invalid("name is empty");
  auto len = utf8_length(name);
  if (len == std::string::npos)
    return invalid("name is not valid UTF-8");
  if (len > 100)
    return invalid("name is longer than 100 characters");
  for (auto c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      return invalid("name contains control characters");
  return caf::none;
}

caf::error check_password(const std::string& password,
                          const password_policy& policy) {
  if (password.size() > policy.max_bytes)
    return invalid("password is longer than " + std::to_string(policy.max_bytes)
                   + " bytes");
  if (password.find('\0') != std::string::npos)
    return invalid("password contains a NUL character");
  auto len = utf8_length(password);
  if (len == std::string::npos)
    return invalid("password is not valid UTF-8");
  if (len < policy.min_length)
    return invalid("password must have at least "
                   + std::to_string(policy.min_length) + " characters");
  return caf::none;
}

caf::error check_role(const std::string& role) {
  if (role != role_user && role != role_admin)
    return invalid("role must be 'user' or 'admin', not '" + role + "'");
  return caf::none;
}

} // namespace herald
