// The real CoordinatorServer on port 0, driven over real gRPC by fake workers written here,
// with a fake TrackerQuery service that hands out a fixed peer list. Time-dependent paths
// (lease expiry, missed heartbeats) run on a FakeClock; every wait is on an event (a stream
// message, a recorded announce) with a generous bound that only matters when a test fails.
#include "coordinator/coordinator_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/testing/files.h"
#include "bt/bencode.h"
#include "bt/bitfield.h"
#include "bt/metainfo.h"
#include "bt/sha1.h"
#include "coordinator/clock.h"
#include "coordinator/resume_record.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/tracker.grpc.pb.h"
#include "rpc/auth_token.h"
#include "rpc/submit_job.h"
#include "storage/content_files.h"

namespace swarm::coordinator {
namespace {

using ::swarm::testing::MakeTempDir;
using ::swarm::testing::ReadWholeFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

// Bound on every wait: reached only when something is broken.
constexpr absl::Duration kWait = absl::Seconds(20);
constexpr char kToken[] = "secret";

off_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// A multi-file torrent over pseudo-random content: "multi/a" (20000 bytes),
// "multi/sub/b" (50000), "multi/sub/deep/c" (30000); 16 KiB pieces, so 7 pieces, the last
// one short, several straddling files.
struct TestTorrent {
  std::string bytes;
  std::string content;
  bt::Metainfo metainfo;
  std::string id;
  uint32_t num_pieces = 0;
};

TestTorrent MakeTorrent(uint32_t seed = 7) {
  TestTorrent t;
  const std::vector<std::pair<std::vector<std::string>, size_t>> files = {
      {{"a"}, 20000}, {{"sub", "b"}, 50000}, {{"sub", "deep", "c"}, 30000}};
  std::mt19937 rng(seed);
  bt::BValue::List list;
  for (const auto& [path, length] : files) {
    for (size_t i = 0; i < length; ++i) t.content.push_back(static_cast<char>(rng()));
    bt::BValue::List p;
    for (const std::string& c : path) p.emplace_back(c);
    bt::BValue::Dict f;
    f["length"] = static_cast<int64_t>(length);
    f["path"] = p;
    list.emplace_back(f);
  }
  const size_t piece_length = 16384;
  std::string hashes;
  for (size_t off = 0; off < t.content.size(); off += piece_length) {
    hashes += std::string(bt::AsBytes(bt::Sha1(t.content.substr(off, piece_length))));
  }
  bt::BValue::Dict info;
  info["name"] = "multi";
  info["piece length"] = static_cast<int64_t>(piece_length);
  info["pieces"] = hashes;
  info["files"] = list;
  bt::BValue::Dict root;
  root["announce"] = "http://tracker.test/announce";
  root["info"] = info;
  t.bytes = bt::Encode(bt::BValue(root));
  t.metainfo = *bt::ParseMetainfo(t.bytes);
  t.id = bt::ToHex(t.metainfo.info_hash);
  t.num_pieces = t.metainfo.num_pieces();
  return t;
}

// A torrent of `n` one-byte files, each in a folder of its own ("many/d<i>/f"): creating its
// layout (a mkdir, an open and a preallocation per file) takes long enough for calls that
// race each other to overlap.
std::string ManyFilesTorrent(int n) {
  std::string content;
  bt::BValue::List list;
  for (int i = 0; i < n; ++i) {
    content.push_back(static_cast<char>(i));
    bt::BValue::Dict f;
    f["length"] = int64_t{1};
    f["path"] = bt::BValue::List{bt::BValue(absl::StrCat("d", i)), bt::BValue("f")};
    list.emplace_back(f);
  }
  bt::BValue::Dict info;
  info["name"] = "many";
  info["piece length"] = int64_t{16384};
  info["pieces"] = std::string(bt::AsBytes(bt::Sha1(content)));
  info["files"] = list;
  bt::BValue::Dict root;
  root["announce"] = "http://tracker.test/announce";
  root["info"] = info;
  return bt::Encode(bt::BValue(root));
}

std::string PieceData(const TestTorrent& t, uint32_t piece) {
  return t.content.substr(size_t{piece} * 16384, 16384);
}

// --- fake tracker_svc ------------------------------------------------------------------------

using AnnouncePred = std::function<bool(const pb::AnnounceRequest&)>;

class FakeTracker final : public pb::TrackerQuery::Service {
 public:
  explicit FakeTracker(Clock* clock) : clock_(clock) {}

  grpc::Status Announce(grpc::ServerContext*, const pb::AnnounceRequest* request,
                        pb::AnnounceResponse* response) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    times_.push_back(clock_->Now());
    if (fail_next_ > 0) {
      --fail_next_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "tracker down");
    }
    for (int i = 1; i <= 3; ++i) {
      pb::Peer* p = response->add_peers();
      p->set_ip(absl::StrCat("10.0.0.", i));
      p->set_port(6880 + i);
    }
    for (const pb::Peer& p : extra_peers_) *response->add_peers() = p;
    response->set_interval_s(interval_s_);
    response->set_min_interval_s(min_interval_s_);
    response->set_tracker_url("http://tracker.test/announce");
    response->set_tracker_ip(tracker_ip_);
    return grpc::Status::OK;
  }

  void SetIntervals(uint32_t interval_s, uint32_t min_interval_s) {
    absl::MutexLock lock(&mu_);
    interval_s_ = interval_s;
    min_interval_s_ = min_interval_s;
  }
  // Answers list this peer too (after the three 10.0.0.x ones).
  // Where the answers say they come from (loopback unless a test says otherwise).
  void SetTrackerIp(const std::string& ip) {
    absl::MutexLock lock(&mu_);
    tracker_ip_ = ip;
  }
  void AddPeer(const std::string& ip, uint32_t port, const std::string& peer_id = "") {
    absl::MutexLock lock(&mu_);
    pb::Peer p;
    p.set_ip(ip);
    p.set_port(port);
    p.set_peer_id(peer_id);
    extra_peers_.push_back(p);
  }

  // Waits for the `nth` announce that matches; returns it and (in *at) the fake time it
  // came in.
  std::optional<pb::AnnounceRequest> WaitFor(const AnnouncePred& pred,
                                                    absl::Time* at = nullptr, int nth = 1) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int n = 0;
      for (const auto& r : requests_) n += pred(r);
      return n >= nth;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&seen), kWait)) return std::nullopt;
    int n = 0;
    for (size_t i = 0; i < requests_.size(); ++i) {
      if (!pred(requests_[i]) || ++n < nth) continue;
      if (at != nullptr) *at = times_[i];
      return requests_[i];
    }
    return std::nullopt;
  }
  // The `nth` announce of `event` by the peer with `peer_id`.
  std::optional<pb::AnnounceRequest> WaitFor(pb::AnnounceEvent event,
                                                    const std::string& peer_id,
                                                    absl::Time* at = nullptr, int nth = 1) {
    return WaitFor(
        [event, peer_id](const pb::AnnounceRequest& r) {
          return r.event() == event && r.peer_id() == peer_id;
        },
        at, nth);
  }

  int Count(const AnnouncePred& pred) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& r : requests_) n += pred(r);
    return n;
  }

  // Waits for an announce with `event`; returns it.
  std::optional<pb::AnnounceRequest> WaitFor(pb::AnnounceEvent event) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& r : requests_) {
        if (r.event() == event) return true;
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&seen), kWait)) return std::nullopt;
    for (const auto& r : requests_) {
      if (r.event() == event) return r;
    }
    return std::nullopt;
  }

  // Waits until `n` announces with `event` have come in.
  bool WaitForCount(pb::AnnounceEvent event, int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int count = 0;
      for (const auto& r : requests_) count += r.event() == event;
      return count >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }

  // The next `n` announces fail with UNAVAILABLE.
  void FailNext(int n) {
    absl::MutexLock lock(&mu_);
    fail_next_ = n;
  }

  int Count(pb::AnnounceEvent event) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& r : requests_) n += r.event() == event;
    return n;
  }

 private:
  Clock* const clock_;
  absl::Mutex mu_;
  std::vector<pb::AnnounceRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> times_ ABSL_GUARDED_BY(mu_);
  std::vector<pb::Peer> extra_peers_ ABSL_GUARDED_BY(mu_);
  std::string tracker_ip_ ABSL_GUARDED_BY(mu_) = "127.0.0.1";
  uint32_t interval_s_ ABSL_GUARDED_BY(mu_) = 1800;
  uint32_t min_interval_s_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
};

// --- fake worker -----------------------------------------------------------------------------

using Pred = std::function<bool(const pb::CoordinatorMessage&)>;

bool IsWelcome(const pb::CoordinatorMessage& m) { return m.has_welcome(); }
bool IsStartJob(const pb::CoordinatorMessage& m) { return m.has_start_job(); }
bool IsAddPeers(const pb::CoordinatorMessage& m) { return m.has_add_peers(); }
bool IsGrant(const pb::CoordinatorMessage& m) { return m.has_grant_leases(); }
bool IsRevoke(const pb::CoordinatorMessage& m) { return m.has_revoke_leases(); }
bool IsStopJob(const pb::CoordinatorMessage& m) { return m.has_stop_job(); }
bool IsVerified(const pb::CoordinatorMessage& m) { return m.has_pieces_verified(); }
bool IsCheckPieces(const pb::CoordinatorMessage& m) { return m.has_check_pieces(); }

