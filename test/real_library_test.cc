// Real third-party blocking client libraries, driven from many coroutines on ONE scheduler
// thread. Nobody here wrote them: libcurl (easy interface: its own connect, poll, recv/send,
// threaded resolver) and hiredis (blocking context: connect + poll, then read/write). Each test
// proves the library became cooperative: the servers see many requests in flight at once, which
// cannot happen if one blocking call held the only thread.
//
// Links with -lcurl -lhiredis -lssl -lcrypto (the Makefile's target-specific EXTRA_LIBS). The
// hiredis tests need redis-server (Debian's redis-server package) and are skipped without it.
// Everything is local (loopback, ephemeral ports) and bounded in time; servers started here are
// stopped here.
#include <curl/curl.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hook_test_util.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 server written as coroutines: blocking accept, read and write.

class CoroutineHttpServer {
 public:
  // Each response is held back by `delay` (a park) before it is written. A request for a path
  // starting with /hang is never answered (the handler waits until the client goes away).
  // Listens on `address` (127.0.0.1 unless told otherwise; any 127.x.y.z is loopback).
  explicit CoroutineHttpServer(std::chrono::milliseconds delay, in_addr address = {htonl(INADDR_LOOPBACK)})
      : delay_(delay), address_(address) {}

  // Call inside a coroutine. Returns false if the listener could not be set up.
  bool start() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_addr = address_;
    socklen_t length = sizeof bound;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 ||
        ::listen(listener_, 256) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      return false;
    }
    port_ = ntohs(bound.sin_port);
    acceptor_ = cohook::go([this] { accept_loop(); }, {.stack_size = 0, .name = "http-acceptor"});
    return true;
  }

  // Stops accepting, waits for every handler to finish.
  void stop() {
    stopping_ = true;
    int wake = ::socket(AF_INET, SOCK_STREAM, 0);  // a connection unblocks accept()
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_addr = address_;
    target.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::connect(wake, reinterpret_cast<sockaddr*>(&target), sizeof target);
    acceptor_.join();
    if (wake >= 0) ::close(wake);
    handlers_.wait();
    ::close(listener_);
  }

  // Serve HTTPS with this context (the server's OpenSSL does blocking SSL_accept/SSL_read/
  // SSL_write on the connection: libssl's own read()/write() park this coroutine).
  void use_tls(SSL_CTX* context) { tls_ = context; }

  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::vector<std::string> errors() const { return errors_; }

  static std::string body_for(const std::string& path) { return "response for " + path + "\n"; }

 private:
  void accept_loop() {
    for (;;) {
      int connection = ::accept(listener_, nullptr, nullptr);
      if (stopping_) {
        if (connection >= 0) ::close(connection);
        return;
      }
      if (connection < 0) {
        errors_.push_back(std::string("accept: ") + std::strerror(errno));
        return;
      }
      handlers_.add(1);
      cohook::go([this, connection] {
        SSL* ssl = nullptr;
        if (tls_ != nullptr) {
          ssl = SSL_new(tls_);
          SSL_set_fd(ssl, connection);
          if (SSL_accept(ssl) != 1) {
            errors_.push_back("SSL_accept failed: " + std::to_string(ERR_get_error()));
            SSL_free(ssl);
            ssl = nullptr;
            ::close(connection);
            handlers_.done();
            return;
          }
        }
        handle(connection, ssl);
        if (ssl != nullptr) {
          SSL_shutdown(ssl);
          SSL_free(ssl);
        }
        ::close(connection);
        handlers_.done();
      });
    }
  }

  static ssize_t receive(int connection, SSL* ssl, char* buffer, std::size_t size) {
    if (ssl == nullptr) return ::read(connection, buffer, size);
    int n = SSL_read(ssl, buffer, static_cast<int>(size));
    return n > 0 ? n : (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
  }
  static ssize_t transmit(int connection, SSL* ssl, const std::string& data) {
    if (ssl == nullptr) return ::write(connection, data.data(), data.size());
    int n = SSL_write(ssl, data.data(), static_cast<int>(data.size()));  // all or nothing by default
    return n > 0 ? n : -1;
  }

  void handle(int connection, SSL* ssl) {
    std::string request;
    char buffer[2048];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = receive(connection, ssl, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0) errors_.push_back(std::string("read: ") + std::strerror(errno));
        return;
      }
      request.append(buffer, static_cast<std::size_t>(n));
    }
    // "GET /path HTTP/1.1" (or POST: the body is read according to Content-Length).
    std::size_t method_end = request.find(' ');
    std::size_t path_end = request.find(' ', method_end + 1);
    if (method_end == std::string::npos || path_end == std::string::npos) {
      errors_.push_back("bad request line: " + request.substr(0, 80));
      return;
    }
    std::string method = request.substr(0, method_end);
    std::string path = request.substr(method_end + 1, path_end - method_end - 1);
    std::string received_body = request.substr(request.find("\r\n\r\n") + 4);
    if (method == "POST") {
      std::size_t length_at = request.find("Content-Length: ");
      std::size_t expected = length_at == std::string::npos ? 0 : std::stoul(request.substr(length_at + 16));
      while (received_body.size() < expected) {
        ssize_t n = receive(connection, ssl, buffer, sizeof buffer);
        if (n <= 0) {
          errors_.push_back("short POST body");
          return;
        }
        received_body.append(buffer, static_cast<std::size_t>(n));
      }
    }
    ++requests_;
    int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    if (path.rfind("/hang", 0) == 0) {
      // Never answer: wait for the client to give up and close (read returns 0).
      while (receive(connection, ssl, buffer, sizeof buffer) > 0) {
      }
      --in_flight_;
      return;
    }
    cohook::this_coroutine::sleep_for(delay_);
    std::string body = method == "POST" ? "POST " + path + " " + std::to_string(received_body.size()) + " bytes, sum " +
                                              std::to_string(checksum(received_body)) + "\n"
                                        : body_for(path);
    std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    --in_flight_;
    ssize_t written = transmit(connection, ssl, response);
    if (written != static_cast<ssize_t>(response.size())) {
      errors_.push_back("short write: " + std::to_string(written) + " " + std::strerror(errno));
    }
  }

 public:
  static unsigned long checksum(const std::string& data) {
    unsigned long sum = 0;
    for (unsigned char c : data) sum = sum * 31 + c;
    return sum;
  }

 private:
  const std::chrono::milliseconds delay_;
  const in_addr address_;
  SSL_CTX* tls_ = nullptr;
  int listener_ = -1;
  int port_ = 0;
  bool stopping_ = false;
  cohook::JoinHandle acceptor_;
  cohook::WaitGroup handlers_;
  std::atomic<int> requests_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::vector<std::string> errors_;
};

