// Job without gRPC: no tracker, a FakeClock, and the messages it hands out collected in
// memory. The full worker protocol over real streams is in coordinator_server_test.
#include "coordinator/job.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/testing/files.h"
#include "bt/bencode.h"
#include "bt/magnet.h"
#include "bt/metainfo.h"
#include "bt/sha1.h"
#include "coordinator/resume_record.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::swarm::testing::MakeTempDir;
using ::swarm::testing::ReadWholeFile;
using ::swarm::testing::WriteWholeFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kPieces = 7;
constexpr uint64_t kTotal = 100000;

// One file, "file.bin", 100000 pseudo-random bytes in 16 KiB pieces (7, the last short).
struct Torrent {
  std::string bytes;
  std::string content;
  bt::Metainfo metainfo;
};

// `zeros`: content of zero bytes, which a preallocated file already holds.
Torrent MakeTorrent(bool zeros = false) {
  Torrent t;
  std::mt19937 rng(3);
  for (uint64_t i = 0; i < kTotal; ++i) t.content.push_back(zeros ? 0 : static_cast<char>(rng()));
  std::string hashes;
  for (size_t off = 0; off < t.content.size(); off += 16384) {
    hashes += std::string(bt::AsBytes(bt::Sha1(t.content.substr(off, 16384))));
  }
  bt::BValue::Dict info;
  info["name"] = "file.bin";
  info["length"] = static_cast<int64_t>(kTotal);
  info["piece length"] = 16384;
  info["pieces"] = hashes;
  bt::BValue::Dict root;
  root["info"] = info;
  t.bytes = bt::Encode(bt::BValue(root));
  t.metainfo = *bt::ParseMetainfo(t.bytes);
  return t;
}

// The pieces of every CheckPieces in `out` (in order), each of which must be for `to`.
std::vector<uint32_t> CheckPiecesIn(const Outbox& out, WorkerId to) {
  std::vector<uint32_t> pieces;
  for (const auto& [worker, m] : out) {
    EXPECT_EQ(worker, to);
    pieces.insert(pieces.end(), m.check_pieces().pieces().begin(), m.check_pieces().pieces().end());
  }
  return pieces;
}

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("job"); }

  Job::Options Options() {
    Job::Options o;
    o.clock = &clock_;
    o.poll = absl::Milliseconds(10);
    o.deliver = [this](Outbox out) {
      absl::MutexLock lock(&mu_);
      for (auto& m : out) delivered_.push_back(std::move(m));
    };
    return o;
  }

  // A started job that reached DOWNLOADING.
  std::unique_ptr<Job> Downloading(Job::Options options) {
    absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, options);
    EXPECT_TRUE(job.ok()) << job.status();
    (*job)->Start();
    EXPECT_EQ((*job)->WaitForStateChange(pb::CHECKING, absl::Seconds(20)), pb::DOWNLOADING);
    return *std::move(job);
  }

  // Messages the job delivered itself, of one kind, with their addressees.
  Outbox DeliveredOf(bool (pb::CoordinatorMessage::*has)() const) {
    absl::MutexLock lock(&mu_);
    Outbox out;
    for (const auto& [worker, m] : delivered_) {
      if ((m.*has)()) out.emplace_back(worker, m);
    }
    return out;
  }

  // Writes pieces [0, n) of the content into dir_.
  void WriteFirstPieces(uint32_t n) {
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kCreate);
    ASSERT_TRUE(files.ok());
    for (uint32_t p = 0; p < n; ++p) {
      ASSERT_TRUE((*files)->WritePiece(p, torrent_.content.substr(p * 16384, 16384)).ok());
    }
  }

  // A started job past CHECKING; data it wants checked is checked by worker 1 (honestly).
  std::unique_ptr<Job> Started(pb::JobMode mode, Job::Options options) {
    options.mode = mode;
    absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, options);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return nullptr;
    (*job)->Start();
    if (WaitForCheckOrStateChange(**job)) CheckAsWorker(**job, WorkerInfo{1, true, 0});
    (*job)->WaitForStateChange(pb::CHECKING, absl::Seconds(20));
    return *std::move(job);
  }

  // Waits until the job leaves CHECKING or asks its workers to check (StartJob.check):
  // returns true for the latter.
  bool WaitForCheckOrStateChange(Job& job) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      if (job.WaitForStateChange(pb::CHECKING, absl::Milliseconds(5)) != pb::CHECKING) {
        return false;
      }
      for (const auto& [to, m] : DeliveredOf(&pb::CoordinatorMessage::has_start_job)) {
        if (m.start_job().check()) return true;
      }
    }
    ADD_FAILURE() << "the job neither left CHECKING nor asked for a check";
    return false;
  }

  // Plays worker `w` checking the data on disk for the job, a few pieces per request, until
  // the job has nothing more for it. `lie` flips the result for the pieces it names (a
  // matching piece reported missing, a wrong one verified).
  void CheckAsWorker(Job& job, const WorkerInfo& w, std::vector<uint32_t> lie = {}) {
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kOpenExisting);
    ASSERT_TRUE(files.ok()) << files.status();
    std::string buffer;
    for (;;) {
      Outbox out;
      pb::RequestChecks request;
      request.set_max_pieces(3);
      job.OnRequestChecks(w, request, &out);
      pb::PiecesChecked checked;
      for (uint32_t p : CheckPiecesIn(out, w.id)) {
        ASSERT_TRUE((*files)->ReadPiece(p, &buffer).ok());
        const bool ok = bt::AsBytes(bt::Sha1(buffer)) == torrent_.metainfo.piece_hash(p);
        const bool blank = buffer.find_first_not_of('\0') == std::string::npos;
        if (std::find(lie.begin(), lie.end(), p) != lie.end()) {
          (ok ? checked.add_missing(p) : checked.add_verified(p));
        } else {
          (ok      ? checked.add_verified(p)
           : blank ? checked.add_missing(p)
                   : checked.add_differing(p));
        }
      }
      if (checked.verified().empty() && checked.missing().empty() && checked.differing().empty()) {
        return;
      }
      Outbox ignored;
      job.OnPiecesChecked(w, checked, &ignored);
    }
  }

  // The StartJobs delivered, all of them asking for a check?
  bool OnlyCheckStartJobs() {
    for (const auto& [to, m] : DeliveredOf(&pb::CoordinatorMessage::has_start_job)) {
      if (!m.start_job().check()) return false;
    }
    return true;
  }

  // Waits until the job has delivered `n` messages of one kind (it delivers them right after
  // the state change that a test waits for).
  void WaitDelivered(bool (pb::CoordinatorMessage::*has)() const, int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int count = 0;
      for (const auto& [worker, m] : delivered_) count += (m.*has)() ? 1 : 0;
      return count >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
  }

  int Delivered(bool (pb::CoordinatorMessage::*has)() const) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [worker, m] : delivered_) n += (m.*has)() ? 1 : 0;
    return n;
  }

  // What the job answers `worker`'s request for `n` pieces followed by its report of a
  // seeder (10.0.0.1:1, every piece).
  static Outbox AskWithASeeder(Job& job, const WorkerInfo& worker, uint32_t n) {
    Outbox out;
    pb::RequestWork request;
    request.set_max_pieces(n);
    job.OnRequestWork(worker, request, &out);
    pb::PeerBitfield bitfield;
    bitfield.mutable_peer()->set_ip("10.0.0.1");
    bitfield.mutable_peer()->set_port(1);
    bt::Bitfield all(kPieces);
    all.SetAll();
    bitfield.set_bitfield(all.ToBytes());
    job.OnPeerBitfield(worker, bitfield, &out);
    return out;
  }

  // Leases for `worker` after it reports a seeder.
  std::vector<uint32_t> Lease(Job& job, const WorkerInfo& worker, uint32_t n) {
    const Outbox out = AskWithASeeder(job, worker, n);
    std::vector<uint32_t> pieces;
    for (const auto& [to, m] : out) {
      EXPECT_EQ(to, worker.id);
      for (const pb::Lease& l : m.grant_leases().leases()) pieces.push_back(l.piece());
    }
    return pieces;
  }

  Torrent torrent_ = MakeTorrent();
  std::string dir_;
  FakeClock clock_;
  absl::Mutex mu_;
  Outbox delivered_ ABSL_GUARDED_BY(mu_);
};

