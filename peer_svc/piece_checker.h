// A job's checker: pieces the coordinator asks this worker to check (CheckPieces, while the
// job is CHECKING) wait in a queue, and one thread reads each from disk and compares its
// SHA-1 with the torrent's (through a `check` callback: the job's files and hashes). Results
// go out in batches through `report`, so the coordinator, which never reads content itself,
// learns which pieces the data on disk already holds.
//
// The thread starts with the first piece and lives until Stop; a job that never checks has
// none.
//
//   PieceChecker checker(
//       [&](uint32_t piece) { return ReadAndHash(piece); },
//       [&](std::vector<uint32_t> verified, std::vector<uint32_t> missing) { ... });
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
  // Whether the piece on disk matches its hash. On the checker's thread, with no lock of the
  // checker held.
  using Check = std::function<bool(uint32_t piece)>;
  // A batch of results. On the checker's thread, with no lock of the checker held.
  using Report = std::function<void(std::vector<uint32_t> verified, std::vector<uint32_t> missing)>;

  // `batch`: most results per report (one goes out sooner when the queue runs dry).
  PieceChecker(Check check, Report report, size_t batch = 16);
  ~PieceChecker();  // Stop()

  void Add(absl::Span<const uint32_t> pieces);
  // Pieces queued or being checked.
  size_t pending() const;
  void Stop();

 private:
  void Run();

  const Check check_;
  const Report report_;
  const size_t batch_;
  mutable absl::Mutex mu_;
  std::deque<uint32_t> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_progress_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_CHECKER_H_
