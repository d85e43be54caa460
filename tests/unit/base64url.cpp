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

CAF_TEST(base64url accepts exactly the texts that encoding produces) {
  // Every 2- and 3-character text of the alphabet, and every byte value in
  // each position of a full group: decoding succeeds exactly when encoding
  // the result gives the same text back, so no two texts mean the same bytes.
  const std::string alphabet
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
        "wxyz0123456789-_";
  size_t accepted = 0;
  std::string out;
  for (auto a : alphabet)
    for (auto b : alphabet) {
      std::string two{a, b};
      if (jwt::base64url_decode(two, out)) {
        ++accepted;
        CAF_CHECK_EQUAL(b64(out), two);
      }
      for (auto c : {'A', 'B', 'E', 'Q', '_'}) {
        auto three = two + c;
        if (jwt::base64url_decode(three, out))
          CAF_CHECK_EQUAL(b64(out), three);
      }
    }
  // 256 byte values, each with one canonical 2-character form.
  CAF_CHECK_EQUAL(accepted, 256u);
  for (int pos = 0; pos < 4; ++pos)
    for (int byte = 0; byte < 256; ++byte) {
      std::string text = "Zm9v";
      text[pos] = static_cast<char>(byte);
      bool valid = alphabet.find(static_cast<char>(byte)) != std::string::npos;
      CAF_CHECK_EQUAL(jwt::base64url_decode(text, out), valid);
    }
}

CAF_TEST(base64url decodes into a fixed buffer as into a string) {
  std::string bytes;
  for (int i = 0; i < 100; ++i) {
    auto text = b64(bytes);
    CAF_REQUIRE_EQUAL(jwt::base64url_decoded_size(text), bytes.size());
    std::string buf(bytes.size() + 1, '\x7f');
    CAF_CHECK(jwt::base64url_decode(
        text, reinterpret_cast<unsigned char*>(buf.data())));
    CAF_CHECK_EQUAL(buf.substr(0, bytes.size()), bytes);
    // The byte after the decoded ones is untouched.
    CAF_CHECK_EQUAL(buf.back(), '\x7f');
    bytes += static_cast<char>((i * 91 + 7) & 0xff);
  }
  unsigned char small[8];
  CAF_CHECK(!jwt::base64url_decode("Zm9v.", small));
  CAF_CHECK(!jwt::base64url_decode("Zh", small));
}