WorkerInfo Worker(WorkerId id) {
  WorkerInfo w;
  w.id = id;
  w.sees_output = true;
  return w;
}

TEST_F(JobTest, CreateRejectsBadInputClearly) {
  absl::StatusOr<std::unique_ptr<Job>> job = Job::Create("d4:spam", dir_, Options());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(), HasSubstr("bad torrent"));
  job = Job::Create(torrent_.bytes, "relative", Options());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  job = Job::Create(torrent_.bytes, dir_ + "/missing", Options());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobTest, CreateLaysOutTheFilesAndLeasesNothingWhileChecking) {
  absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, Options());
  ASSERT_TRUE(job.ok()) << job.status();
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/file.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kTotal));
  EXPECT_EQ((*job)->state(), pb::CHECKING);
  EXPECT_TRUE(Lease(**job, Worker(1), 5).empty());
  EXPECT_EQ((*job)->id(), bt::ToHex(torrent_.metainfo.info_hash));
}

TEST_F(JobTest, CompleteDataOnDiskGoesStraightToComplete) {
  {
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kCreate);
    ASSERT_TRUE(files.ok());
    for (uint32_t p = 0; p < kPieces; ++p) {
      ASSERT_TRUE((*files)->WritePiece(p, torrent_.content.substr(p * 16384, 16384)).ok());
    }
  }
  std::unique_ptr<Job> job = Started(pb::DOWNLOAD, Options());
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::COMPLETE);
  job->Join();
  const pb::JobProgress p = job->Progress(0);
  EXPECT_EQ(p.verified_pieces(), kPieces);
  EXPECT_EQ(p.eta_s(), 0);
  EXPECT_TRUE(OnlyCheckStartJobs()) << "started only to check the data, never to download";
}

// A download into files it has just created reads nothing back before leasing. Seen through
// a torrent of zeros: the preallocated files would pass a check, so a job that checked them
// would be complete at once; one that did not must fetch every piece.
TEST_F(JobTest, FilesTheJobCreatedAreNotChecked) {
  torrent_ = MakeTorrent(/*zeros=*/true);
  std::unique_ptr<Job> job = Downloading(Options());
  EXPECT_EQ(job->Progress(0).verified_pieces(), 0u);
  EXPECT_EQ(Lease(*job, Worker(1), kPieces).size(), kPieces);
  job->Cancel();
  job->Join();
}

// The same files found again (a restarted download) are checked: the zeros are verified.
TEST_F(JobTest, FilesFoundOnDiskAreChecked) {
  torrent_ = MakeTorrent(/*zeros=*/true);
  {
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kCreate);
    ASSERT_TRUE(files.ok());
  }
  std::unique_ptr<Job> job = Started(pb::DOWNLOAD, Options());
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::COMPLETE);
  job->Join();
  EXPECT_EQ(job->Progress(0).verified_pieces(), kPieces);
}

