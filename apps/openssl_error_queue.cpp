// OpenSSL's error queue is emptied before every TLS read, write and
// handshake step of this process, as OpenSSL requires ("the current
// thread's error queue must be empty before the TLS/SSL I/O operation is
// attempted", SSL_get_error(3)).
//
// Why: caf_openssl 0.17.6 never empties it. With OpenSSL 3 a peer that goes
// away without a TLS close_notify (CAF's own redundant-connection close, a
// killed process) or fails its handshake (a stranger's certificate) leaves
// an error in the queue of the multiplexer thread; the next SSL_read on any
// other connection of that thread that merely has nothing to read then
// reports SSL_ERROR_SSL instead of WANT_READ, and CAF closes that healthy
// connection. Seen as: two TLS nodes that open a second connection to each
// other lose both (`remote_link_unreachable`), plaintext keeps working.
// Reproduced with two bare CAF processes, fixed by this alone.
//
// How: these definitions in the executable come first in the dynamic
// linker's search order, so libcaf_openssl's calls reach them (the link
// exports them: CMakeLists.txt); each empties the queue and calls libssl's
// own function. Callers that empty the queue themselves (Boost.Asio) are
// unaffected.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F next_definition(const char* name) {
  auto f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  if (f == nullptr) {
    std::fprintf(stderr, "fatal: %s not found in libssl\n", name);
    std::abort();
  }
  return f;
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto f = next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto f
    = next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto f = next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return f(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto f = next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return f(ssl);
}

} // extern "C"