// Counts ticks of a coroutine that wakes every 5 ms while `running` is set: if any blocking call
// held the thread, the ticks stop.
class Ticker {
 public:
  void start() {
    handle_ = cohook::go([this] {
      while (running_) {
        cohook::this_coroutine::sleep_for(5ms);
        ++ticks_;
      }
    });
  }
  void stop() {
    running_ = false;
    handle_.join();
  }
  int ticks() const { return ticks_; }

 private:
  bool running_ = true;
  int ticks_ = 0;
  cohook::JoinHandle handle_;
};

// ---------------------------------------------------------------------------------------------
// libcurl

void curl_global_once() {
  static const bool initialised = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  ASSERT_TRUE(initialised);
}

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct Fetched {
  CURLcode code = CURLE_FAILED_INIT;
  long status = 0;
  std::string body;
  std::string error;
};

// One blocking transfer with the easy interface, as any program would write it.
Fetched curl_fetch(const std::string& url, long timeout_ms, const std::string* post_body = nullptr) {
  Fetched result;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return result;
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // ignore http_proxy in the environment
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  // https: the test server's certificate is self-signed, made up by the test.
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  if (post_body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
    // No "Expect: 100-continue" round trip (the server here does not send 100).
    curl_slist* headers = curl_slist_append(nullptr, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    result.code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
  } else {
    result.code = curl_easy_perform(curl);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  result.error = error;
  curl_easy_cleanup(curl);
  return result;
}

// 20 coroutines, each one blocking curl_easy_perform against a coroutine server on the same
// thread that holds every answer back by 50 ms.
void twenty_concurrent_gets(const std::string& host, in_addr address = {htonl(INADDR_LOOPBACK)}) {
  curl_global_once();
  constexpr int kClients = 20;
  std::vector<Fetched> results(kClients);
  int max_in_flight = 0;
  int requests = 0;
  int ticks = 0;
  std::vector<std::string> server_errors;
  auto started = Clock::now();
  cohook::Runtime runtime(1);
  runtime.run([&] {
    CoroutineHttpServer server(50ms, address);
    ASSERT_TRUE(server.start());
    Ticker ticker;
    ticker.start();
    cohook::WaitGroup clients;
    for (int i = 0; i < kClients; ++i) {
      clients.add(1);
      cohook::go([&, i] {
        std::string url = "http://" + host + ":" + std::to_string(server.port()) + "/" + std::to_string(i);
        results[static_cast<std::size_t>(i)] = curl_fetch(url, 10000);
        clients.done();
      });
    }
    clients.wait();
    ticker.stop();
    server.stop();
    max_in_flight = server.max_in_flight();
    requests = server.requests();
    ticks = ticker.ticks();
    server_errors = server.errors();
  });
  auto elapsed = Clock::now() - started;
  for (int i = 0; i < kClients; ++i) {
    const Fetched& r = results[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.code, CURLE_OK) << "client " << i << ": " << curl_easy_strerror(r.code) << " " << r.error;
    EXPECT_EQ(r.status, 200) << "client " << i;
    EXPECT_EQ(r.body, CoroutineHttpServer::body_for("/" + std::to_string(i))) << "client " << i;
  }
  EXPECT_EQ(requests, kClients);
  EXPECT_TRUE(server_errors.empty()) << server_errors.front();
  // Every client waits in curl's poll at once: the server holds (nearly) all of them.
  EXPECT_GE(max_in_flight, 10);
  // The thread kept running the ticker while curl waited (serially: 20 x 50 ms = 1 s).
  EXPECT_GE(ticks, 3);
  EXPECT_LT(elapsed, 5s);
}

TEST(RealLibraryCurl, TwentyConcurrentGetsOnOneThread) { twenty_concurrent_gets("127.0.0.1"); }

// "localhost": curl (since 7.85) answers it itself, without asking the resolver.
TEST(RealLibraryCurl, TwentyConcurrentGetsToLocalhost) { twenty_concurrent_gets("localhost"); }

// A name only the system resolver knows (this machine's host name, which /etc/hosts maps to a
// loopback address on Debian: 127.0.1.1, or 127.0.0.1 in many containers): curl's threaded
// resolver starts a thread per lookup that runs getaddrinfo and wakes curl's poll through a
// socketpair created inside the coroutine. The server listens on exactly that address.
TEST(RealLibraryCurl, TwentyConcurrentGetsThroughTheResolver) {
  char name[256] = "";
  ASSERT_EQ(::gethostname(name, sizeof name - 1), 0);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(name, nullptr, &hints, &list) != 0 || list == nullptr)
    GTEST_SKIP() << "host name '" << name << "' does not resolve";
  in_addr address = reinterpret_cast<sockaddr_in*>(list->ai_addr)->sin_addr;
  ::freeaddrinfo(list);
  if ((ntohl(address.s_addr) >> 24) != 127)
    GTEST_SKIP() << "host name '" << name << "' is not a loopback address; only local traffic here";
  twenty_concurrent_gets(name, address);
}

// CURLOPT_TIMEOUT_MS against a server that never answers: curl's poll times out in the coroutine
// (parked, not blocking) and the transfer fails with CURLE_OPERATION_TIMEDOUT on time (1.5 s),
// while a fast transfer on the same thread completes meanwhile.
TEST(RealLibraryCurl, TimeoutAgainstASilentServer) {
  curl_global_once();
  constexpr int kHanging = 10;
  std::vector<Fetched> hung(kHanging);
  std::vector<Clock::duration> hung_took(kHanging);
  Fetched fast;
  Clock::duration fast_took{};
  int max_in_flight = 0;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    CoroutineHttpServer server(10ms);
    ASSERT_TRUE(server.start());
    std::string base = "http://127.0.0.1:" + std::to_string(server.port());
    cohook::WaitGroup clients;
    for (int i = 0; i < kHanging; ++i) {
      clients.add(1);
      cohook::go([&, i] {
        auto begin = Clock::now();
        hung[static_cast<std::size_t>(i)] = curl_fetch(base + "/hang/" + std::to_string(i), 1500);
        hung_took[static_cast<std::size_t>(i)] = Clock::now() - begin;
        clients.done();
      });
    }
    clients.add(1);
    cohook::go([&] {
      cohook::this_coroutine::sleep_for(20ms);  // the hanging ones are all waiting by now
      auto begin = Clock::now();
      fast = curl_fetch(base + "/fast", 5000);
      fast_took = Clock::now() - begin;
      clients.done();
    });
    clients.wait();
    server.stop();
    max_in_flight = server.max_in_flight();
  });
  for (int i = 0; i < kHanging; ++i) {
    EXPECT_EQ(hung[static_cast<std::size_t>(i)].code, CURLE_OPERATION_TIMEDOUT)
        << "client " << i << ": " << curl_easy_strerror(hung[static_cast<std::size_t>(i)].code);
    EXPECT_GE(hung_took[static_cast<std::size_t>(i)], 1490ms);
    EXPECT_LT(hung_took[static_cast<std::size_t>(i)], 5s);
  }
  EXPECT_EQ(fast.code, CURLE_OK) << curl_easy_strerror(fast.code) << " " << fast.error;
  EXPECT_EQ(fast.body, CoroutineHttpServer::body_for("/fast"));
  EXPECT_LT(fast_took, 1s);  // it did not wait behind the hanging transfers (1.5 s each)
  EXPECT_GE(max_in_flight, kHanging);
}