TEST_F(JobTest, WriteErrorsInARowFailTheJob) {
  Job::Options options = Options();
  options.max_write_errors_in_a_row = 3;
  std::unique_ptr<Job> job = Downloading(options);
  const WorkerInfo w = Worker(1);
  const std::vector<uint32_t> pieces = Lease(*job, w, kPieces);
  ASSERT_EQ(pieces.size(), kPieces);
  auto fail = [&](uint32_t piece) {
    pb::PieceFailed f;
    f.set_piece(piece);
    f.set_reason(pb::WRITE_ERROR);
    f.set_detail("No space left on device");
    Outbox out;
    job->OnPieceFailed(w, f, &out);
    return out;
  };
  fail(pieces[0]);
  fail(pieces[1]);
  pb::PiecesDone done;
  done.add_pieces()->set_index(pieces[2]);
  Outbox out;
  job->OnPiecesDone(w, done, &out);  // a success in between: the count starts again
  fail(pieces[3]);
  fail(pieces[4]);
  EXPECT_EQ(job->state(), pb::DOWNLOADING);
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 0);
  out = fail(pieces[5]);
  EXPECT_EQ(job->state(), pb::FAILED);
  EXPECT_TRUE(out.empty());
  // StopJob is one of the messages the job delivers itself (after its StartJob).
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 1);
  EXPECT_THAT(job->Progress(1).error(), HasSubstr("No space left on device"));
  job->Join();  // the thread ends by itself
}

TEST_F(JobTest, RateAndEtaOverASlidingWindow) {
  std::unique_ptr<Job> job = Downloading(Options());
  const WorkerInfo w = Worker(1);
  const std::vector<uint32_t> pieces = Lease(*job, w, 2);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(job->Progress(1).eta_s(), -1);  // nothing yet: unknown
  for (uint32_t p : pieces) {
    pb::PiecesDone done;
    done.add_pieces()->set_index(p);
    Outbox out;
    job->OnPiecesDone(w, done, &out);
  }
  clock_.Advance(absl::Seconds(2));
  Outbox out;
  job->Tick(&out);
  pb::JobProgress p = job->Progress(1);
  const uint64_t bytes = p.verified_bytes();
  uint64_t expected = 0;
  for (uint32_t piece : pieces) expected += piece == kPieces - 1 ? kTotal - 6 * 16384 : 16384;
  EXPECT_EQ(bytes, expected);
  EXPECT_DOUBLE_EQ(p.rate_bytes_per_s(), bytes / 2.0);
  EXPECT_DOUBLE_EQ(p.eta_s(), (kTotal - bytes) / (bytes / 2.0));
  // Six seconds later with no progress the window holds none of it.
  clock_.Advance(absl::Seconds(6));
  job->Tick(&out);
  p = job->Progress(1);
  EXPECT_EQ(p.rate_bytes_per_s(), 0);
  EXPECT_EQ(p.eta_s(), -1);
}

TEST_F(JobTest, TickExpiresLeasesAndRevokesThem) {
  std::unique_ptr<Job> job = Downloading(Options());
  const std::vector<uint32_t> pieces = Lease(*job, Worker(4), 3);
  ASSERT_EQ(pieces.size(), 3u);
  clock_.Advance(absl::Seconds(10));
  Outbox out;
  job->Tick(&out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, 4u);
  EXPECT_EQ(out[0].second.revoke_leases().pieces_size(), 3);
  for (uint32_t p : pieces) EXPECT_EQ(job->piece_state(p), PieceState::kNeeded);
}

// A worker that cannot open the job's files says so: what it held goes to the others, it
// is given nothing more, and the progress shows it apart from the workers taking part.
TEST_F(JobTest, AWorkerThatRefusesTheJobLosesItsLeasesAndIsShown) {
  std::unique_ptr<Job> job = Downloading(Options());
  WorkerInfo blind = Worker(4);
  blind.name = "w-blind";
  const std::vector<uint32_t> held = Lease(*job, blind, 3);
  ASSERT_EQ(held.size(), 3u);
  pb::JobRefused refused;
  refused.set_job_id(job->id());
  refused.set_reason("cannot open output folder /x: No such file or directory");
  Outbox out;
  job->OnJobRefused(blind, refused, &out);
  for (uint32_t p : held) EXPECT_EQ(job->piece_state(p), PieceState::kNeeded);
  EXPECT_TRUE(Lease(*job, blind, 3).empty()) << "a refusing worker was given leases";

  const pb::JobProgress progress = job->Progress(/*workers=*/2);
  EXPECT_EQ(progress.workers(), 1u);
  ASSERT_EQ(progress.refused_workers_size(), 1);
  EXPECT_EQ(progress.refused_workers(0).name(), "w-blind");
  EXPECT_THAT(progress.refused_workers(0).reason(), HasSubstr("cannot open output folder"));
  EXPECT_EQ(Lease(*job, Worker(5), 3).size(), 3u) << "the other worker takes the pieces";

  Outbox gone;
  job->RemoveWorker(blind.id, &gone);
  EXPECT_EQ(job->Progress(1).refused_workers_size(), 0) << "a worker that left is not shown";
  job->Cancel();
  job->Join();
}

