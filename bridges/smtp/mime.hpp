// Composition of the RFC 5322 / MIME message the SMTP bridge uploads. Plain
// functions: no I/O, so the actor-level and unit tests check them directly.
// Everything a header receives is checked here, once: CR or LF in a header
// value or an address that is not a plain addr-spec is refused, never
// repaired.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/event.hpp"

namespace herald::mime {

/// A configured sender: an optional display name and a plain address.
struct mailbox {
  std::string display_name;
  std::string address;
};

/// Whether `text` is a plain addr-spec as herald sends to: a dot-atom local
/// part (at most 64 bytes), '@', a DNS domain of letter/digit/hyphen labels,
/// at most 254 bytes in all, ASCII only. No display name, no comments, no
/// quoted local parts, no lists.
bool is_addr_spec(const std::string& text);

/// Parses "addr@example.org" or "Display Name <addr@example.org>".
/// `invalid_argument` for CR/LF, a broken form or an address that is not a
/// plain addr-spec.
caf::expected<mailbox> parse_mailbox(const std::string& text);

/// Renders a header field "Name: value" without the final CRLF. Printable
/// ASCII that fits in 78 columns stays as it is; anything else becomes
/// RFC 2047 encoded-words (UTF-8, base64), folded so no line exceeds 78
/// columns and no UTF-8 sequence is split. The caller has refused CR/LF.
std::string encode_header(const std::string& name, const std::string& value);

/// Quoted-printable (RFC 2045) with CRLF line endings: input lines end at LF
/// or CRLF, output lines are at most 76 columns (soft breaks "=\r\n"),
/// trailing blanks and every byte outside printable ASCII are encoded.
std::string quoted_printable(const std::string& text);

/// RFC 5322 date-time in UTC, e.g. "Sun, 22 Nov 2026 22:01:34 +0000".
std::string format_date(int64_t unix_seconds);

/// What compose() needs besides the mail itself. Tests pin the time and the
/// boundary to get a stable message.
struct envelope_info {
  mailbox from;
  int64_t date = 0;
  /// MIME boundary; must not occur in the bodies (quoted-printable output
  /// never contains "=_", so a boundary starting with it is always safe).
  std::string boundary;
};

/// Composes the message: Date, From, To, Subject, Message-ID, MIME-Version,
/// Auto-Submitted, then a text/plain part, or multipart/alternative with
/// text/plain and text/html when `m.html` is set; bodies quoted-printable,
/// charset utf-8, CRLF line endings, no line over 78 columns. A message_id
/// without '@' gets "@<sender's domain>". Dot-stuffing is left to libcurl,
/// which does it while uploading. `invalid_argument` if `m.to` is not a plain
/// addr-spec, the subject or message id contains CR or LF, or the message id
/// has characters outside atext, '.' and '@'.
caf::expected<std::string> compose(const mail& m, const envelope_info& info);

/// Checks a mail as compose() would, without composing it.
caf::error check_mail(const mail& m);

/// A fresh boundary "=_herald_<32 hex digits>".
std::string make_boundary();

} // namespace herald::mime
