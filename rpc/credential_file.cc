#include "rpc/credential_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace swarm::rpc {

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view what,
                                               Secrecy secrecy, size_t max_bytes) {
  // O_NONBLOCK: a FIFO planted at the path must not hang us; it is refused below.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the ", what, " ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  std::string error;
  if (fstat(fd, &st) != 0) {
    error = absl::StrCat("cannot stat it: ", std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    error = "it is not a regular file";
  } else if (secrecy == Secrecy::kPrivate && (st.st_mode & 077) != 0) {
    error = absl::StrFormat("its mode is %04o, so others may read it; chmod 600 it",
                            st.st_mode & 07777);
  } else if (static_cast<size_t>(st.st_size) > max_bytes) {
    error = absl::StrCat("it is larger than ", max_bytes, " bytes");
  }
  std::string content;
  while (error.empty() && content.size() <= max_bytes) {
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) error = absl::StrCat("cannot read it: ", std::strerror(errno));
    if (n <= 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (error.empty() && content.size() > max_bytes) {
    error = absl::StrCat("it is larger than ", max_bytes, " bytes");
  }
  if (!error.empty())
    return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", error));
  return content;
}

}  // namespace swarm::rpc