// StartJob names the workers' PieceSinks, for a worker that cannot see the folder; one that
// refused for want of them is offered the job again when a worker joins.
TEST_F(JobTest, StartJobNamesTheSinksAndARefusalIsRetriedWhenAWorkerJoins) {
  OwnPeers own;
  auto snapshot = std::make_shared<OwnPeers::Snapshot>();
  snapshot->sinks = {"10.0.0.5:7001", "10.0.0.6:7001"};
  snapshot->output_workers = 2;
  own.Set(snapshot);
  Job::Options options = Options();
  options.own_peers = &own;
  std::unique_ptr<Job> job = Downloading(options);
  WaitDelivered(&pb::CoordinatorMessage::has_start_job, 1);  // the job's thread sends it
  Outbox started = DeliveredOf(&pb::CoordinatorMessage::has_start_job);
  ASSERT_FALSE(started.empty());
  EXPECT_THAT(started.back().second.start_job().sinks(),
              ElementsAre("10.0.0.5:7001", "10.0.0.6:7001"));

  WorkerInfo blind = Worker(7);
  blind.name = "blind";
  pb::JobRefused refused;
  refused.set_job_id(job->id());
  refused.set_reason("cannot open output folder");
  Outbox out;
  job->OnJobRefused(blind, refused, &out);
  ASSERT_EQ(job->Progress(2).refused_workers_size(), 1);

  const size_t before = DeliveredOf(&pb::CoordinatorMessage::has_start_job).size();
  job->AddWorker(8);
  Outbox after = DeliveredOf(&pb::CoordinatorMessage::has_start_job);
  ASSERT_EQ(after.size(), before + 2) << "one for the newcomer, one for the refusing worker";
  EXPECT_EQ(after.back().first, 7u);
  EXPECT_EQ(job->Progress(3).refused_workers_size(), 0);
  job->Cancel();
  job->Join();
}

TEST_F(JobTest, CancelStopsWorkersOnce) {
  std::unique_ptr<Job> job = Downloading(Options());
  job->Cancel();
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 1);
  EXPECT_EQ(job->state(), pb::CANCELLED);
  job->Join();
  job->Cancel();  // already over
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 1);
  // Worker messages for a job that is over change nothing.
  EXPECT_TRUE(Lease(*job, Worker(1), 3).empty());
}

TEST_F(JobTest, SeedModeOnCompleteDataSeedsAndStartJobCarriesEveryPiece) {
  WriteFirstPieces(kPieces);
  std::unique_ptr<Job> job = Started(pb::SEED, Options());
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::SEEDING);
  WaitDelivered(&pb::CoordinatorMessage::has_start_job, 2);
  bt::Bitfield all(kPieces);
  all.SetAll();
  Outbox starts = DeliveredOf(&pb::CoordinatorMessage::has_start_job);
  // The first asked the workers to check the data; the second starts the seeding.
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_TRUE(starts[0].second.start_job().check());
  EXPECT_EQ(starts[1].first, kAllWorkers);
  EXPECT_FALSE(starts[1].second.start_job().check());
  EXPECT_EQ(starts[1].second.start_job().verified(), all.ToBytes());
  job->AddWorker(9);  // one that registers later
  starts = DeliveredOf(&pb::CoordinatorMessage::has_start_job);
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[2].first, 9u);
  EXPECT_EQ(starts[2].second.start_job().verified(), all.ToBytes());

  // Seeding hands out peers only: no leases, whatever RequestWork asks for.
  EXPECT_TRUE(Lease(*job, Worker(1), 3).empty());
  const pb::JobProgress p = job->Progress(1);
  EXPECT_EQ(p.state(), pb::SEEDING);
  EXPECT_EQ(p.eta_s(), 0);
  EXPECT_EQ(p.verified_pieces(), kPieces);

  job->Cancel();
  EXPECT_EQ(job->state(), pb::CANCELLED);
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 1);
  job->Join();
}

TEST_F(JobTest, SeedModeOnIncompleteDataFailsWithTheCount) {
  WriteFirstPieces(3);
  std::unique_ptr<Job> job = Started(pb::SEED, Options());
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::FAILED);
  EXPECT_EQ(job->Progress(0).error(),
            "the data does not match the torrent: 4 of 7 pieces missing or corrupt");
  EXPECT_TRUE(OnlyCheckStartJobs()) << "never started to seed";
  job->Join();
}

TEST_F(JobTest, SeedModeNeverCreatesOrChangesFiles) {
  Job::Options options = Options();
  options.mode = pb::SEED;
  absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, options);
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(job.status().message(), HasSubstr("opening the data to seed"));
  struct stat st;
  EXPECT_NE(stat((dir_ + "/file.bin").c_str(), &st), 0);  // nothing created
}

TEST_F(JobTest, CompleteDataInDownloadThenSeedModeSeedsAtOnce) {
  WriteFirstPieces(kPieces);
  std::unique_ptr<Job> job = Started(pb::DOWNLOAD_THEN_SEED, Options());
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::SEEDING);
  job->Cancel();
  job->Join();
  EXPECT_EQ(job->state(), pb::CANCELLED);
}

