#include "rpc/token_source.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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
  // O_NONBLOCK: a FIFO planted at the path must not hang us; it is refused below.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the auth token file ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  std::string error;
  if (fstat(fd, &st) != 0) {
    error = absl::StrCat("cannot stat it: ", std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    error = "it is not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    error = absl::StrFormat("its mode is %04o, so others may read it; chmod 600 it",
                            st.st_mode & 07777);
  } else if (static_cast<size_t>(st.st_size) > kMaxTokenFileBytes) {
    error = absl::StrCat("it is larger than ", kMaxTokenFileBytes, " bytes");
  }
  std::string content;
  if (error.empty()) {
    content.resize(kMaxTokenFileBytes);
    const ssize_t n = read(fd, content.data(), content.size());
    if (n < 0) {
      error = absl::StrCat("cannot read it: ", std::strerror(errno));
    } else {
      content.resize(static_cast<size_t>(n));
    }
  }
  close(fd);
  if (!error.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("auth token file ", path, ": ", error));
  }
  std::string token(absl::StripAsciiWhitespace(content.substr(0, content.find('\n'))));
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
