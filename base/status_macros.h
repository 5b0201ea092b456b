// Early-return helpers for absl::Status, which abseil 20220623 does not ship.
//
//   absl::StatusOr<Foo> Load(std::string_view path) {
//     SWARM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//     SWARM_RETURN_IF_ERROR(Check(bytes));
//     return Foo(bytes);
//   }
#ifndef SWARM_BASE_STATUS_MACROS_H_
#define SWARM_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SWARM_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status swarm_status_ = (expr);         \
    if (!swarm_status_.ok()) return swarm_status_; \
  } while (0)

#define SWARM_STATUS_CONCAT_INNER_(a, b) a##b
#define SWARM_STATUS_CONCAT_(a, b) SWARM_STATUS_CONCAT_INNER_(a, b)

#define SWARM_ASSIGN_OR_RETURN(lhs, expr) \
  SWARM_ASSIGN_OR_RETURN_IMPL_(SWARM_STATUS_CONCAT_(swarm_statusor_, __LINE__), lhs, expr)

#define SWARM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // SWARM_BASE_STATUS_MACROS_H_
