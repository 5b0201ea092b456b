#include "tracker_svc/http_client.h"

#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tracker_svc/testing/fake_http_tracker.h"

namespace swarm::tracker_svc {
namespace {

using testing::FakeHttpTracker;

// Loose bound for "ended by its deadline": CI machines are slow and shared.
constexpr absl::Duration kSlack = absl::Seconds(2);

std::unique_ptr<FakeHttpTracker> Start(FakeHttpTracker::Handler handler) {
  auto tracker = FakeHttpTracker::Start(std::move(handler));
  EXPECT_TRUE(tracker.ok()) << tracker.status();
  return *std::move(tracker);
}

TEST(HttpClientTest, GetsBodyAndStatus) {
  auto tracker = Start([](const FakeHttpTracker::Request& r) {
    return FakeHttpTracker::Response{.status = 200, .body = "hello " + r.target};
  });
  HttpClient client({});
  auto r = client.Get(tracker->url("/announce?a=%00b"), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status_code, 200);
  EXPECT_EQ(r->body, "hello /announce?a=%00b");
}

TEST(HttpClientTest, NotFoundIsAnAnswerNotAnError) {
  auto tracker = Start([](const FakeHttpTracker::Request&) {
    return FakeHttpTracker::Response{.status = 404, .body = "nope"};
  });
  HttpClient client({});
  auto r = client.Get(tracker->url(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status_code, 404);
}

TEST(HttpClientTest, FollowsRedirectsWithinTheBound) {
  std::unique_ptr<FakeHttpTracker> tracker;
  tracker = Start([&](const FakeHttpTracker::Request& r) {
    // /hop/N redirects to /hop/N-1; /hop/0 answers.
    int n = std::stoi(r.target.substr(5));
    if (n == 0) return FakeHttpTracker::Response{.body = "arrived"};
    return FakeHttpTracker::Response{.status = 302, .location = "/hop/" + std::to_string(n - 1)};
  });
  HttpClient::Options options;
  options.max_redirects = 3;
  HttpClient client(options);
  auto r = client.Get(tracker->url("/hop/3"), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "arrived");
  r = client.Get(tracker->url("/hop/4"), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("redirects"), std::string::npos) << r.status();
}

TEST(HttpClientTest, RefusesRedirectToOtherSchemes) {
  auto tracker = Start([](const FakeHttpTracker::Request&) {
    return FakeHttpTracker::Response{.status = 302, .location = "file:///etc/passwd"};
  });
  HttpClient client({});
  auto r = client.Get(tracker->url(), absl::Now() + absl::Seconds(10));
  EXPECT_FALSE(r.ok() && r->status_code == 200 && !r->body.empty());
}

TEST(HttpClientTest, TimesOutByTheDeadline) {
  auto tracker = Start([](const FakeHttpTracker::Request&) {
    return FakeHttpTracker::Response{.never_answer = true};
  });
  HttpClient client({});
  const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
  auto r = client.Get(tracker->url(), deadline);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now(), deadline + kSlack);
}

TEST(HttpClientTest, PastDeadlineFailsAtOnce) {
  HttpClient client({});
  auto r = client.Get("http://127.0.0.1:1/", absl::Now() - absl::Seconds(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HttpClientTest, OversizeBodyWithAndWithoutContentLength) {
  for (bool content_length : {true, false}) {
    auto tracker = Start([&](const FakeHttpTracker::Request&) {
      return FakeHttpTracker::Response{.body = std::string(100'000, 'x'),
                                       .send_content_length = content_length};
    });
    HttpClient::Options options;
    options.max_body_bytes = 10'000;
    HttpClient client(options);
    auto r = client.Get(tracker->url(), absl::Now() + absl::Seconds(10));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << content_length;
    EXPECT_NE(r.status().message().find("larger than 10000 bytes"), std::string::npos)
        << r.status();
  }
}

TEST(HttpClientTest, ConnectionRefused) {
  // Bind a port and close it again: nothing listens there.
  int port;
  {
    auto tracker =
        Start([](const FakeHttpTracker::Request&) { return FakeHttpTracker::Response{}; });
    port = tracker->port();
  }
  HttpClient client({});
  auto r =
      client.Get("http://127.0.0.1:" + std::to_string(port) + "/", absl::Now() + absl::Seconds(10));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST(HttpClientTest, Cancellation) {
  absl::Notification request_seen;
  auto tracker = Start([&](const FakeHttpTracker::Request&) {
    request_seen.Notify();
    return FakeHttpTracker::Response{.never_answer = true};
  });
  HttpClient client({});
  auto r = client.Get(tracker->url(), absl::Now() + absl::Seconds(60),
                      [&] { return request_seen.HasBeenNotified(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
}

}  // namespace
}  // namespace swarm::tracker_svc