class FakeWorker {
 public:
  // `customize` edits the Register message (listen_port, listen_ip, peer_id...).
  FakeWorker(const std::string& address, const std::string& token, bool sees_output = true,
             const std::function<void(pb::Register*)>& customize = nullptr) {
    stub_ =
        pb::Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    stream_ = stub_->Work(&ctx_);
    pb::WorkerMessage m;
    pb::Register* r = m.mutable_register_();
    r->set_auth_token(token);
    r->set_name("fake-worker");
    r->set_peer_id(std::string(20, 'w'));
    r->set_max_peers(50);
    r->set_sees_output(sees_output);
    if (customize) customize(r);
    stream_->Write(m);
    reader_ = std::thread([this] {
      pb::CoordinatorMessage msg;
      while (stream_->Read(&msg)) {
        absl::MutexLock lock(&mu_);
        inbox_.push_back(msg);
      }
      absl::MutexLock lock(&mu_);
      ended_ = true;
    });
  }
  ~FakeWorker() { Kill(); }

  bool Send(const pb::WorkerMessage& m) { return stream_->Write(m); }

  // Removes and returns the first message (queued or still to come) that matches.
  std::optional<pb::CoordinatorMessage> Wait(const Pred& pred) {
    absl::MutexLock lock(&mu_);
    // absl may evaluate a condition more than once, in any thread: it must not have effects.
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const pb::CoordinatorMessage& m : inbox_) {
        if (pred(m)) return true;
      }
      return ended_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), kWait);
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (pred(*it)) {
        pb::CoordinatorMessage found = std::move(*it);
        inbox_.erase(it);
        return found;
      }
    }
    return std::nullopt;
  }

  // True when no queued message matches (for "was never sent" checks after a barrier).
  bool NoneQueued(const Pred& pred) {
    absl::MutexLock lock(&mu_);
    for (const auto& m : inbox_) {
      if (pred(m)) return false;
    }
    return true;
  }

  // Waits for the coordinator to end the stream; returns its status.
  grpc::Status WaitEnd() {
    {
      absl::MutexLock lock(&mu_);
      auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_; };
      if (!mu_.AwaitWithTimeout(absl::Condition(&ended), kWait)) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stream did not end");
      }
    }
    if (reader_.joinable()) reader_.join();
    finished_ = true;
    return stream_->Finish();
  }

  // Drops the connection, as a crashed worker would.
  void Kill() {
    if (finished_) return;
    ctx_.TryCancel();
    if (reader_.joinable()) reader_.join();
    finished_ = true;
    stream_->Finish();
  }

  uint64_t id() {
    if (id_ == 0) {
      std::optional<pb::CoordinatorMessage> w = Wait(IsWelcome);
      if (w) id_ = w->welcome().worker_id();
    }
    return id_;
  }

  // --- message helpers ---
  void RequestWork(const std::string& job, uint32_t pieces, uint32_t peers) {
    pb::WorkerMessage m;
    m.mutable_request_work()->set_job_id(job);
    m.mutable_request_work()->set_max_pieces(pieces);
    m.mutable_request_work()->set_max_peers(peers);
    Send(m);
  }
  void Bitfield(const std::string& job, const pb::PeerAddress& peer, uint32_t num_pieces) {
    pb::WorkerMessage m;
    m.mutable_peer_bitfield()->set_job_id(job);
    *m.mutable_peer_bitfield()->mutable_peer() = peer;
    bt::Bitfield all(num_pieces);
    all.SetAll();
    m.mutable_peer_bitfield()->set_bitfield(all.ToBytes());
    Send(m);
  }
  void Done(const std::string& job, uint32_t piece, const pb::PeerAddress& peer) {
    pb::WorkerMessage m;
    m.mutable_pieces_done()->set_job_id(job);
    pb::PiecesDone::Piece* done = m.mutable_pieces_done()->add_pieces();
    done->set_index(piece);
    *done->mutable_peer() = peer;
    Send(m);
  }
  // The answer to StopJob: the worker writes nothing more into the job's files.
  void Stopped(const std::string& job) {
    pb::WorkerMessage m;
    m.mutable_job_stopped()->set_job_id(job);
    Send(m);
  }
  // Heartbeat.jobs with this worker's totals for `job`.
  void Transfer(const std::string& job, uint64_t uploaded, uint64_t downloaded,
                uint32_t upload_peers) {
    pb::WorkerMessage m;
    pb::Heartbeat::JobTransfer* t = m.mutable_heartbeat()->add_jobs();
    t->set_job_id(job);
    t->set_uploaded_bytes(uploaded);
    t->set_downloaded_bytes(downloaded);
    t->set_upload_peers(upload_peers);
    Send(m);
  }
  // Collects PiecesVerified messages until `n` pieces are in hand.
  std::set<uint32_t> Verified(size_t n) {
    std::set<uint32_t> out;
    while (out.size() < n) {
      std::optional<pb::CoordinatorMessage> m = Wait(IsVerified);
      if (!m) break;
      out.insert(m->pieces_verified().pieces().begin(), m->pieces_verified().pieces().end());
    }
    return out;
  }
  // Waits for AddPeers; returns its peers.
  std::vector<pb::PeerAddress> Peers() {
    std::vector<pb::PeerAddress> out;
    if (auto m = Wait(IsAddPeers))
      out.assign(m->add_peers().peers().begin(), m->add_peers().peers().end());
    return out;
  }
  // Collects leases from GrantLeases messages until `n` are in hand.
  std::vector<pb::Lease> Leases(size_t n) {
    std::vector<pb::Lease> out;
    while (out.size() < n) {
      std::optional<pb::CoordinatorMessage> m = Wait(IsGrant);
      if (!m) break;
      out.insert(out.end(), m->grant_leases().leases().begin(), m->grant_leases().leases().end());
    }
    return out;
  }

 private:
  std::unique_ptr<pb::Coordinator::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::WorkerMessage, pb::CoordinatorMessage>> stream_;
  std::thread reader_;
  bool finished_ = false;
  uint64_t id_ = 0;
  absl::Mutex mu_;
  std::deque<pb::CoordinatorMessage> inbox_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

std::set<uint32_t> PiecesOf(const std::vector<pb::Lease>& leases) {
  std::set<uint32_t> out;
  for (const pb::Lease& l : leases) out.insert(l.piece());
  return out;
}

// --- fixture ---------------------------------------------------------------------------------

class CoordinatorServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("coordinator");
    state_dir_ = MakeTempDir("state");
    torrent_ = MakeTorrent();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &tracker_port_);
    builder.RegisterService(&tracker_);
    tracker_server_ = builder.BuildAndStart();
    ASSERT_NE(tracker_server_, nullptr);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    tracker_server_->Shutdown();
  }

  CoordinatorServer::Options DefaultOptions() {
    CoordinatorServer::Options o;
    o.tracker_address = absl::StrCat("127.0.0.1:", tracker_port_);
    o.auth_token = kToken;
    o.clock = &clock_;
    o.lease_ttl = absl::Seconds(10);
    // Fake time only moves when a test says so; a long interval keeps workers that do not
    // heartbeat alive through those jumps, except in the test about missed heartbeats.
    o.heartbeat_interval = absl::Hours(1);
    o.tick_period = absl::Milliseconds(20);
    o.state_dir = state_dir_;
    return o;
  }

  void StartCoordinator(CoordinatorServer::Options options) {
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
    stub_ =
        pb::Coordinator::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }
  void StartCoordinator() { StartCoordinator(DefaultOptions()); }

  grpc::Status Submit(const std::string& torrent, const std::string& dir,
                      pb::SubmitJobResponse* response, pb::JobMode mode = pb::DOWNLOAD,
                      uint32_t max_announce_interval_s = 0) {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::SubmitJobRequest request;
    request.set_torrent(torrent);
    request.set_output_dir(dir);
    request.set_mode(mode);
    request.set_max_announce_interval_s(max_announce_interval_s);
    return rpc::SubmitJob(*stub_, &ctx, request, response);
  }
  pb::SubmitJobResponse SubmitOk(pb::JobMode mode = pb::DOWNLOAD,
                                 uint32_t max_announce_interval_s = 0) {
    pb::SubmitJobResponse response;
    const grpc::Status s = Submit(torrent_.bytes, dir_, &response, mode, max_announce_interval_s);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // A worker that listens at `ip`:`port` (ip empty: where its stream comes from) with a peer
  // id made of `id_char`; registered (Welcome received), not waiting for StartJob.
  std::unique_ptr<FakeWorker> ListeningWorker(char id_char, uint32_t port,
                                              const std::string& ip = "") {
    auto w =
        std::make_unique<FakeWorker>(address_, kToken, /*sees_output=*/true, [&](pb::Register* r) {
          r->set_peer_id(std::string(20, id_char));
          r->set_listen_port(port);
          r->set_listen_ip(ip);
        });
    EXPECT_NE(w->id(), 0u);
    return w;
  }

  void Cancel() {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::CancelJobRequest request;
    request.set_job_id(torrent_.id);
    pb::CancelJobResponse response;
    ASSERT_TRUE(stub_->CancelJob(&ctx, request, &response).ok());
  }

  // The job's StartJob.verified for the given pieces.
  std::string Bits(const std::set<uint32_t>& pieces) const {
    bt::Bitfield b(torrent_.num_pieces);
    for (uint32_t p : pieces) b.Set(p);
    return b.ToBytes();
  }
  std::set<uint32_t> AllPieces() const {
    std::set<uint32_t> all;
    for (uint32_t p = 0; p < torrent_.num_pieces; ++p) all.insert(p);
    return all;
  }

  // Reads the job's progress stream until `until` holds or the stream ends; returns the last
  // report (and every state seen, in order, in *states).
  pb::JobProgress Watch(const std::function<bool(const pb::JobProgress&)>& until,
                        std::vector<pb::JobState>* states = nullptr) {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    pb::WatchJobRequest request;
    request.set_job_id(torrent_.id);
    auto reader = stub_->WatchJob(&ctx, request);
    pb::JobProgress p, last;
    while (reader->Read(&p)) {
      last = p;
      if (states && (states->empty() || states->back() != p.state())) states->push_back(p.state());
      if (until(p)) {
        ctx.TryCancel();
        break;
      }
    }
    reader->Finish();
    return last;
  }
  // How WatchJob of the test's torrent ends when it sends nothing (OK when it does send).
  grpc::StatusCode WatchError() {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::WatchJobRequest watch;
    watch.set_job_id(torrent_.id);
    pb::JobProgress progress;
    auto stream = stub_->WatchJob(&ctx, watch);
    if (stream->Read(&progress)) {
      ctx.TryCancel();
      stream->Finish();
      return grpc::StatusCode::OK;
    }
    return stream->Finish().error_code();
  }

  pb::JobProgress WatchState(pb::JobState state) {
    return Watch([state](const pb::JobProgress& p) { return p.state() == state; });
  }

  // A worker that registered and got StartJob for the test torrent.
  std::unique_ptr<FakeWorker> StartedWorker() {
    auto w = std::make_unique<FakeWorker>(address_, kToken);
    EXPECT_NE(w->id(), 0u);
    std::optional<pb::CoordinatorMessage> start = w->Wait(IsStartJob);
    EXPECT_TRUE(start.has_value());
    if (start) {
      EXPECT_EQ(start->start_job().job_id(), torrent_.id);
    }
    return w;
  }

  // Writes the pieces into the output, as a worker does before PiecesDone.
  void WritePieces(const std::set<uint32_t>& pieces,
                   storage::ContentMode mode = storage::ContentMode::kOpenExisting) {
    auto files = storage::ContentFiles::Open(torrent_.metainfo, dir_, mode);
    ASSERT_TRUE(files.ok()) << files.status();
    for (uint32_t p : pieces) ASSERT_TRUE((*files)->WritePiece(p, PieceData(torrent_, p)).ok());
    ASSERT_TRUE((*files)->Sync().ok());
  }

  // Pieces a previous run verified: the resume record it would have left, matching the files
  // as they are now, so the job trusts it and checks nothing.
  void VouchFor(const std::set<uint32_t>& pieces) {
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kReadOnly);
    ASSERT_TRUE(files.ok()) << files.status();
    ResumeRecord record;
    record.info_hash = std::string(bt::AsBytes(torrent_.metainfo.info_hash));
    record.output_dir = dir_;
    record.verified = bt::Bitfield(torrent_.num_pieces);
    for (uint32_t p : pieces) record.verified.Set(p);
    record.files = (*files)->StampNow();
    ASSERT_TRUE(SaveResumeRecord(state_dir_ + "/" + torrent_.id + ".resume", record).ok());
  }

  // Plays a worker checking the data on disk: asks for every piece to check at once, reads
  // and hashes each as peer_svc does, and reports.
  void CheckAsWorker(FakeWorker& worker) {
    pb::WorkerMessage request;
    request.mutable_request_checks()->set_job_id(torrent_.id);
    request.mutable_request_checks()->set_max_pieces(1000);
    worker.Send(request);
    std::optional<pb::CoordinatorMessage> check = worker.Wait(IsCheckPieces);
    ASSERT_TRUE(check.has_value());
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kReadOnly);
    ASSERT_TRUE(files.ok()) << files.status();
    pb::WorkerMessage result;
    pb::PiecesChecked* checked = result.mutable_pieces_checked();
    checked->set_job_id(torrent_.id);
    std::string buffer;
    for (uint32_t p : check->check_pieces().pieces()) {
      ASSERT_TRUE((*files)->ReadPiece(p, &buffer).ok());
      if (bt::AsBytes(bt::Sha1(buffer)) == torrent_.metainfo.piece_hash(p)) {
        checked->add_verified(p);
      } else {
        checked->add_missing(p);
      }
    }
    worker.Send(result);
  }

  std::string dir_;
  std::string state_dir_;
  TestTorrent torrent_;
  FakeClock clock_;
  FakeTracker tracker_{&clock_};
  int tracker_port_ = 0;
  std::unique_ptr<grpc::Server> tracker_server_;
  std::unique_ptr<CoordinatorServer> server_;
  std::string address_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
};

// --- tests ----------------------------------------------------------------------------------

TEST_F(CoordinatorServerTest, DownloadsAJobEndToEnd) {
  StartCoordinator();
  const pb::SubmitJobResponse submitted = SubmitOk();
  EXPECT_EQ(submitted.job_id(), torrent_.id);
  EXPECT_EQ(submitted.name(), "multi");
  EXPECT_EQ(submitted.total_bytes(), 100000u);
  EXPECT_EQ(submitted.num_pieces(), 7u);
  // The layout exists, preallocated, as soon as SubmitJob returns.
  EXPECT_EQ(FileSize(dir_ + "/multi/a"), 20000);
  EXPECT_EQ(FileSize(dir_ + "/multi/sub/b"), 50000);
  EXPECT_EQ(FileSize(dir_ + "/multi/sub/deep/c"), 30000);

  auto worker = std::make_unique<FakeWorker>(address_, kToken);
  ASSERT_NE(worker->id(), 0u);
  std::optional<pb::CoordinatorMessage> start = worker->Wait(IsStartJob);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->start_job().job_id(), torrent_.id);
  EXPECT_EQ(start->start_job().output_dir(), dir_);
  EXPECT_EQ(start->start_job().torrent_size(), torrent_.bytes.size());

  // FetchTorrent, chunk by chunk.
  std::string fetched;
  for (;;) {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::FetchTorrentRequest request;
    request.set_job_id(torrent_.id);
    request.set_offset(fetched.size());
    pb::FetchTorrentResponse response;
    ASSERT_TRUE(stub_->FetchTorrent(&ctx, request, &response).ok());
    EXPECT_EQ(response.total_size(), torrent_.bytes.size());
    fetched += response.data();
    if (response.data().empty() || fetched.size() >= response.total_size()) break;
  }
  EXPECT_EQ(fetched, torrent_.bytes);

  // The coordinator announced "started" with its own identity.
  std::optional<pb::AnnounceRequest> started = tracker_.WaitFor(pb::STARTED);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->info_hash(), std::string(bt::AsBytes(torrent_.metainfo.info_hash)));
  EXPECT_THAT(started->peer_id(), StartsWith("-SW0001-"));
  EXPECT_EQ(started->peer_id().size(), 20u);
  EXPECT_EQ(started->peer_id(), server_->peer_id());
  EXPECT_EQ(started->left(), 100000u);
  EXPECT_EQ(started->downloaded(), 0u);
  EXPECT_EQ(started->port(), 0u);
  ASSERT_EQ(started->tiers_size(), 1);
  EXPECT_THAT(started->tiers(0).urls(), ElementsAre("http://tracker.test/announce"));

  worker->RequestWork(torrent_.id, 100, 10);
  const std::vector<pb::PeerAddress> peers = worker->Peers();
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0].ip(), "10.0.0.1");
  EXPECT_EQ(peers[0].port(), 6881u);
  // No lease before the worker knows what its peers have; then all of them at once.
  worker->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  const std::vector<pb::Lease> leases = worker->Leases(torrent_.num_pieces);
  ASSERT_EQ(leases.size(), torrent_.num_pieces);
  std::set<uint32_t> pieces = PiecesOf(leases);
  EXPECT_EQ(pieces.size(), torrent_.num_pieces);
  for (const pb::Lease& l : leases) {
    EXPECT_EQ(l.ttl_ms(), 10000u);
    EXPECT_FALSE(l.endgame());
  }

  WritePieces(pieces);
  for (uint32_t p : pieces) worker->Done(torrent_.id, p, peers[0]);

  std::vector<pb::JobState> states;
  const pb::JobProgress last = Watch([](const pb::JobProgress&) { return false; }, &states);
  EXPECT_EQ(last.state(), pb::COMPLETE);
  EXPECT_EQ(states.back(), pb::COMPLETE);
  EXPECT_EQ(last.verified_pieces(), torrent_.num_pieces);
  EXPECT_EQ(last.verified_bytes(), 100000u);
  EXPECT_EQ(last.eta_s(), 0);
  EXPECT_EQ(last.workers(), 1u);
  EXPECT_EQ(last.known_peers(), 3u);
  EXPECT_TRUE(worker->Wait(IsStopJob).has_value());
  worker->Stopped(torrent_.id);

  std::optional<pb::AnnounceRequest> completed = tracker_.WaitFor(pb::COMPLETED);
  ASSERT_TRUE(completed.has_value());
  EXPECT_EQ(completed->left(), 0u);
  EXPECT_EQ(completed->downloaded(), 100000u);
  EXPECT_EQ(ReadWholeFile(dir_ + "/multi/a") + ReadWholeFile(dir_ + "/multi/sub/b") +
                ReadWholeFile(dir_ + "/multi/sub/deep/c"),
            torrent_.content);

  // Submitting the finished torrent again starts a new run, which finds everything on disk:
  // the resume record the first run left once its worker let go says so (nothing is checked).
  SubmitOk();
  EXPECT_EQ(WatchState(pb::COMPLETE).verified_pieces(), torrent_.num_pieces);
}

