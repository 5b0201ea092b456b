#include "bt/endpoint.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace swarm::bt {
namespace {

constexpr char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\xff', '\xff'};

// Untrusted text, quoted and cut for an error message.
std::string Quote(std::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(Absl(text.substr(0, 64))),
                      text.size() > 64 ? "...\"" : "\"");
}

}  // namespace

IpAddress::IpAddress() : bytes_(4, '\0'), text_("0.0.0.0") {}

absl::StatusOr<IpAddress> IpAddress::FromBytes(std::string_view bytes) {
  if (bytes.size() == 16 && std::memcmp(bytes.data(), kMappedPrefix, 12) == 0) {
    bytes.remove_prefix(12);  // a dual-stack socket's IPv4 peer: trackers list it as IPv4
  }
  if (bytes.size() != 4 && bytes.size() != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("an IP address has 4 or 16 bytes, not ", bytes.size()));
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(bytes.size() == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof(text)) ==
      nullptr) {
    return absl::InternalError("inet_ntop failed");  // cannot happen with 4 or 16 bytes
  }
  return IpAddress(std::string(bytes), text);
}

absl::StatusOr<IpAddress> IpAddress::Parse(std::string_view text) {
  // inet_pton wants a NUL-terminated string; the longest IPv6 text form is 45 characters.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN ||
      text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is not an IPv4 or IPv6 address"));
  }
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  unsigned char bytes[16];
  if (inet_pton(AF_INET, buf, bytes) == 1) {
    return FromBytes(std::string_view(reinterpret_cast<char*>(bytes), 4));
  }
  if (inet_pton(AF_INET6, buf, bytes) == 1) {
    return FromBytes(std::string_view(reinterpret_cast<char*>(bytes), 16));
  }
  return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is not an IPv4 or IPv6 address"));
}

bool IpAddress::IsLoopback() const {
  if (is_v4()) return bytes_[0] == 127;
  return bytes_.compare(0, 15, std::string(15, '\0')) == 0 && bytes_[15] == 1;
}

bool IpAddress::IsUnspecified() const { return bytes_ == std::string(bytes_.size(), '\0'); }

bool IpAddress::IsMulticast() const {
  const auto b0 = static_cast<uint8_t>(bytes_[0]);
  return is_v4() ? (b0 & 0xf0) == 0xe0 : b0 == 0xff;
}

bool IpAddress::IsReservedV4() const {
  if (!is_v4()) return false;
  const auto b0 = static_cast<uint8_t>(bytes_[0]);
  return b0 == 0 || (b0 & 0xf0) == 0xf0;  // 255.255.255.255 is inside 240/4
}

bool IpAddress::IsPrivate() const {
  const auto b0 = static_cast<uint8_t>(bytes_[0]);
  const auto b1 = static_cast<uint8_t>(bytes_[1]);
  if (is_v4()) {
    return b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) ||
           (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 169 && b1 == 254);
  }
  return (b0 & 0xfe) == 0xfc || (b0 == 0xfe && (b1 & 0xc0) == 0x80);
}

absl::StatusOr<Endpoint> Endpoint::Make(const IpAddress& ip, uint32_t port) {
  if (port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", port, " of ", ip.ToString(), " is not in 1..65535"));
  }
  return Endpoint(ip, static_cast<uint16_t>(port));
}

absl::StatusOr<Endpoint> Endpoint::Make(std::string_view ip, uint32_t port) {
  absl::StatusOr<IpAddress> parsed = IpAddress::Parse(ip);
  if (!parsed.ok()) return parsed.status();
  return Make(*parsed, port);
}

absl::StatusOr<Endpoint> Endpoint::Parse(std::string_view ip_port) {
  std::string_view ip;
  std::string_view port;
  if (!ip_port.empty() && ip_port[0] == '[') {
    const size_t close = ip_port.find(']');
    if (close == std::string_view::npos || close + 1 >= ip_port.size() ||
        ip_port[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(Quote(ip_port), " is not [ip]:port"));
    }
    ip = ip_port.substr(1, close - 1);
    port = ip_port.substr(close + 2);
  } else {
    const size_t colon = ip_port.find(':');
    // One colon only: an IPv6 address needs its brackets, or the port would be ambiguous.
    if (colon == std::string_view::npos || ip_port.find(':', colon + 1) != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(Quote(ip_port), " is not ip:port"));
    }
    ip = ip_port.substr(0, colon);
    port = ip_port.substr(colon + 1);
  }
  uint32_t number = 0;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(Absl(port), &number)) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(ip_port), " has no valid port"));
  }
  return Make(ip, number);
}

std::string Endpoint::ToString() const {
  if (ip_.is_v4()) return absl::StrCat(ip_.ToString(), ":", port_);
  return absl::StrCat("[", ip_.ToString(), "]:", port_);
}

}  // namespace swarm::bt