TEST_F(JobTest, DownloadThenSeedSeedsAfterTheLastPieceAndSendsVerifiedPiecesInBatches) {
  Job::Options options = Options();
  options.verified_batch = 3;
  std::unique_ptr<Job> job = Started(pb::DOWNLOAD_THEN_SEED, options);
  ASSERT_NE(job, nullptr);
  ASSERT_EQ(job->state(), pb::DOWNLOADING);
  WaitDelivered(&pb::CoordinatorMessage::has_start_job, 1);
  const Outbox starts = DeliveredOf(&pb::CoordinatorMessage::has_start_job);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].second.start_job().verified(), bt::Bitfield(kPieces).ToBytes());

  WriteFirstPieces(kPieces);  // what the worker writes
  const WorkerInfo w = Worker(1);
  const std::vector<uint32_t> pieces = Lease(*job, w, kPieces);
  ASSERT_EQ(pieces.size(), kPieces);
  auto done = [&](uint32_t piece) {
    pb::PiecesDone d;
    d.add_pieces()->set_index(piece);
    Outbox out;
    job->OnPiecesDone(w, d, &out);
  };
  done(pieces[0]);
  done(pieces[1]);
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_pieces_verified), 0);
  done(pieces[2]);  // a full batch goes at once
  Outbox verified = DeliveredOf(&pb::CoordinatorMessage::has_pieces_verified);
  ASSERT_EQ(verified.size(), 1u);
  EXPECT_EQ(verified[0].first, kAllWorkers);
  EXPECT_THAT(verified[0].second.pieces_verified().pieces(),
              ::testing::ElementsAre(pieces[0], pieces[1], pieces[2]));
  done(pieces[3]);
  Outbox out;
  job->Tick(&out);  // too soon after the batch: the rest waits
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_pieces_verified), 1);
  clock_.Advance(options.verified_interval);
  job->Tick(&out);  // the rest at the first tick an interval after the batch
  verified = DeliveredOf(&pb::CoordinatorMessage::has_pieces_verified);
  ASSERT_EQ(verified.size(), 2u);
  EXPECT_THAT(verified[1].second.pieces_verified().pieces(), ::testing::ElementsAre(pieces[3]));
  for (size_t i = 4; i < pieces.size(); ++i) done(pieces[i]);

  EXPECT_EQ(job->WaitForStateChange(pb::DOWNLOADING, absl::Seconds(20)), pb::SEEDING);
  // The last ones went out before the job was seeding; every piece exactly once.
  std::vector<uint32_t> all;
  for (const auto& [to, m] : DeliveredOf(&pb::CoordinatorMessage::has_pieces_verified)) {
    all.insert(all.end(), m.pieces_verified().pieces().begin(), m.pieces_verified().pieces().end());
  }
  EXPECT_THAT(all, ::testing::UnorderedElementsAreArray(pieces));
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 0);  // the workers keep serving
  EXPECT_TRUE(Lease(*job, w, 3).empty());
  job->Cancel();
  job->Join();
  EXPECT_EQ(job->state(), pb::CANCELLED);
  EXPECT_EQ(Delivered(&pb::CoordinatorMessage::has_stop_job), 1);
}

TEST_F(JobTest, UploadsAreSummedOverWorkersAndOutliveTheirWorker) {
  std::unique_ptr<Job> job = Downloading(Options());
  auto transfer = [&](WorkerId id, uint64_t up, uint32_t peers) {
    pb::Heartbeat::JobTransfer t;
    t.set_uploaded_bytes(up);
    t.set_downloaded_bytes(7);
    t.set_upload_peers(peers);
    job->OnTransfer(Worker(id), t);
  };
  transfer(1, 1000, 2);
  transfer(2, 500, 1);
  pb::JobProgress p = job->Progress(2);
  EXPECT_EQ(p.uploaded_bytes(), 1500u);
  EXPECT_EQ(p.upload_peers(), 3u);
  Outbox out;
  job->Tick(&out);

  job->RemoveWorker(1, &out);
  job->Tick(&out);  // its totals are folded away: no announce is left to say them
  p = job->Progress(1);
  EXPECT_EQ(p.uploaded_bytes(), 1500u);
  EXPECT_EQ(p.upload_peers(), 1u);

  clock_.Advance(absl::Seconds(2));
  transfer(2, 2500, 1);
  job->Tick(&out);
  p = job->Progress(1);
  EXPECT_EQ(p.uploaded_bytes(), 3500u);
  // Over the window, from the first sample (0 bytes when DOWNLOADING began) to now.
  EXPECT_DOUBLE_EQ(p.upload_rate_bytes_per_s(), 3500 / 2.0);
}

// The coordinator reads no content: what the workers say about the data on disk is what the
// job believes (here a worker that lies about two pieces), and the checks go out in batches.
TEST_F(JobTest, DataOnDiskIsCheckedByTheWorkersNotTheCoordinator) {
  WriteFirstPieces(3);
  absl::StatusOr<std::unique_ptr<Job>> made = Job::Create(torrent_.bytes, dir_, Options());
  ASSERT_TRUE(made.ok());
  Job& job = **made;
  job.Start();
  ASSERT_TRUE(WaitForCheckOrStateChange(job));
  EXPECT_EQ(job.state(), pb::CHECKING);
  // A worker asking for leases meanwhile gets none; its request waits for the check's end.
  EXPECT_TRUE(Lease(job, Worker(1), 5).empty());
  CheckAsWorker(job, Worker(1), /*lie=*/{0, 5});
  EXPECT_EQ(job.WaitForStateChange(pb::CHECKING, absl::Seconds(20)), pb::DOWNLOADING);
  // Piece 0, "missing", is fetched: the request that waited for the check leased it.
  EXPECT_NE(job.piece_state(0), PieceState::kVerified);
  EXPECT_EQ(job.piece_state(1), PieceState::kVerified);
  EXPECT_EQ(job.piece_state(2), PieceState::kVerified);
  EXPECT_EQ(job.piece_state(5), PieceState::kVerified);
  std::vector<uint32_t> announced;
  for (const auto& [to, m] : DeliveredOf(&pb::CoordinatorMessage::has_pieces_verified)) {
    announced.insert(announced.end(), m.pieces_verified().pieces().begin(),
                     m.pieces_verified().pieces().end());
  }
  EXPECT_THAT(announced, ::testing::UnorderedElementsAre(1, 2, 5));
  job.Cancel();
  job.Join();
}