TEST_F(CoordinatorServerTest, DeadWorkersLeasesAndPeersGoToAnotherWorker) {
  StartCoordinator();
  SubmitOk();
  auto a = StartedWorker();
  auto b = StartedWorker();

  b->RequestWork(torrent_.id, 3, 1);
  const std::vector<pb::PeerAddress> b_peers = b->Peers();
  ASSERT_EQ(b_peers.size(), 1u);
  b->Bitfield(torrent_.id, b_peers[0], torrent_.num_pieces);
  const std::set<uint32_t> b_pieces = PiecesOf(b->Leases(3));
  ASSERT_EQ(b_pieces.size(), 3u);

  // Worker a takes exactly the rest (so no endgame duplicates).
  a->RequestWork(torrent_.id, torrent_.num_pieces - 3, 10);
  const std::vector<pb::PeerAddress> a_peers = a->Peers();
  ASSERT_EQ(a_peers.size(), 2u);  // the peer b holds is not given twice
  for (const pb::PeerAddress& p : a_peers) EXPECT_NE(p.ip(), b_peers[0].ip());
  a->Bitfield(torrent_.id, a_peers[0], torrent_.num_pieces);
  const std::set<uint32_t> a_pieces = PiecesOf(a->Leases(torrent_.num_pieces - 3));
  for (uint32_t p : a_pieces) EXPECT_EQ(b_pieces.count(p), 0u);

  b->Kill();  // mid-lease

  // a still wants 8 more peers, so b's peer comes to it as soon as the coordinator has seen
  // b die (and freed b's leases in the same step).
  const std::vector<pb::PeerAddress> freed_peers = a->Peers();
  ASSERT_EQ(freed_peers.size(), 1u);
  EXPECT_EQ(freed_peers[0].ip(), b_peers[0].ip());
  // a asks for more pieces: it gets b's, as ordinary leases.
  a->RequestWork(torrent_.id, 10, 0);
  const std::vector<pb::Lease> reassigned = a->Leases(3);
  EXPECT_EQ(PiecesOf(reassigned), b_pieces);
  for (const pb::Lease& l : reassigned) EXPECT_FALSE(l.endgame());

  std::set<uint32_t> all = a_pieces;
  all.insert(b_pieces.begin(), b_pieces.end());
  WritePieces(all);
  for (uint32_t p : all) a->Done(torrent_.id, p, a_peers[0]);
  EXPECT_EQ(WatchState(pb::COMPLETE).state(), pb::COMPLETE);
}

