#include "peer_svc/piece_writer.h"

#include <algorithm>
#include <utility>

namespace swarm::peer_svc {

PieceWriter::PieceWriter(const Options& options, Sink sink, BufferPool* buffers)
    : options_(options), sink_(std::move(sink)), buffers_(buffers) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { Run(); });
  }
}

PieceWriter::~PieceWriter() { Stop(); }

void PieceWriter::GiveBack(PieceBuffer data) {
  if (buffers_ != nullptr) buffers_->Put(data.Release());
}

bool PieceWriter::Write(uint32_t piece, PieceBuffer data, Done done) {
  const size_t size = data.size();
  {
    absl::MutexLock lock(&mu_);
    // Back-pressure: the caller (a connection) stops reading its socket while the disk
    // catches up. One piece always fits, however large.
    auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || queued_bytes_ == 0 || queued_bytes_ + size <= options_.max_queue_bytes;
    };
    if (!room() && options_.on_wait) options_.on_wait();
    mu_.Await(absl::Condition(&room));
    if (!stop_) {
      queued_bytes_ += size;
      queue_.push_back(Item{piece, std::move(data), std::move(done)});
      return true;
    }
  }
  GiveBack(std::move(data));
  return false;
}

void PieceWriter::Run() {
  while (true) {
    Item item;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and all written
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    const absl::Status written = sink_(item.piece, item.data.view());
    {
      absl::MutexLock lock(&mu_);
      queued_bytes_ -= item.data.size();
    }
    GiveBack(std::move(item.data));
    if (item.done) item.done(written);
  }
}

void PieceWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace swarm::peer_svc
