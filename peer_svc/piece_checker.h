// A job's checker: pieces the coordinator asks this worker to check (CheckPieces, while the
// job is CHECKING) wait in a queue, and a few threads read each from disk and compare its
// SHA-1 with the torrent's (through a `check` callback: the job's files and hashes). Two
// threads by default: one reads while the other hashes, so neither the disk nor the core
// waits for the other. Results
// go out in batches through `report`, so the coordinator, which never reads content itself,
// learns which pieces the data on disk already holds.
//
// The threads start with the first piece and live until Stop; a job that never checks has
// none. Each has a page-aligned buffer of `buffer_size` bytes (a piece) for `check`, freed
// after 2 s without work. A thread reports at least every second while it has results.
//
//   PieceChecker checker(
//       [&](uint32_t piece, char* buffer) { return ReadAndHash(piece, buffer); },  // OnDisk
//       [&](PieceChecker::Results results) { ... },
//       piece_length);
//   checker.Add({4, 5, 6});
//   checker.Stop();   // queued pieces are dropped; nothing is reported after it returns
#ifndef SWARM_PEER_SVC_PIECE_CHECKER_H_
#define SWARM_PEER_SVC_PIECE_CHECKER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace swarm::peer_svc {

class PieceChecker {
 public:
  // What the disk holds of a piece.
  enum class OnDisk {
    kMatches,  // its hash matches
    kAbsent,   // nothing: all zeros, or unreadable
    kOther,    // other data than the torrent's
  };
  // Reads a piece into `buffer` (the calling thread's own) and says what it holds. On a
  // checker thread, with no lock of the checker held; several threads call it at once.
  using Check = std::function<OnDisk(uint32_t piece, char* buffer)>;
  struct Results {
    std::vector<uint32_t> verified;   // kMatches
    std::vector<uint32_t> missing;    // kAbsent
    std::vector<uint32_t> differing;  // kOther
    size_t size() const { return verified.size() + missing.size() + differing.size(); }
  };
  // A batch of results. On the checker's thread, with no lock of the checker held.
  using Report = std::function<void(Results results)>;

  // `batch`: most results per report from one thread (one goes out sooner when the queue
  // runs dry).
  PieceChecker(Check check, Report report, size_t buffer_size, int threads = 2, size_t batch = 16);
  ~PieceChecker();  // Stop()

  void Add(absl::Span<const uint32_t> pieces);
  // Pieces queued or being checked.
  size_t pending() const;
  void Stop();

 private:
  void Run();

  const Check check_;
  const Report report_;
  const size_t buffer_size_;
  const int threads_;
  const size_t batch_;
  mutable absl::Mutex mu_;
  std::deque<uint32_t> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_progress_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_CHECKER_H_
