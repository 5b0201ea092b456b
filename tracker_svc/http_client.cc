#include "tracker_svc/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace swarm::tracker_svc {
namespace {

struct Transfer {
  std::string body;
  size_t max_body_bytes = 0;
  bool oversize = false;
  const std::function<bool()>* cancelled = nullptr;
  bool was_cancelled = false;
};

size_t OnWrite(char* data, size_t size, size_t nmemb, void* user) {
  Transfer* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (t->body.size() + n > t->max_body_bytes) {
    t->oversize = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  Transfer* t = static_cast<Transfer*>(user);
  if (t->cancelled != nullptr && *t->cancelled && (*t->cancelled)()) {
    t->was_cancelled = true;
    return 1;  // aborts the transfer
  }
  return 0;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

}  // namespace

HttpClient::HttpClient(Options options) : options_(std::move(options)) {
  // Not thread-safe in every libcurl build, so once, before any handle exists.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<HttpResult> HttpClient::Get(const std::string& url, absl::Time deadline,
                                           const std::function<bool()>& cancelled) const {
  const absl::Duration remaining = deadline - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("no time left for the HTTP request");
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  CURL* c = curl.get();
  Transfer transfer;
  transfer.max_body_bytes = options_.max_body_bytes;
  transfer.cancelled = &cancelled;
  char error[CURL_ERROR_SIZE] = {0};
  // At least 1 ms: 0 would mean "no timeout" to curl.
  const long total_ms = std::max<long>(1, absl::ToInt64Milliseconds(remaining));
  const long connect_ms =
      std::min(total_ms, std::max<long>(1, absl::ToInt64Milliseconds(options_.connect_timeout)));

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // required with threads; timeouts use no alarm
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(options_.max_redirects));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_body_bytes));
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string detail = error[0] != '\0' ? error : curl_easy_strerror(rc);
    if (transfer.was_cancelled) return absl::CancelledError("HTTP request cancelled");
    if (transfer.oversize || rc == CURLE_FILESIZE_EXCEEDED) {
      return absl::UnavailableError(
          absl::StrCat("tracker response larger than ", options_.max_body_bytes, " bytes"));
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(
          absl::StrCat("HTTP request timed out after ", total_ms, " ms: ", detail));
    }
    if (rc == CURLE_TOO_MANY_REDIRECTS) {
      return absl::UnavailableError(
          absl::StrCat("more than ", options_.max_redirects, " redirects: ", detail));
    }
    return absl::UnavailableError(absl::StrCat("HTTP request failed: ", detail));
  }
  HttpResult result;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &result.status_code);
  char* primary_ip = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &primary_ip) == CURLE_OK && primary_ip != nullptr) {
    result.primary_ip = primary_ip;
  }
  result.body = std::move(transfer.body);
  return result;
}

}  // namespace swarm::tracker_svc
