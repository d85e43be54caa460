#define CAF_SUITE http_routes

// The router and the OpenAPI document (bridges/http/openapi.json) list the
// same routes: every (method, path) the gateway routes is documented and
// every documented operation is routed, with the body type the document
// gives; the router's generic answers (405 with Allow, OPTIONS, 415) agree
// with the document too. The routes are built over a gateway_env whose
// actor handles are all invalid: nothing here runs a handler.

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bridges/http/api.hpp"
#include "bridges/http/gateway.hpp"
#include "bridges/http/router.hpp"
#include "tests/test.hpp"

using namespace herald;
using namespace herald::http;

/// Checks `cond`; says `what` (a stream expression) when it fails.
#define CHECK_WHY(cond, what)                                                  \
  do {                                                                         \
    if (!(cond))                                                               \
      CAF_MESSAGE(what);                                                       \
    CAF_CHECK(cond);                                                           \
  } while (false)

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using route_key = std::pair<std::string, std::string>;

/// bridges/http/openapi.json of the source tree (HERALD_SOURCE_DIR under
/// ctest, else found from this file's path).
std::string document_path() {
  if (auto dir = std::getenv("HERALD_SOURCE_DIR"))
    return std::string{dir} + "/bridges/http/openapi.json";
  return (fs::path{__FILE__}.parent_path().parent_path().parent_path()
          / "bridges/http/openapi.json")
      .string();
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

const char* methods[]
    = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// A concrete path for a template: every {placeholder} becomes "7".
std::string concrete(const std::string& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      out += '7';
      i = pattern.find('}', i);
    } else {
      out += pattern[i];
    }
  }
  return out;
}

struct routes_fixture : herald::test::fixture {
  env_ptr env;
  router r;
  json doc;

  routes_fixture() {
    env = std::make_shared<gateway_env>(sys, settings{});
    add_account_routes(r, env);
    add_reset_routes(r, env);
    add_operation_routes(r, env);
    auto text = read_file(document_path());
    doc = json::parse(text, nullptr, false);
  }

  std::set<route_key> routed() const {
    std::set<route_key> out;
    for (auto& x : r.routes())
      out.emplace(x.method, x.pattern);
    return out;
  }

  /// Documented operations but OPTIONS (the router answers OPTIONS for
  /// every path itself).
  std::set<route_key> documented() const {
    std::set<route_key> out;
    for (auto& [path, item] : doc["paths"].items())
      for (auto m : methods)
        if (item.contains(m) && std::string{m} != "options")
          out.emplace(upper(m), path);
    return out;
  }

  /// Dispatches a request without running any handler; answers the
  /// response.
  response dispatch(const std::string& method, const std::string& path,
                    const std::string& content_type = {}) {
    auto ex = std::make_shared<exchange>();
    ex->req.method_string(method);
    ex->req.target(path);
    ex->req.version(11);
    if (!content_type.empty())
      ex->req.set(bhttp::field::content_type, content_type);
    ex->path = path;
    ex->request_id = "test-request";
    auto out = std::make_shared<response>();
    ex->send = [out](response res) { *out = std::move(res); };
    r.dispatch(ex);
    return *out;
  }
};

std::string show(const std::set<route_key>& xs) {
  std::string out;
  for (auto& [m, p] : xs)
    out += " " + m + " " + p;
  return out.empty() ? " (none)" : out;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_routes_tests, routes_fixture)

CAF_TEST(the document is valid JSON and the compiled copy is the file) {
  CAF_REQUIRE(!doc.is_discarded());
  CAF_CHECK_EQUAL(doc.value("openapi", ""), "3.1.0");
  CAF_CHECK(doc.contains("paths") && doc["paths"].is_object());
  // The gateway serves the copy compiled in at configure time.
  CAF_CHECK(json::parse(openapi_document(), nullptr, false) == doc);
}

