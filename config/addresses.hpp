// Where a configured address points: the guard rails of a production start
// (plain HTTP, SMTP or a gateway beyond this machine) ask these.
#pragma once

#include <string>

namespace herald::config {

/// Whether `host` is this machine: "localhost", 127.0.0.0/8, ::1 (with or
/// without brackets), ::ffff:127.x.y.z.
bool is_loopback_host(const std::string& host);

/// The host of "scheme://[user@]host[:port][/...]" ("" if there is none),
/// without the brackets of an IPv6 literal.
std::string url_host(const std::string& url);

} // namespace herald::config
