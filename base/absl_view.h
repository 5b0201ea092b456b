// std::string_view -> absl::string_view. Debian's abseil is built with its own string_view
// (ABSL_OPTION_USE_STD_STRING_VIEW 0), which std::string_view does not convert to implicitly:
// our APIs take std::string_view and convert where they call absl (StrCat, escaping, ...).
//
//   absl::StrCat("bad key \"", swarm::Absl(key), "\"")
#ifndef SWARM_BASE_ABSL_VIEW_H_
#define SWARM_BASE_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace swarm {

inline absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace swarm

#endif  // SWARM_BASE_ABSL_VIEW_H_
