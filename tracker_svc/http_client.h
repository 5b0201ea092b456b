// A bounded HTTP(S) GET for tracker requests, over libcurl: redirects followed up to a limit
// (http and https only), a connect timeout, a hard deadline for the whole transfer, a cap on the
// body size, and cancellation. Thread-safe: each Get uses its own curl handle.
//
//   tracker_svc::HttpClient http(tracker_svc::HttpClient::Options{});
//   absl::StatusOr<tracker_svc::HttpResult> r =
//       http.Get(url, absl::Now() + absl::Seconds(10), [&] { return ctx->IsCancelled(); });
//   if (r.ok() && r->status_code == 200) Parse(r->body);
//
// Errors: DEADLINE_EXCEEDED when the deadline passes, CANCELLED when `cancelled` says so,
// UNAVAILABLE for everything else (connection refused, too many redirects, body over the cap,
// TLS errors), each with the reason in the message. Non-2xx answers are not errors here.
#ifndef SWARM_TRACKER_SVC_HTTP_CLIENT_H_
#define SWARM_TRACKER_SVC_HTTP_CLIENT_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace swarm::tracker_svc {

struct HttpResult {
  long status_code = 0;  // the final answer's, after redirects
  std::string body;
  // The address the final answer came from (libcurl's primary IP); empty when unknown.
  std::string primary_ip;
};

class HttpClient {
 public:
  struct Options {
    // Most redirects followed (BEP 3 trackers rarely redirect more than once).
    int max_redirects = 5;
    // Longest wait for the TCP (and TLS) connection; the deadline bounds it too.
    absl::Duration connect_timeout = absl::Seconds(10);
    // Largest body accepted; larger answers fail rather than fill memory.
    size_t max_body_bytes = 2u << 20;
    std::string user_agent = "swarm/0.1";
  };

  explicit HttpClient(Options options);

  // Performs a GET of `url`, ending by `deadline` at the latest. `cancelled`, when set, is
  // polled during the transfer; returning true aborts it.
  absl::StatusOr<HttpResult> Get(const std::string& url, absl::Time deadline,
                                 const std::function<bool()>& cancelled = nullptr) const;

 private:
  Options options_;
};

}  // namespace swarm::tracker_svc

#endif  // SWARM_TRACKER_SVC_HTTP_CLIENT_H_