// A throwaway self-signed certificate (P-256) for the HTTPS server, made in memory.
SSL_CTX* make_server_tls_context() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  if (key == nullptr || cert == nullptr) return nullptr;
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  SSL_CTX* context = nullptr;
  if (X509_sign(cert, key, EVP_sha256()) > 0) {
    context = SSL_CTX_new(TLS_server_method());
    if (context != nullptr &&
        (SSL_CTX_use_certificate(context, cert) != 1 || SSL_CTX_use_PrivateKey(context, key) != 1)) {
      SSL_CTX_free(context);
      context = nullptr;
    }
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return context;
}

// HTTPS on both ends, on one thread: curl's OpenSSL handshakes and reads through its non-blocking
// socket and poll; the server's OpenSSL does blocking SSL_accept/SSL_read/SSL_write, whose
// read()/write() park. 20 handshakes in flight at once.
TEST(RealLibraryCurl, TwentyConcurrentHttpsGets) {
  curl_global_once();
  SSL_CTX* tls = make_server_tls_context();
  ASSERT_NE(tls, nullptr);
  constexpr int kClients = 20;
  std::vector<Fetched> results(kClients);
  int max_in_flight = 0;
  std::vector<std::string> server_errors;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    CoroutineHttpServer server(50ms);
    server.use_tls(tls);
    ASSERT_TRUE(server.start());
    cohook::WaitGroup clients;
    for (int i = 0; i < kClients; ++i) {
      clients.add(1);
      cohook::go([&, i] {
        std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/secure/" + std::to_string(i);
        results[static_cast<std::size_t>(i)] = curl_fetch(url, 10000);
        clients.done();
      });
    }
    clients.wait();
    server.stop();
    max_in_flight = server.max_in_flight();
    server_errors = server.errors();
  });
  SSL_CTX_free(tls);
  for (int i = 0; i < kClients; ++i) {
    const Fetched& r = results[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.code, CURLE_OK) << "client " << i << ": " << curl_easy_strerror(r.code) << " " << r.error;
    EXPECT_EQ(r.body, CoroutineHttpServer::body_for("/secure/" + std::to_string(i))) << "client " << i;
  }
  EXPECT_TRUE(server_errors.empty()) << server_errors.front();
  EXPECT_GE(max_in_flight, 10);
}