// Checks held by a worker that dies, or that goes silent, go to another worker.
TEST_F(JobTest, ChecksOfADeadOrSilentWorkerGoToAnother) {
  WriteFirstPieces(kPieces);
  Job::Options options = Options();
  options.check_ttl = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Job>> made = Job::Create(torrent_.bytes, dir_, options);
  ASSERT_TRUE(made.ok());
  Job& job = **made;
  job.Start();
  ASSERT_TRUE(WaitForCheckOrStateChange(job));
  auto request = [&](WorkerId id, uint32_t n) {
    Outbox out;
    pb::RequestChecks r;
    r.set_max_pieces(n);
    job.OnRequestChecks(Worker(id), r, &out);
    return CheckPiecesIn(out, id);
  };
  EXPECT_THAT(request(1, 3), ::testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(request(2, 3), ::testing::ElementsAre(3, 4, 5));
  EXPECT_THAT(request(3, 10), ::testing::ElementsAre(6));
  // Worker 3 reports its piece later on: its batch stays alive.
  clock_.Advance(absl::Seconds(20));
  pb::PiecesChecked six;
  six.add_verified(6);
  Outbox out;
  job.OnPiecesChecked(Worker(3), six, &out);
  job.RemoveWorker(1, &out);  // its pieces go to worker 3, which is waiting for more
  EXPECT_THAT(CheckPiecesIn(out, 3), ::testing::ElementsAre(0, 1, 2));
  // Worker 2 says nothing for the check TTL: its batch lapses, and worker 3, still waiting
  // for more, gets it.
  clock_.Advance(absl::Seconds(11));
  out.clear();
  job.Tick(&out);
  EXPECT_THAT(CheckPiecesIn(out, 3), ::testing::ElementsAre(3, 4, 5));
  job.Cancel();
  job.Join();
}

// A check nobody takes (workers there, none able to open the files) is given up after
// check_ttl: the pieces are fetched instead. With no worker at all, the job waits.
TEST_F(JobTest, ACheckNoWorkerTakesIsGivenUpOnlyWhenWorkersAreThere) {
  WriteFirstPieces(3);
  OwnPeers own;
  Job::Options options = Options();
  options.own_peers = &own;
  absl::StatusOr<std::unique_ptr<Job>> made = Job::Create(torrent_.bytes, dir_, options);
  ASSERT_TRUE(made.ok());
  Job& job = **made;
  job.Start();
  ASSERT_TRUE(WaitForCheckOrStateChange(job));
  Outbox out;
  clock_.Advance(absl::Seconds(31));
  job.Tick(&out);
  EXPECT_EQ(job.state(), pb::CHECKING) << "no worker: nothing to give up on";
  auto workers = std::make_shared<OwnPeers::Snapshot>();
  workers->output_workers = 1;
  own.Set(workers);
  job.Tick(&out);
  EXPECT_EQ(job.state(), pb::DOWNLOADING);
  EXPECT_EQ(job.Progress(1).verified_pieces(), 0u);
  job.Cancel();
  job.Join();
}

// A peer that connected to a worker while the data was being checked counts: its bitfield
// (sent once) is kept, and leases come from it once the check is over.
TEST_F(JobTest, ABitfieldReportedWhileCheckingIsKept) {
  WriteFirstPieces(3);
  absl::StatusOr<std::unique_ptr<Job>> made = Job::Create(torrent_.bytes, dir_, Options());
  ASSERT_TRUE(made.ok());
  Job& job = **made;
  job.Start();
  ASSERT_TRUE(WaitForCheckOrStateChange(job));
  const WorkerInfo w = Worker(1);
  EXPECT_TRUE(AskWithASeeder(job, w, kPieces).empty()) << "no lease while checking";
  // The check's end serves the request that waited: every missing piece, from that peer.
  CheckAsWorker(job, w);
  ASSERT_EQ(job.WaitForStateChange(pb::CHECKING, absl::Seconds(20)), pb::DOWNLOADING);
  for (uint32_t p = 0; p < kPieces; ++p) {
    EXPECT_EQ(job.piece_state(p), p < 3 ? PieceState::kVerified : PieceState::kLeased) << p;
  }
  job.Cancel();
  job.Join();
}

class ResumeTest : public JobTest {
 protected:
  Job::Options WithRecord() {
    Job::Options o = Options();
    o.resume_path = MakeTempDir("state") + "/job.resume";
    o.stop_ack_timeout = absl::Seconds(20);
    return o;
  }

  // Downloads pieces 0..2 (worker 1 "writes" them, as PiecesDone says) and cancels: the job
  // leaves its record once worker 1 has let go.
  void DownloadSomeAndStop(const Job::Options& options) {
    std::unique_ptr<Job> job = Downloading(options);
    WriteFirstPieces(3);  // the bytes a worker writes
    const WorkerInfo w = Worker(1);
    const std::vector<uint32_t> leased = Lease(*job, w, kPieces);
    ASSERT_EQ(leased.size(), kPieces);
    for (uint32_t p = 0; p < 3; ++p) {
      pb::PiecesDone d;
      d.add_pieces()->set_index(p);
      Outbox out;
      job->OnPiecesDone(w, d, &out);
    }
    job->Cancel();
    job->OnJobStopped(w);
    job->Join();
  }
};

TEST_F(ResumeTest, AMatchingRecordIsTrustedAndNothingIsChecked) {
  const Job::Options options = WithRecord();
  DownloadSomeAndStop(options);
  absl::StatusOr<ResumeRecord> record = LoadResumeRecord(options.resume_path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->verified.Count(), 3u);
  EXPECT_EQ(record->output_dir, dir_);

  std::unique_ptr<Job> again = Started(pb::DOWNLOAD, options);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->state(), pb::DOWNLOADING);
  EXPECT_EQ(again->Progress(0).verified_pieces(), 3u);
  for (const auto& [to, m] : DeliveredOf(&pb::CoordinatorMessage::has_start_job)) {
    EXPECT_FALSE(m.start_job().check()) << "a matching record needs no check";
  }
  again->Cancel();
  again->Join();
}

