// The rules an account's fields must follow. Plain functions: the user actor
// applies them, and so will the password reset and the HTTP gateway.
#pragma once

#include <cstddef>
#include <string>

#include <caf/error.hpp>

namespace herald {

/// Password length policy. Defaults follow NIST SP 800-63B-4 for a
/// password-only login: at least 15 characters; input beyond max_bytes is
/// refused before any hashing work.
struct password_policy {
  size_t min_length = 15;
  size_t max_bytes = 1024;
};

/// Checks email syntax (dot-atom local part, DNS domain with a dot, at most
/// 254 bytes) and lower-cases it in place. Answers an invalid_argument error
/// that says what is wrong.
caf::error normalize_email(std::string& email);

/// Trims surrounding whitespace and checks the name: valid UTF-8, 1 to 100
/// characters, no control characters.
caf::error normalize_name(std::string& name);

/// Checks a password against the policy: at most max_bytes bytes (checked
/// first), valid UTF-8, no NUL, at least min_length characters.
caf::error check_password(const std::string& password,
                          const password_policy& policy);

/// Checks that `role` is "user" or "admin".
caf::error check_role(const std::string& role);

/// Number of code points in `str`, or npos if it is not valid UTF-8.
size_t utf8_length(const std::string& str);

} // namespace herald