// A refused connection (a port nobody listens on) fails at once with CURLE_COULDNT_CONNECT:
// curl's non-blocking connect, its poll and its SO_ERROR check see what they would without cohook.
TEST(RealLibraryCurl, RefusedConnectionFailsPromptly) {
  curl_global_once();
  int closed_port = 0;
  int probe = hook_test::listen_loopback(&closed_port);
  ASSERT_GE(probe, 0);
  ::close(probe);
  Fetched refused;
  Clock::duration took{};
  cohook::Runtime runtime(1);
  runtime.run([&] {
    auto begin = Clock::now();
    refused = curl_fetch("http://127.0.0.1:" + std::to_string(closed_port) + "/", 5000);
    took = Clock::now() - begin;
  });
  EXPECT_EQ(refused.code, CURLE_COULDNT_CONNECT) << curl_easy_strerror(refused.code) << " " << refused.error;
  EXPECT_LT(took, 2s);
}

// Large uploads: curl's send() on a full socket buffer parks while the server coroutine drains
// it, on the same thread; bodies arrive intact.
TEST(RealLibraryCurl, ConcurrentLargePosts) {
  curl_global_once();
  constexpr int kClients = 8;
  constexpr std::size_t kSize = 2 << 20;  // 2 MiB: far beyond the socket buffers
  std::vector<std::string> bodies;
  for (int i = 0; i < kClients; ++i) bodies.push_back(hook_test::pattern(kSize, static_cast<unsigned>(i + 1)));
  std::vector<Fetched> results(kClients);
  int max_in_flight = 0;
  std::vector<std::string> server_errors;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    CoroutineHttpServer server(20ms);
    ASSERT_TRUE(server.start());
    cohook::WaitGroup clients;
    for (int i = 0; i < kClients; ++i) {
      clients.add(1);
      cohook::go([&, i] {
        std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/upload/" + std::to_string(i);
        results[static_cast<std::size_t>(i)] = curl_fetch(url, 20000, &bodies[static_cast<std::size_t>(i)]);
        clients.done();
      });
    }
    clients.wait();
    server.stop();
    max_in_flight = server.max_in_flight();
    server_errors = server.errors();
  });
  for (int i = 0; i < kClients; ++i) {
    const Fetched& r = results[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.code, CURLE_OK) << "client " << i << ": " << curl_easy_strerror(r.code) << " " << r.error;
    EXPECT_EQ(r.body, "POST /upload/" + std::to_string(i) + " " + std::to_string(kSize) + " bytes, sum " +
                          std::to_string(CoroutineHttpServer::checksum(bodies[static_cast<std::size_t>(i)])) + "\n");
  }
  EXPECT_TRUE(server_errors.empty()) << server_errors.front();
  EXPECT_GE(max_in_flight, kClients / 2);
}