TEST_F(CoordinatorServerTest, WrongAuthTokenIsRejected) {
  StartCoordinator();
  FakeWorker intruder(address_, "not-the-token");
  const grpc::Status status = intruder.WaitEnd();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  FakeWorker no_token(address_, "");
  EXPECT_EQ(no_token.WaitEnd().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // The other RPCs want the token in their metadata: SubmitJob creates files.
  auto stub =
      pb::Coordinator::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  for (const std::string token : {"", "not-the-token"}) {
    grpc::ClientContext submit_ctx;
    rpc::AttachAuthToken(token, &submit_ctx);
    pb::SubmitJobRequest submit;
    submit.set_torrent(torrent_.bytes);
    submit.set_output_dir(dir_);
    pb::SubmitJobResponse submitted;
    EXPECT_EQ(rpc::SubmitJob(*stub, &submit_ctx, submit, &submitted).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext fetch_ctx;
    rpc::AttachAuthToken(token, &fetch_ctx);
    pb::FetchTorrentRequest fetch;
    fetch.set_job_id(torrent_.id);
    pb::FetchTorrentResponse fetched;
    EXPECT_EQ(stub->FetchTorrent(&fetch_ctx, fetch, &fetched).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext cancel_ctx;
    rpc::AttachAuthToken(token, &cancel_ctx);
    pb::CancelJobRequest cancel;
    cancel.set_job_id(torrent_.id);
    pb::CancelJobResponse cancelled;
    EXPECT_EQ(stub->CancelJob(&cancel_ctx, cancel, &cancelled).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  struct stat st;
  EXPECT_NE(stat((dir_ + "/" + torrent_.metainfo.name).c_str(), &st), 0) << "a refused job made files";
}

TEST_F(CoordinatorServerTest, FirstMessageMustBeRegister) {
  StartCoordinator();
  auto stub =
      pb::Coordinator::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  rpc::AttachAuthToken(kToken, &ctx);
  auto stream = stub->Work(&ctx);
  pb::WorkerMessage m;
  m.mutable_heartbeat();
  stream->Write(m);
  stream->WritesDone();
  pb::CoordinatorMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CoordinatorServerTest, JobsStayInsideTheOutputRootAndLeaveForeignFilesAlone) {
  CoordinatorServer::Options options = DefaultOptions();
  options.output_root = dir_ + "/root";
  ASSERT_EQ(mkdir(options.output_root.c_str(), 0755), 0);
  StartCoordinator(options);
  pb::SubmitJobResponse response;
  const grpc::Status outside = Submit(torrent_.bytes, dir_, &response);
  EXPECT_EQ(outside.error_code(), grpc::StatusCode::PERMISSION_DENIED) << outside.error_message();
  struct stat st;
  EXPECT_NE(stat((dir_ + "/multi").c_str(), &st), 0) << "a refused job made files";

  // Inside the root, someone's longer file at the torrent's path "multi/a" (20000 bytes).
  ASSERT_EQ(mkdir((options.output_root + "/multi").c_str(), 0755), 0);
  const std::string theirs = options.output_root + "/multi/a";
  const std::string precious(30000, 'p');
  std::ofstream(theirs) << precious;
  const grpc::Status longer = Submit(torrent_.bytes, options.output_root, &response);
  EXPECT_EQ(longer.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(longer.error_message(), HasSubstr("multi/a already exists and is longer"));
  EXPECT_EQ(ReadWholeFile(theirs), precious);

  // Asked to overwrite, the job cuts it to the torrent's length and runs.
  grpc::ClientContext ctx;
  rpc::AttachAuthToken(kToken, &ctx);
  pb::SubmitJobRequest request;
  request.set_torrent(torrent_.bytes);
  request.set_output_dir(options.output_root);
  request.set_overwrite(true);
  const grpc::Status overwritten = rpc::SubmitJob(*stub_, &ctx, request, &response);
  ASSERT_TRUE(overwritten.ok()) << overwritten.error_message();
  ASSERT_EQ(stat(theirs.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 20000);
}

TEST_F(CoordinatorServerTest, AStreamThatNeverRegistersIsEnded) {
  CoordinatorServer::Options options = DefaultOptions();
  // Long enough for the FakeWorker below to connect and register in time on a slow machine
  // (under TSan it took over 200 ms).
  options.register_timeout = absl::Seconds(2);
  StartCoordinator(options);
  auto stub =
      pb::Coordinator::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->Work(&ctx);  // and nothing sent
  pb::CoordinatorMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // A worker that registers in time is not cut off by it.
  FakeWorker worker(address_, kToken);
  EXPECT_TRUE(worker.Wait(IsWelcome).has_value());
}

TEST_F(CoordinatorServerTest, ResumeVerifiesExistingPiecesAndNeverLeasesThem) {
  // Pieces 0, 2 and 6 (the short last one) are on disk already.
  const std::set<uint32_t> on_disk = {0, 2, 6};
  WritePieces(on_disk, storage::ContentMode::kCreate);
  StartCoordinator();
  SubmitOk();
  // No resume record: the job has its workers check the data (the coordinator reads none).
  auto worker = std::make_unique<FakeWorker>(address_, kToken);
  std::optional<pb::CoordinatorMessage> start = worker->Wait(IsStartJob);
  ASSERT_TRUE(start.has_value());
  EXPECT_TRUE(start->start_job().check());
  EXPECT_EQ(start->start_job().verified(), Bits({}));
  CheckAsWorker(*worker);

  const pb::JobProgress p =
      Watch([](const pb::JobProgress& p) { return p.state() == pb::DOWNLOADING; });
  EXPECT_EQ(p.verified_pieces(), 3u);
  EXPECT_EQ(p.verified_bytes(), 2u * 16384 + (100000 - 6 * 16384));
  std::optional<pb::AnnounceRequest> started = tracker_.WaitFor(pb::STARTED);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->left(), 100000u - p.verified_bytes());

  worker->RequestWork(torrent_.id, 100, 1);
  const std::vector<pb::PeerAddress> peers = worker->Peers();
  ASSERT_EQ(peers.size(), 1u);
  worker->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  // Four pieces are missing; with nothing else NEEDED the ledger is in endgame, and a worker
  // never gets a duplicate of its own lease, so exactly these four come.
  const std::set<uint32_t> leased = PiecesOf(worker->Leases(4));
  EXPECT_THAT(leased, UnorderedElementsAreArray(std::set<uint32_t>{1, 3, 4, 5}));

  WritePieces(leased);
  for (uint32_t piece : leased) worker->Done(torrent_.id, piece, peers[0]);
  EXPECT_EQ(WatchState(pb::COMPLETE).verified_pieces(), torrent_.num_pieces);
  EXPECT_EQ(ReadWholeFile(dir_ + "/multi/a") + ReadWholeFile(dir_ + "/multi/sub/b") +
                ReadWholeFile(dir_ + "/multi/sub/deep/c"),
            torrent_.content);
}

TEST_F(CoordinatorServerTest, LeasesExpireUnlessProgressRenewsThem) {
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  worker->RequestWork(torrent_.id, 2, 1);
  const std::vector<pb::PeerAddress> peers = worker->Peers();
  ASSERT_EQ(peers.size(), 1u);
  worker->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  const std::vector<pb::Lease> leases = worker->Leases(2);
  ASSERT_EQ(leases.size(), 2u);
  const uint32_t renewed = leases[0].piece();
  const uint32_t stalled = leases[1].piece();

  clock_.Advance(absl::Seconds(5));
  pb::WorkerMessage hb;
  pb::Heartbeat::LeaseProgress* progress = hb.mutable_heartbeat()->add_progress();
  progress->set_job_id(torrent_.id);
  progress->set_piece(renewed);
  progress->set_bytes_received(16384);
  worker->Send(hb);
  // Barrier: messages on one stream are handled in order, so once this AddPeers arrives the
  // heartbeat has been applied.
  worker->RequestWork(torrent_.id, 0, 1);
  ASSERT_EQ(worker->Peers().size(), 1u);

  clock_.Advance(absl::Seconds(6));  // t0 + 11: only the stalled lease is past its TTL
  std::optional<pb::CoordinatorMessage> revoke = worker->Wait(IsRevoke);
  ASSERT_TRUE(revoke.has_value());
  EXPECT_THAT(revoke->revoke_leases().pieces(), ElementsAre(stalled));

  clock_.Advance(absl::Seconds(5));  // t0 + 16: the renewed one lapses too
  revoke = worker->Wait(IsRevoke);
  ASSERT_TRUE(revoke.has_value());
  EXPECT_THAT(revoke->revoke_leases().pieces(), ElementsAre(renewed));

  // A PiecesDone for a lapsed lease is ignored: the piece is still missing.
  worker->Done(torrent_.id, renewed, peers[0]);
  worker->RequestWork(torrent_.id, 0, 1);
  ASSERT_EQ(worker->Peers().size(), 1u);  // barrier
  EXPECT_EQ(Watch([](const pb::JobProgress&) { return true; }).verified_pieces(), 0u);
}

TEST_F(CoordinatorServerTest, WorkerThatMissesHeartbeatsIsDropped) {
  CoordinatorServer::Options options = DefaultOptions();
  options.heartbeat_interval = absl::Seconds(1);
  StartCoordinator(options);
  SubmitOk();
  auto silent = StartedWorker();
  silent->RequestWork(torrent_.id, 2, 1);
  const std::vector<pb::PeerAddress> peers = silent->Peers();
  ASSERT_EQ(peers.size(), 1u);
  silent->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  const std::set<uint32_t> held = PiecesOf(silent->Leases(2));

  clock_.Advance(absl::Seconds(4));  // more than 3 intervals without a word
  EXPECT_FALSE(silent->WaitEnd().ok());

  auto fresh = StartedWorker();
  fresh->RequestWork(torrent_.id, torrent_.num_pieces, 10);
  // All three peers, the dead worker's included (it may come in a second AddPeers when the
  // coordinator is still cleaning up after the dead worker).
  std::vector<pb::PeerAddress> fresh_peers;
  while (fresh_peers.size() < 3) {
    const std::vector<pb::PeerAddress> more = fresh->Peers();
    ASSERT_FALSE(more.empty());
    fresh_peers.insert(fresh_peers.end(), more.begin(), more.end());
  }
  fresh->Bitfield(torrent_.id, fresh_peers[0], torrent_.num_pieces);
  EXPECT_EQ(PiecesOf(fresh->Leases(torrent_.num_pieces)).size(), torrent_.num_pieces);
}

TEST_F(CoordinatorServerTest, EndgameDuplicatesAndRevocation) {
  StartCoordinator();
  SubmitOk();
  auto a = StartedWorker();
  auto b = StartedWorker();
  a->RequestWork(torrent_.id, 100, 1);
  const std::vector<pb::PeerAddress> a_peers = a->Peers();
  ASSERT_EQ(a_peers.size(), 1u);
  a->Bitfield(torrent_.id, a_peers[0], torrent_.num_pieces);
  ASSERT_EQ(a->Leases(torrent_.num_pieces).size(), torrent_.num_pieces);

  // Nothing is NEEDED: b gets duplicates, flagged as endgame.
  b->RequestWork(torrent_.id, 2, 1);
  const std::vector<pb::PeerAddress> b_peers = b->Peers();
  ASSERT_EQ(b_peers.size(), 1u);
  b->Bitfield(torrent_.id, b_peers[0], torrent_.num_pieces);
  const std::vector<pb::Lease> dups = b->Leases(2);
  ASSERT_EQ(dups.size(), 2u);
  for (const pb::Lease& l : dups) EXPECT_TRUE(l.endgame());

  // a finishes one of them first: b is told to drop it.
  WritePieces({dups[0].piece()});
  a->Done(torrent_.id, dups[0].piece(), a_peers[0]);
  std::optional<pb::CoordinatorMessage> revoke = b->Wait(IsRevoke);
  ASSERT_TRUE(revoke.has_value());
  EXPECT_THAT(revoke->revoke_leases().pieces(), ElementsAre(dups[0].piece()));
  // b wins the other one: a is told.
  WritePieces({dups[1].piece()});
  b->Done(torrent_.id, dups[1].piece(), b_peers[0]);
  revoke = a->Wait(IsRevoke);
  ASSERT_TRUE(revoke.has_value());
  EXPECT_THAT(revoke->revoke_leases().pieces(), ElementsAre(dups[1].piece()));
}

TEST_F(CoordinatorServerTest, HashFailuresAreCountedAndABadPeerIsBanned) {
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  worker->RequestWork(torrent_.id, 1, 3);
  const std::vector<pb::PeerAddress> peers = worker->Peers();
  ASSERT_EQ(peers.size(), 3u);
  worker->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  for (int i = 0; i < 3; ++i) {
    const std::vector<pb::Lease> l = worker->Leases(1);
    ASSERT_EQ(l.size(), 1u);
    pb::WorkerMessage m;
    pb::PieceFailed* f = m.mutable_piece_failed();
    f->set_job_id(torrent_.id);
    f->set_piece(l[0].piece());
    f->set_reason(pb::HASH_MISMATCH);
    *f->mutable_peer() = peers[0];
    worker->Send(m);
    worker->RequestWork(torrent_.id, 1, 0);
  }
  // The bad peer's availability is gone: no lease can come from it any more.
  worker->RequestWork(torrent_.id, 0, 0);
  const pb::JobProgress p = Watch([](const pb::JobProgress& p) { return p.hash_failures() >= 3; });
  EXPECT_EQ(p.hash_failures(), 3u);
  EXPECT_EQ(p.known_peers(), 2u);  // banned peers do not count as known
  EXPECT_EQ(p.banned_peers(), 1u);
  // Its bitfield is refused from now on; another peer's is not.
  worker->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  worker->RequestWork(torrent_.id, 1, 0);
  worker->Bitfield(torrent_.id, peers[1], torrent_.num_pieces);
  EXPECT_EQ(worker->Leases(1).size(), 1u);
}

TEST_F(CoordinatorServerTest, HostileWorkerMessagesAreIgnored) {
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  const std::string job = torrent_.id;
  pb::PeerAddress bad_ip;
  bad_ip.set_ip("not an ip");
  bad_ip.set_port(1);
  pb::PeerAddress bad_port;
  bad_port.set_ip("10.0.0.1");
  bad_port.set_port(70000);
  std::vector<pb::WorkerMessage> hostile(8);
  hostile[0].mutable_pieces_done()->set_job_id(job);
  hostile[0].mutable_pieces_done()->add_pieces()->set_index(3);  // never leased
  hostile[1].mutable_pieces_done()->set_job_id(job);
  hostile[1].mutable_pieces_done()->add_pieces()->set_index(0xFFFFFFFF);
  hostile[2].mutable_peer_bitfield()->set_job_id(job);
  *hostile[2].mutable_peer_bitfield()->mutable_peer() = bad_ip;
  hostile[3].mutable_peer_bitfield()->set_job_id(job);
  hostile[3].mutable_peer_bitfield()->mutable_peer()->set_ip("10.9.9.9");
  hostile[3].mutable_peer_bitfield()->mutable_peer()->set_port(1);
  hostile[3].mutable_peer_bitfield()->set_bitfield("\xff\xff\xff");  // wrong size
  hostile[4].mutable_peer_have()->set_job_id(job);
  *hostile[4].mutable_peer_have()->mutable_peer() = bad_port;
  hostile[4].mutable_peer_have()->add_pieces(1);
  hostile[5].mutable_piece_failed()->set_job_id(job);
  hostile[5].mutable_piece_failed()->set_piece(99);
  hostile[5].mutable_piece_failed()->set_reason(pb::HASH_MISMATCH);
  hostile[6].mutable_request_work()->set_job_id("no-such-job");
  hostile[6].mutable_request_work()->set_max_pieces(10);
  hostile[7].mutable_register_()->set_auth_token("again");
  for (const pb::WorkerMessage& m : hostile) ASSERT_TRUE(worker->Send(m));
  pb::WorkerMessage empty;
  ASSERT_TRUE(worker->Send(empty));
  // A have for piece 9999 from a real peer, then a good bitfield: the job still works.
  pb::PeerAddress good;
  good.set_ip("10.7.7.7");
  good.set_port(7);
  pb::WorkerMessage have;
  have.mutable_peer_have()->set_job_id(job);
  *have.mutable_peer_have()->mutable_peer() = good;
  have.mutable_peer_have()->add_pieces(9999);
  ASSERT_TRUE(worker->Send(have));
  worker->RequestWork(job, 2, 0);
  worker->Bitfield(job, good, torrent_.num_pieces);  // a peer that connected in by itself
  EXPECT_EQ(worker->Leases(2).size(), 2u);
  const pb::JobProgress p = Watch([](const pb::JobProgress&) { return true; });
  EXPECT_EQ(p.verified_pieces(), 0u);
  EXPECT_EQ(p.hash_failures(), 0u);
  EXPECT_EQ(p.state(), pb::DOWNLOADING);
}

TEST_F(CoordinatorServerTest, CancelStopsWorkersAndAnnouncesStopped) {
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  // Peers reach a worker only once the "started" announce has been answered and applied.
  worker->RequestWork(torrent_.id, 0, 1);
  ASSERT_EQ(worker->Peers().size(), 1u);

  grpc::ClientContext ctx;

  rpc::AttachAuthToken(kToken, &ctx);
  pb::CancelJobRequest request;
  request.set_job_id(torrent_.id);
  pb::CancelJobResponse response;
  ASSERT_TRUE(stub_->CancelJob(&ctx, request, &response).ok());

  EXPECT_TRUE(worker->Wait(IsStopJob).has_value());
  EXPECT_EQ(WatchState(pb::CANCELLED).state(), pb::CANCELLED);
  std::optional<pb::AnnounceRequest> stopped = tracker_.WaitFor(pb::STOPPED);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->left(), 100000u);

  // Work for a cancelled job is ignored; submitting it again starts it again.
  SubmitOk();
  EXPECT_TRUE(worker->Wait(IsStartJob).has_value());
}

TEST_F(CoordinatorServerTest, ShutdownAnnouncesStoppedAndEndsWorkerStreams) {
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  worker->RequestWork(torrent_.id, 0, 1);
  ASSERT_EQ(worker->Peers().size(), 1u);  // the "started" announce has been applied
  server_->Shutdown();
  EXPECT_EQ(tracker_.Count(pb::STOPPED), 1);
  EXPECT_TRUE(worker->Wait(IsStopJob).has_value());
  worker->WaitEnd();
  server_->Shutdown();  // idempotent
}

// A job outlives its coordinator: saved in the state folder, taken up by the next one that
// starts on it (a shutdown keeps it, as a crash would); a cancel by a user forgets it.
TEST_F(CoordinatorServerTest, JobsAreTakenUpAgainByTheNextCoordinatorUntilCancelled) {
  StartCoordinator();
  SubmitOk();
  // Past its check, so that its resume record vouches for the files it made.
  ASSERT_EQ(WatchState(pb::DOWNLOADING).state(), pb::DOWNLOADING);
  server_->Shutdown();
  StartCoordinator();
  EXPECT_EQ(WatchState(pb::DOWNLOADING).state(), pb::DOWNLOADING) << "the job was not taken up";
  pb::SubmitJobResponse again;
  ASSERT_TRUE(Submit(torrent_.bytes, dir_, &again).ok()) << "a second submit attaches";
  EXPECT_EQ(again.job_id(), torrent_.id);

  ASSERT_NO_FATAL_FAILURE(Cancel());
  server_->Shutdown();
  StartCoordinator();
  EXPECT_EQ(WatchError(), grpc::StatusCode::NOT_FOUND) << "a cancelled job came back";
}

// The embedded cluster's coordinator (keep_jobs off) neither saves nor takes up jobs.
TEST_F(CoordinatorServerTest, WithoutKeepJobsNothingIsTakenUp) {
  CoordinatorServer::Options options = DefaultOptions();
  options.keep_jobs = false;
  StartCoordinator(options);
  SubmitOk();
  server_->Shutdown();
  StartCoordinator(DefaultOptions());
  EXPECT_EQ(WatchError(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorServerTest, RetriesAFailedAnnounceAndAnnouncesAgainAtTheInterval) {
  tracker_.FailNext(1);
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  worker->RequestWork(torrent_.id, 0, 1);
  // The failure shows in the progress, as information.
  const pb::JobProgress failed = Watch([](const pb::JobProgress& p) { return !p.error().empty(); });
  EXPECT_THAT(failed.error(), HasSubstr("tracker down"));
  EXPECT_EQ(failed.state(), pb::DOWNLOADING);
  EXPECT_EQ(tracker_.Count(pb::STARTED), 1);

  // Retried ("started" again) 5 s later, by the clock.
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(tracker_.WaitForCount(pb::STARTED, 2));
  ASSERT_EQ(worker->Peers().size(), 1u);  // the answer was applied
  EXPECT_EQ(tracker_.Count(pb::NONE), 0);
  EXPECT_EQ(Watch([](const pb::JobProgress&) { return true; }).error(), "");

  // The next one is a regular announce at the tracker's interval (1800 s).
  clock_.Advance(absl::Seconds(1800));
  ASSERT_TRUE(tracker_.WaitForCount(pb::NONE, 1));
  EXPECT_EQ(tracker_.Count(pb::STARTED), 2);
}

TEST_F(CoordinatorServerTest, AJobOutOfPeersAnnouncesEarly) {
  // The tracker asks for 30 minutes between announces; every peer it gave turns out bad.
  StartCoordinator();
  SubmitOk();
  auto worker = StartedWorker();
  worker->RequestWork(torrent_.id, 0, 10);
  const std::vector<pb::PeerAddress> peers = worker->Peers();
  ASSERT_EQ(peers.size(), 3u);
  absl::Time started;
  ASSERT_TRUE(
      tracker_
          .WaitFor(
              [](const pb::AnnounceRequest& r) { return r.event() == pb::STARTED; },
              &started)
          .has_value());
  for (const pb::PeerAddress& p : peers) {
    pb::WorkerMessage m;
    m.mutable_peer_closed()->set_job_id(torrent_.id);
    *m.mutable_peer_closed()->mutable_peer() = p;
    m.mutable_peer_closed()->set_banned(true);
    worker->Send(m);
  }
  // With no peer left to try, it asks again once 5 minutes (not 30) have passed.
  clock_.Advance(absl::Minutes(5));
  absl::Time early;
  ASSERT_TRUE(
      tracker_
          .WaitFor([](const pb::AnnounceRequest& r) { return r.event() == pb::NONE; },
                   &early)
          .has_value());
  EXPECT_EQ(early - started, absl::Minutes(5));
}

TEST_F(CoordinatorServerTest, RunsWithoutATracker) {
  CoordinatorServer::Options options = DefaultOptions();
  options.tracker_address = "";
  StartCoordinator(options);
  SubmitOk();
  auto worker = StartedWorker();
  worker->RequestWork(torrent_.id, 1, 5);
  pb::PeerAddress incoming;
  incoming.set_ip("192.168.1.5");
  incoming.set_port(51413);
  worker->Bitfield(torrent_.id, incoming, torrent_.num_pieces);
  EXPECT_EQ(worker->Leases(1).size(), 1u);
  const pb::JobProgress p = Watch([](const pb::JobProgress&) { return true; });
  EXPECT_EQ(p.state(), pb::DOWNLOADING);
  EXPECT_EQ(p.known_peers(), 0u);
  EXPECT_EQ(p.error(), "");
}

TEST_F(CoordinatorServerTest, WorkersThatCannotSeeTheOutputGetNoLeases) {
  StartCoordinator();
  SubmitOk();
  FakeWorker blind(address_, kToken, /*sees_output=*/false);
  ASSERT_TRUE(blind.Wait(IsStartJob).has_value());
  blind.RequestWork(torrent_.id, 5, 1);
  const std::vector<pb::PeerAddress> peers = blind.Peers();
  ASSERT_EQ(peers.size(), 1u);
  blind.Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  blind.RequestWork(torrent_.id, 5, 1);
  ASSERT_EQ(blind.Peers().size(), 1u);  // barrier: both requests were handled
  EXPECT_TRUE(blind.NoneQueued(IsGrant));
}

TEST_F(CoordinatorServerTest, BadRequestsGetClearErrors) {
  StartCoordinator();
  pb::SubmitJobResponse response;
  grpc::Status s = Submit("not a torrent", dir_, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("bad torrent"));
  s = Submit(torrent_.bytes, "relative/dir", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = Submit(torrent_.bytes, dir_ + "/does-not-exist", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::FetchTorrentRequest request;
    request.set_job_id("nope");
    pb::FetchTorrentResponse r;
    EXPECT_EQ(stub_->FetchTorrent(&ctx, request, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::CancelJobRequest request;
    request.set_job_id("nope");
    pb::CancelJobResponse r;
    EXPECT_EQ(stub_->CancelJob(&ctx, request, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::WatchJobRequest request;
    request.set_job_id("nope");
    auto reader = stub_->WatchJob(&ctx, request);
    pb::JobProgress p;
    EXPECT_FALSE(reader->Read(&p));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }

  s = Submit(torrent_.bytes, dir_, &response, static_cast<pb::JobMode>(7));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("mode"));
  // A worker that says it listens somewhere that is not an address.
  FakeWorker lost(address_, kToken, true, [](pb::Register* r) {
    r->set_listen_port(7000);
    r->set_listen_ip("peer.example");
  });
  EXPECT_EQ(lost.WaitEnd().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  SubmitOk();
  {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::FetchTorrentRequest request;
    request.set_job_id(torrent_.id);
    request.set_offset(torrent_.bytes.size() + 1);
    pb::FetchTorrentResponse r;
    EXPECT_EQ(stub_->FetchTorrent(&ctx, request, &r).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
  // The same torrent again: the same job; into another folder while it runs: refused.
  pb::SubmitJobResponse again;
  ASSERT_TRUE(Submit(torrent_.bytes, dir_, &again).ok());
  EXPECT_EQ(again.job_id(), torrent_.id);
  const std::string other = MakeTempDir("coordinator");
  EXPECT_EQ(Submit(torrent_.bytes, other, &again).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// A .torrent comes in parts under gRPC's 4 MiB message limit, so one of 6 MiB is taken; a
// single message over the limit, and parts adding up to more than a torrent may have (64 MiB),
// are refused.
TEST_F(CoordinatorServerTest, SubmitJobTakesATorrentInPartsAndCapsEveryMessage) {
  StartCoordinator();
  // The same info dictionary (so the same job) with a 6 MiB comment beside it.
  absl::StatusOr<bt::BDocument> doc = bt::BDocument::Parse(torrent_.bytes);
  ASSERT_TRUE(doc.ok());
  bt::BValue root = bt::BValue::From(doc->root());
  std::get<bt::BValue::Dict>(root.value)["comment"] = std::string(6 << 20, 'c');
  const std::string big = bt::Encode(root);
  pb::SubmitJobResponse response;
  grpc::Status s = Submit(big, dir_, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.job_id(), torrent_.id);

  {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    auto writer = stub_->SubmitJob(&ctx, &response);
    pb::SubmitJobRequest whole;
    whole.set_torrent(big);
    whole.set_output_dir(dir_);
    writer->Write(whole);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  {
    grpc::ClientContext ctx;
    rpc::AttachAuthToken(kToken, &ctx);
    pb::SubmitJobRequest huge;
    huge.set_torrent(std::string(65 << 20, 'x'));
    huge.set_output_dir(dir_);
    s = rpc::SubmitJob(*stub_, &ctx, huge, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr("larger than 67108864 bytes"));
  }
}

TEST_F(CoordinatorServerTest, ATorrentSubmittedManyTimesAtOnceMakesOneJob) {
  StartCoordinator();
  // Each call names a folder of its own: a second job would say OK and create its files
  // there; one job says OK once and refuses every other folder, creating nothing in it.
  const std::string torrent = ManyFilesTorrent(500);
  constexpr int kCalls = 8;
  std::vector<std::string> dirs;
  for (int i = 0; i < kCalls; ++i) dirs.push_back(MakeTempDir("coordinator"));
  std::vector<grpc::Status> results(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([this, &torrent, &dirs, &results, i] {
      pb::SubmitJobResponse response;
      results[i] = Submit(torrent, dirs[i], &response);
    });
  }
  for (std::thread& t : threads) t.join();
  int accepted = 0;
  for (int i = 0; i < kCalls; ++i) {
    if (results[i].ok()) {
      ++accepted;
      EXPECT_EQ(FileSize(dirs[i] + "/many/d499/f"), 1);
    } else {
      EXPECT_EQ(results[i].error_code(), grpc::StatusCode::FAILED_PRECONDITION)
          << results[i].error_message();
      EXPECT_EQ(FileSize(dirs[i] + "/many/d0/f"), -1);
    }
  }
  EXPECT_EQ(accepted, 1);
}

// A submit whose files cannot be made leaves no mark behind: the same torrent can be
// submitted again at once (a stale "being created" mark would make it wait for ever).
TEST_F(CoordinatorServerTest, AFailedSubmitLeavesTheTorrentFreeToSubmitAgain) {
  StartCoordinator();
  const std::string torrent = ManyFilesTorrent(3);
  const std::string dir = MakeTempDir("coordinator");
  const std::string not_a_folder = dir + "/file";
  ASSERT_EQ(close(open(not_a_folder.c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  pb::SubmitJobResponse response;
  EXPECT_FALSE(Submit(torrent, not_a_folder, &response).ok());
  const grpc::Status again = Submit(torrent, dir, &response);
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(FileSize(dir + "/many/d2/f"), 1);
}

// --- seeding and announcing as peers --------------------------------------------------------

using pb::AnnounceRequest;

TEST_F(CoordinatorServerTest, SeedModeOnCompleteDataSeedsUntilCancelled) {
  WritePieces(AllPieces(), storage::ContentMode::kCreate);
  VouchFor(AllPieces());
  StartCoordinator();
  auto seeder = ListeningWorker('S', 7001, "127.0.0.5");
  SubmitOk(pb::SEED);
  std::optional<pb::CoordinatorMessage> start = seeder->Wait(IsStartJob);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->start_job().verified(), Bits(AllPieces()));

  // The worker is announced as a peer of its own, as a seeder from the start.
  const std::string seeder_id(20, 'S');
  std::optional<AnnounceRequest> started = tracker_.WaitFor(pb::STARTED, seeder_id);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->port(), 7001u);
  EXPECT_EQ(started->ip(), "127.0.0.5");
  EXPECT_EQ(started->left(), 0u);
  EXPECT_EQ(started->uploaded(), 0u);

  // Seeding hands out peers, never leases.
  seeder->RequestWork(torrent_.id, 5, 1);
  ASSERT_EQ(seeder->Peers().size(), 1u);
  seeder->RequestWork(torrent_.id, 5, 1);
  ASSERT_EQ(seeder->Peers().size(), 1u);  // barrier: the first request was handled
  EXPECT_TRUE(seeder->NoneQueued(IsGrant));

  // Submitting it again returns the seeding job.
  pb::SubmitJobResponse again;
  ASSERT_TRUE(Submit(torrent_.bytes, dir_, &again, pb::SEED).ok());
  EXPECT_EQ(again.job_id(), torrent_.id);

  // WatchJob keeps streaming while seeding.
  int reports = 0;
  const pb::JobProgress p = Watch([&](const pb::JobProgress&) { return ++reports == 2; });
  EXPECT_EQ(reports, 2);
  EXPECT_EQ(p.state(), pb::SEEDING);
  EXPECT_EQ(p.verified_pieces(), torrent_.num_pieces);
  EXPECT_EQ(p.workers(), 1u);
  EXPECT_EQ(tracker_.Count(pb::STARTED), 1);
  // A worker listens, so the coordinator does not announce itself.
  const std::string own_id = server_->peer_id();
  EXPECT_EQ(tracker_.Count([&](const AnnounceRequest& r) { return r.peer_id() == own_id; }), 0);

  Cancel();
  EXPECT_TRUE(seeder->Wait(IsStopJob).has_value());
  EXPECT_EQ(WatchState(pb::CANCELLED).state(), pb::CANCELLED);
  std::optional<AnnounceRequest> stopped = tracker_.WaitFor(pb::STOPPED, seeder_id);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->port(), 7001u);
  EXPECT_EQ(stopped->left(), 0u);
  EXPECT_EQ(tracker_.Count(pb::COMPLETED), 0);  // it never downloaded anything
}

TEST_F(CoordinatorServerTest, SeedModeOnIncompleteDataFailsWithTheCount) {
  WritePieces({0, 1, 2}, storage::ContentMode::kCreate);
  VouchFor({0, 1, 2});
  StartCoordinator();
  auto worker = ListeningWorker('S', 7001);
  SubmitOk(pb::SEED);
  const pb::JobProgress p = WatchState(pb::FAILED);
  EXPECT_EQ(p.error(), "the data does not match the torrent: 4 of 7 pieces missing or corrupt");
  EXPECT_EQ(p.verified_pieces(), 3u);
  EXPECT_TRUE(worker->NoneQueued(IsStartJob));
  EXPECT_EQ(tracker_.Count(pb::STARTED), 0);

  // No data there at all: refused at once, and nothing is created.
  const std::string empty = MakeTempDir("coordinator");
  pb::SubmitJobResponse response;
  const grpc::Status s = Submit(torrent_.bytes, empty, &response, pb::SEED);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("opening the data to seed"));
  EXPECT_EQ(FileSize(empty + "/multi/a"), -1);
}

TEST_F(CoordinatorServerTest, DownloadThenSeedSeedsAfterTheLastPieceAndAnnouncesCompleted) {
  StartCoordinator();
  auto a = ListeningWorker('A', 7001);  // on loopback without listen_ip: no `ip` announced
  auto b = std::make_unique<FakeWorker>(address_, kToken);  // does not listen
  ASSERT_NE(b->id(), 0u);
  SubmitOk(pb::DOWNLOAD_THEN_SEED);
  for (FakeWorker* w : {a.get(), b.get()}) {
    std::optional<pb::CoordinatorMessage> start = w->Wait(IsStartJob);
    ASSERT_TRUE(start.has_value());
    EXPECT_EQ(start->start_job().verified(), Bits({}));
  }
  const std::string a_id(20, 'A');
  std::optional<AnnounceRequest> started = tracker_.WaitFor(pb::STARTED, a_id);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->port(), 7001u);
  EXPECT_EQ(started->ip(), "");
  EXPECT_EQ(started->left(), 100000u);

  a->RequestWork(torrent_.id, 100, 1);
  const std::vector<pb::PeerAddress> peers = a->Peers();
  ASSERT_EQ(peers.size(), 1u);
  a->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  const std::set<uint32_t> pieces = PiecesOf(a->Leases(torrent_.num_pieces));
  ASSERT_EQ(pieces, AllPieces());
  WritePieces(pieces);
  for (uint32_t piece : pieces) a->Done(torrent_.id, piece, peers[0]);

  EXPECT_EQ(WatchState(pb::SEEDING).verified_pieces(), torrent_.num_pieces);
  // Every newly verified piece reaches every worker, the one that delivered it included.
  EXPECT_EQ(a->Verified(torrent_.num_pieces), AllPieces());
  EXPECT_EQ(b->Verified(torrent_.num_pieces), AllPieces());
  std::optional<AnnounceRequest> completed = tracker_.WaitFor(pb::COMPLETED, a_id);
  ASSERT_TRUE(completed.has_value());
  EXPECT_EQ(completed->left(), 0u);
  EXPECT_EQ(completed->port(), 7001u);
  EXPECT_TRUE(a->NoneQueued(IsStopJob));  // seeding: the workers keep the job

  Cancel();
  EXPECT_TRUE(a->Wait(IsStopJob).has_value());
  EXPECT_TRUE(b->Wait(IsStopJob).has_value());
  EXPECT_EQ(WatchState(pb::CANCELLED).state(), pb::CANCELLED);
  std::optional<AnnounceRequest> stopped = tracker_.WaitFor(pb::STOPPED, a_id);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->left(), 0u);
  EXPECT_EQ(tracker_.Count(pb::COMPLETED), 1);
}

TEST_F(CoordinatorServerTest, StartJobCarriesTheVerifiedPiecesAndLaterOnesFollow) {
  WritePieces({0, 2, 6}, storage::ContentMode::kCreate);
  VouchFor({0, 2, 6});
  StartCoordinator();
  SubmitOk();
  auto first = std::make_unique<FakeWorker>(address_, kToken);
  std::optional<pb::CoordinatorMessage> start = first->Wait(IsStartJob);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->start_job().verified(), Bits({0, 2, 6}));  // on the resume record's word

  first->RequestWork(torrent_.id, 1, 1);
  const std::vector<pb::PeerAddress> peers = first->Peers();
  ASSERT_EQ(peers.size(), 1u);
  first->Bitfield(torrent_.id, peers[0], torrent_.num_pieces);
  const std::vector<pb::Lease> lease = first->Leases(1);
  ASSERT_EQ(lease.size(), 1u);
  const uint32_t piece = lease[0].piece();
  WritePieces({piece});
  first->Done(torrent_.id, piece, peers[0]);
  EXPECT_EQ(first->Verified(1), std::set<uint32_t>{piece});

  // A worker that registers now gets it in its StartJob's bitfield.
  auto late = std::make_unique<FakeWorker>(address_, kToken);
  start = late->Wait(IsStartJob);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->start_job().verified(), Bits({0, 2, 6, piece}));
}

TEST_F(CoordinatorServerTest, EachListeningWorkerIsAnnouncedWithItsOwnIdentityAndUploads) {
  WritePieces(AllPieces(), storage::ContentMode::kCreate);
  VouchFor(AllPieces());
  StartCoordinator();
  auto w1 = ListeningWorker('1', 7001, "127.0.0.11");
  auto w2 = ListeningWorker('2', 7002, "127.0.0.12");
  SubmitOk(pb::SEED, /*max_announce_interval_s=*/2);
  const std::string id1(20, '1'), id2(20, '2');
  std::optional<AnnounceRequest> s1 = tracker_.WaitFor(pb::STARTED, id1);
  std::optional<AnnounceRequest> s2 = tracker_.WaitFor(pb::STARTED, id2);
  ASSERT_TRUE(s1.has_value() && s2.has_value());
  EXPECT_EQ(s1->port(), 7001u);
  EXPECT_EQ(s1->ip(), "127.0.0.11");
  EXPECT_EQ(s2->port(), 7002u);
  EXPECT_EQ(s2->ip(), "127.0.0.12");

  w1->Transfer(torrent_.id, 5000, 100, 2);
  w2->Transfer(torrent_.id, 3000, 0, 1);
  pb::JobProgress p = Watch([](const pb::JobProgress& p) { return p.uploaded_bytes() == 8000; });
  EXPECT_EQ(p.uploaded_bytes(), 8000u);
  EXPECT_EQ(p.upload_peers(), 3u);

  // The next regular announces carry each worker's own totals.
  clock_.Advance(absl::Seconds(2));
  auto regular = [](const std::string& id) {
    return [id](const AnnounceRequest& r) {
      return r.event() == pb::NONE && r.peer_id() == id;
    };
  };
  std::optional<AnnounceRequest> r1 = tracker_.WaitFor(regular(id1));
  std::optional<AnnounceRequest> r2 = tracker_.WaitFor(regular(id2));
  ASSERT_TRUE(r1.has_value() && r2.has_value());
  EXPECT_EQ(r1->uploaded(), 5000u);
  EXPECT_EQ(r1->downloaded(), 100u);
  EXPECT_EQ(r1->left(), 0u);
  EXPECT_EQ(r2->uploaded(), 3000u);
  EXPECT_EQ(r2->port(), 7002u);

  // A worker that dies is announced "stopped" with what it uploaded, which stays counted.
  w1->Kill();
  std::optional<AnnounceRequest> stopped = tracker_.WaitFor(pb::STOPPED, id1);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->uploaded(), 5000u);
  EXPECT_EQ(stopped->port(), 7001u);
  p = Watch([](const pb::JobProgress& p) { return p.workers() == 1; });
  EXPECT_EQ(p.uploaded_bytes(), 8000u);
  EXPECT_EQ(p.upload_peers(), 1u);
  EXPECT_EQ(p.state(), pb::SEEDING);
  EXPECT_EQ(tracker_.Count([&](const AnnounceRequest& r) {
    return r.event() == pb::STOPPED && r.peer_id() == id2;
  }),
            0);
}

TEST_F(CoordinatorServerTest, MaxAnnounceIntervalCapsTheTrackersIntervalButNotItsMinInterval) {
  WritePieces(AllPieces(), storage::ContentMode::kCreate);
  VouchFor(AllPieces());
  StartCoordinator();
  auto seeder = ListeningWorker('S', 7001);
  SubmitOk(pb::SEED, /*max_announce_interval_s=*/2);
  const std::string id(20, 'S');
  // Gives the job's thread the chance to announce too early between two steps of the clock.
  auto advance_in_steps = [&](absl::Duration first, absl::Duration second) {
    clock_.Advance(first);
    absl::SleepFor(absl::Milliseconds(200));
    clock_.Advance(second);
  };
  absl::Time t_started, t1, t2, t3;
  ASSERT_TRUE(tracker_.WaitFor(pb::STARTED, id, &t_started).has_value());
  // The tracker says 1800 s; the job's cap says 2 s.
  advance_in_steps(absl::Seconds(1), absl::Seconds(1));
  ASSERT_TRUE(tracker_.WaitFor(pb::NONE, id, &t1).has_value());
  EXPECT_EQ(t1 - t_started, absl::Seconds(2));
  // The cap overrides a tracker's min interval too (opentracker asks for ~16 minutes).
  tracker_.SetIntervals(1800, 951);
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(tracker_.WaitFor(pb::NONE, id, &t2, 2).has_value());
  EXPECT_EQ(t2 - t1, absl::Seconds(2));
  advance_in_steps(absl::Seconds(1), absl::Seconds(1));
  ASSERT_TRUE(tracker_.WaitFor(pb::NONE, id, &t3, 3).has_value());
  EXPECT_EQ(t3 - t2, absl::Seconds(2));
}

TEST_F(CoordinatorServerTest, WorkersAreNeverGivenThemselvesOrEachOther) {
  StartCoordinator();
  auto w1 = ListeningWorker('1', 7001, "127.0.0.11");
  auto w2 = ListeningWorker('2', 7002);  // at the address its stream comes from: 127.0.0.1
  tracker_.AddPeer("127.0.0.11", 7001);  // w1
  tracker_.AddPeer("127.0.0.1", 7002);   // w2
  tracker_.AddPeer("10.9.9.9", 9999, std::string(20, '1'));  // w1 again, by its peer id
  SubmitOk();
  ASSERT_TRUE(w1->Wait(IsStartJob).has_value());
  ASSERT_TRUE(w2->Wait(IsStartJob).has_value());
  // The three swarm peers are shared between the two workers (two for the first to ask, the
  // last for the other), and neither is given a worker.
  w1->RequestWork(torrent_.id, 0, 50);
  std::vector<pb::PeerAddress> peers = w1->Peers();
  ASSERT_EQ(peers.size(), 2u);
  w2->RequestWork(torrent_.id, 0, 50);
  const std::vector<pb::PeerAddress> rest = w2->Peers();
  ASSERT_EQ(rest.size(), 1u);
  peers.insert(peers.end(), rest.begin(), rest.end());
  std::set<std::string> ips;
  for (const pb::PeerAddress& p : peers) {
    EXPECT_THAT(p.ip(), StartsWith("10.0.0.")) << p.port();
    ips.insert(p.ip());
  }
  EXPECT_EQ(ips.size(), 3u);
  ASSERT_TRUE(tracker_.WaitFor(pb::STARTED, std::string(20, '2')).has_value());
  EXPECT_EQ(Watch([](const pb::JobProgress&) { return true; }).known_peers(), 3u);
}

// A tracker on the public internet may not aim the swarm at our own machine or network, nor
// hand out addresses nobody can be reached at.
TEST_F(CoordinatorServerTest, PeersATrackerMayNotGiveAreIgnored) {
  tracker_.SetTrackerIp("203.0.113.9");
  for (const char* bad : {"127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.168.1.5"}) {
    tracker_.AddPeer(bad, 6881);
  }
  tracker_.AddPeer("198.51.100.7", 6881);
  StartCoordinator();
  auto w = std::make_unique<FakeWorker>(address_, kToken);
  SubmitOk();
  ASSERT_TRUE(w->Wait(IsStartJob).has_value());
  w->RequestWork(torrent_.id, 0, 50);
  const std::vector<pb::PeerAddress> peers = w->Peers();
  ASSERT_EQ(peers.size(), 1u) << "the 10.0.0.x ones are private too";
  EXPECT_EQ(peers[0].ip(), "198.51.100.7");
  EXPECT_EQ(Watch([](const pb::JobProgress&) { return true; }).known_peers(), 1u);
}

TEST_F(CoordinatorServerTest, AListeningWorkerTakesOverFromTheCoordinatorsOwnAnnounce) {
  StartCoordinator();
  tracker_.AddPeer("127.0.0.13", 7003);  // the worker below, once it listens there
  SubmitOk();
  // Nobody listens: the coordinator announces itself, with port 0.
  const std::string own_id = server_->peer_id();
  std::optional<AnnounceRequest> own = tracker_.WaitFor(pb::STARTED, own_id);
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->port(), 0u);
  EXPECT_EQ(Watch([](const pb::JobProgress& p) { return p.known_peers() == 4; }).known_peers(), 4u);

  auto w3 = ListeningWorker('3', 7003, "127.0.0.13");
  ASSERT_TRUE(w3->Wait(IsStartJob).has_value());
  w3->RequestWork(torrent_.id, 0, 50);
  const std::vector<pb::PeerAddress> peers = w3->Peers();
  ASSERT_EQ(peers.size(), 3u);  // the pool's fourth peer is w3 itself
  for (const pb::PeerAddress& p : peers) EXPECT_NE(p.ip(), "127.0.0.13");
  std::optional<AnnounceRequest> started =
      tracker_.WaitFor(pb::STARTED, std::string(20, '3'));
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->port(), 7003u);
  std::optional<AnnounceRequest> left = tracker_.WaitFor(pb::STOPPED, own_id);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->port(), 0u);
}

}  // namespace
}  // namespace swarm::coordinator
