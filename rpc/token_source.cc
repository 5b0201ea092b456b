#include "rpc/token_source.h"

#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rpc/credential_file.h"

namespace swarm::rpc {
namespace {

constexpr size_t kMaxTokenFileBytes = 4096;

// The host part of "host:port", "[v6]:port" or a bare host.
std::string HostOf(const std::string& listen) {
  if (!listen.empty() && listen[0] == '[') {
    const size_t close = listen.find(']');
    return close == std::string::npos ? listen : listen.substr(1, close - 1);
  }
  const size_t colon = listen.rfind(':');
  // More than one colon and no brackets: a bare IPv6 address.
  if (colon == std::string::npos || listen.find(':') != colon) return listen;
  return listen.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path) {
  absl::StatusOr<std::string> content =
      ReadCredentialFile(path, "auth token file", Secrecy::kPrivate, kMaxTokenFileBytes);
  if (!content.ok()) return content.status();
  std::string token(absl::StripAsciiWhitespace(content->substr(0, content->find('\n'))));
  if (token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("auth token file ", path, " is empty"));
  }
  return token;
}

absl::StatusOr<std::string> LoadAuthToken(const std::string& file) {
  if (!file.empty()) return ReadAuthTokenFile(file);
  const char* env = std::getenv(kAuthTokenEnv);
  return std::string(env == nullptr ? "" : env);
}

bool ListensOnLoopbackOnly(const std::string& listen) {
  // A Unix socket is reachable only through the file system, on this machine.
  if (absl::StartsWith(listen, "unix:")) return true;
  const std::string host = HostOf(listen);
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::Status RequireTokenBeyondLoopback(const std::string& listen, const std::string& token) {
  if (!token.empty() || ListensOnLoopbackOnly(listen)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("refusing to listen on ", listen,
                   " without an auth token: anyone who reaches it could use it. Give the "
                   "token in a file of mode 0600 (--auth_token_file) or in ",
                   kAuthTokenEnv, ", or listen on 127.0.0.1 only"));
}

absl::StatusOr<std::string> MakeRandomToken() {
  char bytes[16];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    return absl::InternalError(absl::StrCat("getrandom: ", std::strerror(errno)));
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

}  // namespace swarm::rpc