// ---------------------------------------------------------------------------------------------
// hiredis against a redis-server started here

const char* find_redis_server() {
  for (const char* path : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
    if (::access(path, X_OK) == 0) return path;
  return nullptr;
}

// A redis-server child on a free loopback port, without persistence; killed in the destructor.
class RedisServer {
 public:
  // Outside any coroutine (posix_spawn, waits with plain sleeps).
  bool start(const char* binary) {
    int probe_port = 0;
    int probe = hook_test::listen_loopback(&probe_port);  // a port the kernel considers free
    if (probe < 0) return false;
    ::close(probe);
    port_ = probe_port;
    std::string port = std::to_string(port_);
    std::vector<std::string> args = {binary, "--port", port, "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                                     "--dir", "/tmp", "--logfile", "", "--loglevel", "warning",
                                     "--maxclients", "1000"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    int spawned = posix_spawn(&pid_, binary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      pid_ = -1;
      return false;
    }
    // Up within 10 s, answering PING.
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      timeval timeout{1, 0};
      redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
      if (c != nullptr && c->err == 0) {
        auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
        bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS && std::string(reply->str) == "PONG";
        if (reply != nullptr) freeReplyObject(reply);
        redisFree(c);
        if (ok) return true;
      } else if (c != nullptr) {
        redisFree(c);
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited (port taken?)
        pid_ = -1;
        return false;
      }
      ::usleep(20000);
    }
    return false;
  }

  ~RedisServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {  // 2 s, then SIGKILL
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      ::usleep(10000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

redisReply* command(redisContext* c, const char* format, const std::string& a, const std::string& b = "") {
  return static_cast<redisReply*>(redisCommand(c, format, a.c_str(), b.c_str()));
}

// The number in "blocked_clients:N" of INFO clients, or -1.
int blocked_clients(redisContext* c) {
  auto* reply = static_cast<redisReply*>(redisCommand(c, "INFO clients"));
  int blocked = -1;
  if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
    const char* at = std::strstr(reply->str, "blocked_clients:");
    if (at != nullptr) blocked = std::atoi(at + std::strlen("blocked_clients:"));
  }
  if (reply != nullptr) freeReplyObject(reply);
  return blocked;
}

// 20 coroutines each block in BLPOP (a blocking read in hiredis, held by the server until data
// arrives). The server must report all 20 blocked at once before anything is pushed: with a
// blocking read holding the thread, the second BLPOP would never be sent.
TEST(RealLibraryHiredis, TwentyBlockingPopsParkTogether) {
  const char* binary = find_redis_server();
  if (binary == nullptr) GTEST_SKIP() << "redis-server is not installed (Debian package redis-server)";
  RedisServer redis;
  ASSERT_TRUE(redis.start(binary)) << "redis-server did not start";
  constexpr int kClients = 20;
  const std::string prefix = "cohook-test:" + std::to_string(::getpid()) + ":";
  std::vector<std::string> popped(kClients);
  std::vector<std::string> errors;
  int most_blocked = 0;
  int ticks = 0;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    Ticker ticker;
    ticker.start();
    cohook::WaitGroup poppers;
    for (int i = 0; i < kClients; ++i) {
      poppers.add(1);
      cohook::go([&, i] {
        timeval timeout{10, 0};  // a safety bound: SO_RCVTIMEO/SO_SNDTIMEO on the socket
        redisContext* c = redisConnectWithTimeout("127.0.0.1", redis.port(), timeout);
        if (c == nullptr || c->err != 0) {
          errors.push_back(std::string("connect: ") + (c != nullptr ? c->errstr : "null"));
        } else {
          redisReply* reply = command(c, "BLPOP %s 5", prefix + std::to_string(i));
          if (reply == nullptr) {
            errors.push_back(std::string("BLPOP: ") + c->errstr);
          } else {
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
              popped[static_cast<std::size_t>(i)] = reply->element[1]->str;
            } else {
              errors.push_back("BLPOP reply type " + std::to_string(reply->type));
            }
            freeReplyObject(reply);
          }
        }
        if (c != nullptr) redisFree(c);
        poppers.done();
      });
    }
    // A separate client watches the server until it holds every BLPOP, then pushes.
    timeval timeout{10, 0};
    redisContext* admin = redisConnectWithTimeout("127.0.0.1", redis.port(), timeout);
    ASSERT_TRUE(admin != nullptr && admin->err == 0);
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      most_blocked = std::max(most_blocked, blocked_clients(admin));
      if (most_blocked >= kClients) break;
      cohook::this_coroutine::sleep_for(5ms);
    }
    for (int i = 0; i < kClients; ++i) {
      redisReply* reply = command(admin, "RPUSH %s %s", prefix + std::to_string(i), "value-" + std::to_string(i));
      if (reply != nullptr) freeReplyObject(reply);
    }
    poppers.wait();
    redisFree(admin);
    ticker.stop();
    ticks = ticker.ticks();
  });
  EXPECT_EQ(most_blocked, kClients);
  EXPECT_TRUE(errors.empty()) << errors.front();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(popped[static_cast<std::size_t>(i)], "value-" + std::to_string(i));
  EXPECT_GE(ticks, 1);
}

