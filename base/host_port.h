// "ip:port", with an IPv6 address in brackets ("[2001:db8::1]:6881"): how peers are named in
// keys, logs and messages across the services.
#ifndef SWARM_BASE_HOST_PORT_H_
#define SWARM_BASE_HOST_PORT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace swarm {

inline std::string HostPort(std::string_view ip, uint32_t port) {
  if (ip.find(':') != std::string_view::npos) return absl::StrCat("[", Absl(ip), "]:", port);
  return absl::StrCat(Absl(ip), ":", port);
}

}  // namespace swarm

#endif  // SWARM_BASE_HOST_PORT_H_
