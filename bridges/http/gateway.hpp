// What the gateway component needs beyond its routes.
#pragma once

#include <string>

namespace herald::http {

/// The OpenAPI 3.1 document of the API (bridges/http/openapi.json,
/// compiled in).
const std::string& openapi_document();

} // namespace herald::http