// redisSetTimeout sets SO_RCVTIMEO/SO_SNDTIMEO; a BLPOP that the server holds longer must fail
// with an I/O error (EAGAIN, as a blocking read with SO_RCVTIMEO does) after that time, in every
// coroutine at once, not after the server's own 5 s.
TEST(RealLibraryHiredis, SocketTimeoutEndsABlockedCommand) {
  const char* binary = find_redis_server();
  if (binary == nullptr) GTEST_SKIP() << "redis-server is not installed (Debian package redis-server)";
  RedisServer redis;
  ASSERT_TRUE(redis.start(binary)) << "redis-server did not start";
  constexpr int kClients = 10;
  const std::string prefix = "cohook-test:" + std::to_string(::getpid()) + ":timeout:";
  std::vector<int> errs(kClients, -1);
  std::vector<int> errnos(kClients, -1);
  std::vector<Clock::duration> took(kClients);
  auto started = Clock::now();
  cohook::Runtime runtime(1);
  runtime.run([&] {
    for (int i = 0; i < kClients; ++i) {
      cohook::go([&, i] {
        redisContext* c = redisConnect("127.0.0.1", redis.port());
        if (c == nullptr || c->err != 0) {
          if (c != nullptr) redisFree(c);
          return;
        }
        ASSERT_EQ(redisSetTimeout(c, timeval{0, 200000}), REDIS_OK);
        auto begin = Clock::now();
        redisReply* reply = command(c, "BLPOP %s 5", prefix + std::to_string(i));
        took[static_cast<std::size_t>(i)] = Clock::now() - begin;
        errnos[static_cast<std::size_t>(i)] = errno;
        errs[static_cast<std::size_t>(i)] = c->err;
        if (reply != nullptr) freeReplyObject(reply);
        redisFree(c);
      });
    }
  });
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(errs[static_cast<std::size_t>(i)], REDIS_ERR_IO) << "client " << i;
    EXPECT_EQ(errnos[static_cast<std::size_t>(i)], EAGAIN) << "client " << i;
    EXPECT_GE(took[static_cast<std::size_t>(i)], 190ms) << "client " << i;
    EXPECT_LT(took[static_cast<std::size_t>(i)], 2s) << "client " << i;
  }
  EXPECT_LT(Clock::now() - started, 3s);  // together, not one after another
}

