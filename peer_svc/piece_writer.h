// A job's disk writer: verified pieces wait in a queue and a thread stores them (through a
// sink: ContentFiles::WritePiece in the worker, or PieceStreamer::Send to the worker that
// writes them when this one cannot see the files), so a connection hashes a piece and goes
// back to its socket at once instead of waiting for pwrite. The queue is bounded: while more
// than `max_queue_bytes` are queued or being written, Write waits, and the connection that
// called it stops reading its socket — the disk sets the pace, and memory stays bounded. One
// piece always fits, however large. Each piece's `done` callback runs on the writer thread
// that stored it once its write is over, with the write's status (the job reports it to the
// coordinator), and its buffer goes back to the BufferPool before that.
//
// Stop lets the threads write everything queued, then joins them; a Write waiting for room, and
// every Write after it, is refused.
//
//   PieceWriter writer(PieceWriter::Options(),
//                      [&](uint32_t piece, std::string_view bytes) {
//                        return files->WritePiece(piece, bytes);
//                      },
//                      &buffers);
//   // On a connection's thread, with a verified piece:
//   writer.Write(piece, std::move(buffer), [=](const absl::Status& written) {
//     Report(piece, written);   // on the writer's thread
//   });
//   ...
//   writer.Stop();   // what was queued is on disk (or failed) and reported
#ifndef SWARM_PEER_SVC_PIECE_WRITER_H_
#define SWARM_PEER_SVC_PIECE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "peer_svc/piece_buffer.h"

namespace swarm::peer_svc {

class PieceWriter {
 public:
  // Stores one piece's bytes; runs on the writer's thread, with no lock of the writer held.
  using Sink = std::function<absl::Status(uint32_t piece, std::string_view bytes)>;
  // Told how one piece's write went; runs on the writer's thread, with no lock held.
  using Done = std::function<void(const absl::Status& written)>;

  struct Options {
    // Bytes of pieces queued or being written, at most: a Write beyond it waits for room.
    size_t max_queue_bytes = 8u << 20;
    // Called when a Write starts waiting for room, on the waiting thread with the writer's
    // lock held (so it must neither block nor call the writer): for tests and counters.
    std::function<void()> on_wait;
    // Threads storing pieces at once (each takes the next queued piece): more than one for a
    // sink that waits on a round trip (streaming to another worker), so that several pieces
    // are in flight. The sink and `done` are then called from several threads at once.
    int threads = 1;
  };

  // Starts the thread. `buffers` (null: buffers are freed) gets each piece's buffer back once
  // it is written, or refused; it must outlive the writer.
  PieceWriter(const Options& options, Sink sink, BufferPool* buffers);
  // Stops (see Stop).
  ~PieceWriter();
  PieceWriter(const PieceWriter&) = delete;
  PieceWriter& operator=(const PieceWriter&) = delete;

  // Queues `data` (piece `piece`), waiting while the queue is full; `done` follows once it
  // is written. False when the writer is stopping: nothing is written, `done` never runs and
  // the buffer goes back to the pool. Thread-safe.
  bool Write(uint32_t piece, PieceBuffer data, Done done);
  // Refuses new Writes (and those waiting for room), lets the thread write and report what
  // is queued, and joins it. Idempotent; not from the writer's own thread (a `done`).
  void Stop();

 private:
  struct Item {
    uint32_t piece = 0;
    PieceBuffer data;
    Done done;
  };

  void Run();
  void GiveBack(PieceBuffer data);

  const Options options_;
  const Sink sink_;
  BufferPool* const buffers_;

  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  // The queue's bytes and the piece being written: it holds memory until its write is over.
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_WRITER_H_