CAF_TEST(every route is documented and every operation routed) {
  auto routes = routed();
  auto docs = documented();
  CAF_REQUIRE(!routes.empty());
  std::set<route_key> undocumented;
  std::set<route_key> unrouted;
  for (auto& x : routes)
    if (docs.count(x) == 0)
      undocumented.insert(x);
  for (auto& x : docs)
    if (routes.count(x) == 0)
      unrouted.insert(x);
  CAF_MESSAGE("routes:" << show(routes));
  CHECK_WHY(undocumented.empty(),
            "routed but not in openapi.json:" << show(undocumented));
  CHECK_WHY(unrouted.empty(),
            "in openapi.json but not routed:" << show(unrouted));
  CAF_CHECK_EQUAL(routes.size(), r.routes().size()); // no route twice
}

CAF_TEST(every documented path documents the OPTIONS preflight) {
  for (auto& [path, item] : doc["paths"].items()) {
    CHECK_WHY(item.contains("options"), path << " lacks options");
    auto res = dispatch("OPTIONS", concrete(path));
    CAF_CHECK_EQUAL(res.result_int(), 204u);
    CHECK_WHY(item.contains("options")
                  && item["options"]["responses"].contains("204"),
              path << ": OPTIONS 204 undocumented");
  }
}

CAF_TEST(request bodies match the body kind of each route) {
  for (auto& x : r.routes()) {
    auto m = x.method;
    for (auto& c : m)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!doc["paths"].contains(x.pattern)
        || !doc["paths"][x.pattern].contains(m))
      continue; // reported by the test above
    auto& op = doc["paths"][x.pattern][m];
    std::string what = x.method + " " + x.pattern;
    switch (x.body) {
    case body_kind::none:
      CHECK_WHY(!op.contains("requestBody"),
                what << " takes no body but documents one");
      break;
    case body_kind::json:
      CHECK_WHY(
          op.contains("requestBody")
              && op["requestBody"]["content"].contains("application/json"),
          what << " takes JSON: document application/json");
      break;
    case body_kind::form:
      CHECK_WHY(op.contains("requestBody")
                    && op["requestBody"]["content"].contains(
                        "application/x-www-form-urlencoded"),
                what << " takes a form: document x-www-form-urlencoded");
      break;
    }
    if (x.body != body_kind::none) {
      // The router refuses another type before the handler runs.
      auto res = dispatch(x.method, concrete(x.pattern), "text/plain");
      CAF_CHECK_EQUAL(res.result_int(), 415u);
      CHECK_WHY(op["responses"].contains("415"), what << ": 415 undocumented");
      CHECK_WHY(op["responses"].contains("413"),
                what << ": 413 (body-limit) undocumented");
    }
  }
}

CAF_TEST(another method answers 405 with Allow listing the documented ones) {
  for (auto& [path, item] : doc["paths"].items()) {
    std::set<std::string> want;
    for (auto m : methods)
      if (item.contains(m) && std::string{m} != "options")
        want.insert(upper(m));
    auto res = dispatch("PUT", concrete(path));
    if (want.count("PUT"))
      continue;
    CAF_CHECK_EQUAL(res.result_int(), 405u);
    std::set<std::string> allowed;
    std::string allow{res[bhttp::field::allow]};
    size_t start = 0;
    while (start < allow.size()) {
      auto end = allow.find(", ", start);
      if (end == std::string::npos)
        end = allow.size();
      allowed.insert(allow.substr(start, end - start));
      start = end + 2;
    }
    CHECK_WHY(allowed == want, path << ": Allow is '" << allow << "'");
  }
}

CAF_TEST(an unknown path answers 404) {
  CAF_CHECK_EQUAL(dispatch("GET", "/v1/nothing").result_int(), 404u);
  CAF_CHECK_EQUAL(dispatch("GET", "/v1/users/7/x").result_int(), 404u);
  CAF_CHECK_EQUAL(dispatch("OPTIONS", "/nope").result_int(), 404u);
}

CAF_TEST_FIXTURE_SCOPE_END()