// Many coroutines pipelining plain commands over their own connections, interleaved on one
// thread: every reply matches its request.
TEST(RealLibraryHiredis, ConcurrentSetGetRoundTrips) {
  const char* binary = find_redis_server();
  if (binary == nullptr) GTEST_SKIP() << "redis-server is not installed (Debian package redis-server)";
  RedisServer redis;
  ASSERT_TRUE(redis.start(binary)) << "redis-server did not start";
  constexpr int kClients = 50;
  constexpr int kRounds = 40;
  const std::string prefix = "cohook-test:" + std::to_string(::getpid()) + ":kv:";
  std::atomic<int> matched{0};
  std::vector<std::string> errors;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    for (int i = 0; i < kClients; ++i) {
      cohook::go([&, i] {
        timeval timeout{10, 0};
        redisContext* c = redisConnectWithTimeout("127.0.0.1", redis.port(), timeout);
        if (c == nullptr || c->err != 0) {
          errors.push_back(std::string("connect: ") + (c != nullptr ? c->errstr : "null"));
          if (c != nullptr) redisFree(c);
          return;
        }
        for (int round = 0; round < kRounds; ++round) {
          std::string key = prefix + std::to_string(i);
          std::string value = hook_test::pattern(100 + static_cast<std::size_t>(round) * 50,
                                                 static_cast<unsigned>(i * 1000 + round));
          redisReply* set = static_cast<redisReply*>(
              redisCommand(c, "SET %s %b", key.c_str(), value.data(), value.size()));
          if (set == nullptr) {
            errors.push_back(std::string("SET: ") + c->errstr);
            break;
          }
          freeReplyObject(set);
          redisReply* get = static_cast<redisReply*>(redisCommand(c, "GET %s", key.c_str()));
          if (get == nullptr) {
            errors.push_back(std::string("GET: ") + c->errstr);
            break;
          }
          if (get->type == REDIS_REPLY_STRING && std::string(get->str, get->len) == value) ++matched;
          freeReplyObject(get);
        }
        redisFree(c);
      });
    }
  });
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(matched.load(), kClients * kRounds);
}

}  // namespace