TEST_F(ResumeTest, AStaleModificationTimeMeansACheck) {
  const Job::Options options = WithRecord();
  DownloadSomeAndStop(options);
  const struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (dir_ + "/file.bin").c_str(), times, 0), 0);
  absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, options);
  ASSERT_TRUE(job.ok());
  (*job)->Start();
  EXPECT_TRUE(WaitForCheckOrStateChange(**job)) << "the workers are asked to check";
  CheckAsWorker(**job, Worker(1));
  EXPECT_EQ((*job)->WaitForStateChange(pb::CHECKING, absl::Seconds(20)), pb::DOWNLOADING);
  EXPECT_EQ((*job)->Progress(0).verified_pieces(), 3u);
  (*job)->Cancel();
  (*job)->OnJobStopped(Worker(1));
  (*job)->Join();
}

TEST_F(ResumeTest, RecheckChecksDespiteAMatchingRecord) {
  Job::Options options = WithRecord();
  DownloadSomeAndStop(options);
  options.recheck = true;
  absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, options);
  ASSERT_TRUE(job.ok());
  (*job)->Start();
  EXPECT_TRUE(WaitForCheckOrStateChange(**job));
  (*job)->Cancel();
  (*job)->OnJobStopped(Worker(1));
  (*job)->Join();
}

// The record is made after the workers let go: a piece a worker writes after StopJob (its
// writer draining) changes the file, and the record has the file as it is after that.
TEST_F(ResumeTest, TheRecordWaitsForTheWorkersToLetGo) {
  const Job::Options options = WithRecord();
  std::unique_ptr<Job> job = Downloading(options);
  WriteFirstPieces(1);
  const WorkerInfo w = Worker(1);
  ASSERT_EQ(Lease(*job, w, kPieces).size(), kPieces);
  job->Cancel();
  WriteFirstPieces(2);  // the late write, after StopJob
  const struct timespec times[2] = {{0, UTIME_OMIT}, {777, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (dir_ + "/file.bin").c_str(), times, 0), 0);
  job->OnJobStopped(w);
  job->Join();
  absl::StatusOr<ResumeRecord> record = LoadResumeRecord(options.resume_path);
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_EQ(record->files.size(), 1u);
  EXPECT_EQ(record->files[0].mtime_ns, int64_t{777} * 1'000'000'000);
}

// A corrupt or missing record costs a check, never a wrong piece.
TEST_F(ResumeTest, CorruptOrMissingRecordMeansACheck) {
  const Job::Options options = WithRecord();
  DownloadSomeAndStop(options);
  for (bool corrupt : {true, false}) {
    if (corrupt) {
      FILE* f = std::fopen(options.resume_path.c_str(), "r+");
      ASSERT_NE(f, nullptr);
      std::fputs("garbage", f);
      std::fclose(f);
    } else {
      std::remove(options.resume_path.c_str());
    }
    absl::StatusOr<std::unique_ptr<Job>> job = Job::Create(torrent_.bytes, dir_, options);
    ASSERT_TRUE(job.ok());
    (*job)->Start();
    EXPECT_TRUE(WaitForCheckOrStateChange(**job)) << (corrupt ? "corrupt" : "missing");
    CheckAsWorker(**job, Worker(1));
    EXPECT_EQ((*job)->WaitForStateChange(pb::CHECKING, absl::Seconds(20)), pb::DOWNLOADING);
    EXPECT_EQ((*job)->Progress(0).verified_pieces(), 3u);
    (*job)->Cancel();
    (*job)->OnJobStopped(Worker(1));
    (*job)->Join();
    absl::MutexLock lock(&mu_);
    delivered_.clear();
  }
}

// Peers from a peer's exchange join the pool through the filters a tracker's answer goes
// through: loopback peers only from a peer on loopback, never unspecified ones.
TEST_F(JobTest, PeersLearnedFromPeersAreFilteredLikeATrackersAndHandedOut) {
  std::unique_ptr<Job> job = Downloading(Options());
  const uint32_t before = job->Progress(1).known_peers();
  pb::PeersLearned learned;
  learned.set_job_id(job->id());
  learned.mutable_source()->set_ip("203.0.113.7");  // on the internet
  learned.mutable_source()->set_port(6881);
  auto add = [&](const char* ip, uint32_t port) {
    pb::PeerAddress* p = learned.add_peers();
    p->set_ip(ip);
    p->set_port(port);
  };
  add("127.0.0.1", 22);  // into our own machine: refused
  add("0.0.0.0", 6881);  // nobody: refused
  add("198.51.100.1", 6881);
  Outbox out;
  job->OnPeersLearned(Worker(1), learned, &out);
  EXPECT_EQ(job->Progress(1).known_peers(), before + 1);
  learned.mutable_source()->set_ip("127.0.0.5");  // a peer on loopback may name one there
  job->OnPeersLearned(Worker(1), learned, &out);
  EXPECT_EQ(job->Progress(1).known_peers(), before + 2);
  job->Cancel();
  job->Join();
}

// A magnet link's job: FETCHING_METADATA with nothing on disk; the workers are asked for the
// metadata; a dictionary that is not the info-hash's is dropped, the right one makes the
// .torrent; the handover ends the job for its successor.
TEST_F(JobTest, AMagnetLinksJobFetchesTheMetadataAndHandsOver) {
  const std::string& info = torrent_.metainfo.info_bytes;
  bt::MagnetLink link;
  link.info_hash = torrent_.metainfo.info_hash;
  link.name = "from the link";
  link.trackers = {"http://127.0.0.1:1/announce"};
  absl::StatusOr<std::unique_ptr<Job>> made = Job::CreateFromMagnet(link, dir_, Options());
  ASSERT_TRUE(made.ok()) << made.status();
  Job& job = **made;
  EXPECT_EQ(job.state(), pb::FETCHING_METADATA);
  job.Start();
  WaitDelivered(&pb::CoordinatorMessage::has_fetch_metadata, 1);
  Outbox fetches = DeliveredOf(&pb::CoordinatorMessage::has_fetch_metadata);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].second.fetch_metadata().info_hash(),
            std::string(bt::AsBytes(link.info_hash)));
  job.AddWorker(2);
  WaitDelivered(&pb::CoordinatorMessage::has_fetch_metadata, 2);
  pb::JobProgress progress = job.Progress(1);
  EXPECT_EQ(progress.name(), "from the link");
  EXPECT_EQ(progress.num_pieces(), 0u);
  struct stat st;
  EXPECT_NE(stat((dir_ + "/file.bin").c_str(), &st), 0) << "nothing is made before the metadata";

  pb::MetadataFound part;
  part.set_job_id(job.id());
  part.set_total_size(static_cast<uint32_t>(info.size()));
  part.set_data(std::string(info.size(), 'x'));
  EXPECT_FALSE(job.OnMetadataFound(Worker(1), part)) << "not the info-hash's";
  part.set_data(info.substr(0, 10));
  EXPECT_FALSE(job.OnMetadataFound(Worker(1), part));
  part.set_offset(10);
  part.set_data(info.substr(10));
  ASSERT_TRUE(job.OnMetadataFound(Worker(1), part));
  absl::StatusOr<bt::Metainfo> m = bt::ParseMetainfo(job.metadata_torrent());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->info_hash, link.info_hash);
  EXPECT_EQ(m->trackers, (std::vector<std::vector<std::string>>{{link.trackers[0]}}));

  job.HandOver();
  EXPECT_EQ(job.state(), pb::CANCELLED);
  EXPECT_TRUE(job.handed_over());
  WaitDelivered(&pb::CoordinatorMessage::has_stop_job, 1);
  job.Join();
}

