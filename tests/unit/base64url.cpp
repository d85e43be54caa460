#define CAF_SUITE base64url

// base64url without padding (actors/base64url): RFC 4648 vectors, round
// trips and the refusal of everything that is not the one canonical form.

#include "actors/base64url.hpp"

#include "tests/support/base64url.hpp"
#include "tests/test.hpp"

using namespace herald;
using herald::test::b64;
using herald::test::decode;

CAF_TEST(base64url round trips) {
  // RFC 4648 section 10 vectors, unpadded.
  CAF_CHECK_EQUAL(b64(""), "");
  CAF_CHECK_EQUAL(b64("f"), "Zg");
  CAF_CHECK_EQUAL(b64("fo"), "Zm8");
  CAF_CHECK_EQUAL(b64("foo"), "Zm9v");
  CAF_CHECK_EQUAL(b64("foob"), "Zm9vYg");
  CAF_CHECK_EQUAL(b64("fooba"), "Zm9vYmE");
  CAF_CHECK_EQUAL(b64("foobar"), "Zm9vYmFy");
  CAF_CHECK_EQUAL(b64("\xfb\xff"), "-_8");
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    CAF_CHECK_EQUAL(decode(b64(bytes)), bytes);
    bytes += static_cast<char>((i * 37 + 11) & 0xff);
  }
}

CAF_TEST(base64url rejects what is not canonical unpadded base64url) {
  std::string out;
  for (auto bad : {"Zg==", "Zg=", "Zm9=", "Z", "Zm9vY", "Zm+v", "Zm/v",
                   "Zm9v\n", " Zm9v", "Zm9v.", "Zh", "Zm9"})
    CAF_CHECK_EQUAL(jwt::base64url_decode(bad, out), false);
  // "Zh" and "Zm9" differ from "Zg" and "Zm8" only in unused trailing bits.
  CAF_CHECK_EQUAL(jwt::base64url_decode("Zm8", out), true);
  CAF_CHECK_EQUAL(out, "fo");
}