// A file of the torrent's length that this download did not make, holding other data: the
// job stops with its name and leaves it alone, unless asked to overwrite.
TEST_F(ResumeTest, SomeoneElsesFileIsLeftAloneUnlessAskedToOverwrite) {
  Job::Options options = WithRecord();
  const std::string path = dir_ + "/file.bin";
  const std::string theirs(torrent_.content.size(), 'x');
  ASSERT_TRUE(WriteWholeFile(path, theirs));
  std::unique_ptr<Job> job = Started(pb::DOWNLOAD, options);
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::FAILED);
  EXPECT_THAT(job->Progress(0).error(),
              HasSubstr("file.bin already exists and holds other data than the torrent's"));
  job->Join();
  EXPECT_EQ(ReadWholeFile(path), theirs);
  absl::StatusOr<ResumeRecord> record = LoadResumeRecord(options.resume_path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_FALSE(record->files[0].exists) << "it is not the download's";

  options.overwrite = true;
  job = Started(pb::DOWNLOAD, options);
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::DOWNLOADING);
  job->Cancel();
  job->OnJobStopped(Worker(1));
  job->Join();
  record = LoadResumeRecord(options.resume_path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_TRUE(record->files[0].exists) << "overwritten: the download's own now";
}

// The job's own file, left with a half-written piece by a crash before its first periodic
// record: the record saved when the job made the file vouches for it, so the piece is
// fetched again rather than the file taken for someone else's.
TEST_F(ResumeTest, AHalfWrittenPieceInTheJobsOwnFileIsFetchedAgain) {
  const Job::Options options = WithRecord();
  std::string first_record;
  {
    std::unique_ptr<Job> job = Downloading(options);
    first_record = ReadWholeFile(options.resume_path);
    ASSERT_FALSE(first_record.empty()) << "a first record when the job made the files";
    job->Cancel();
    job->Join();
  }
  ASSERT_TRUE(WriteWholeFile(options.resume_path, first_record));  // as if it crashed
  WriteFirstPieces(2);
  {
    auto files =
        storage::ContentFiles::Open(torrent_.metainfo, dir_, storage::ContentMode::kOpenExisting);
    ASSERT_TRUE(files.ok());
    ASSERT_TRUE((*files)->WritePiece(2, std::string(16384, 'h')).ok());  // torn
  }
  std::unique_ptr<Job> job = Started(pb::DOWNLOAD, options);
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->state(), pb::DOWNLOADING);
  EXPECT_EQ(job->Progress(0).verified_pieces(), 2u);
  job->Cancel();
  job->OnJobStopped(Worker(1));
  job->Join();
}

}  // namespace
}  // namespace swarm::coordinator
