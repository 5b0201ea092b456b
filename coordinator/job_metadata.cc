// Job: a magnet link's job before its torrent is known (FETCHING_METADATA). The job stands in
// for the torrent with what the link says (info-hash, name, trackers, peers): it announces,
// hands peers to the workers, which fetch the info dictionary (FetchMetadata), and takes the
// dictionary back (MetadataFound). The server then makes the real job from the .torrent and
// hands over to it (coordinator_server.cc); nothing is written before that.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/sha1.h"
#include "bt/ut_metadata.h"
#include "coordinator/job.h"

namespace swarm::coordinator {

absl::StatusOr<std::unique_ptr<Job>> Job::CreateFromMagnet(const bt::MagnetLink& link,
                                                           const std::string& output_dir,
                                                           Options options) {
  SWARM_RETURN_IF_ERROR(CheckOutputDir(output_dir));
  // One piece of one byte: the ledger, the announces ("left" is not 0: we want peers) and
  // the progress all work on it unchanged until the real torrent takes over.
  bt::Metainfo stand_in;
  stand_in.info_hash = link.info_hash;
  stand_in.name = link.name;
  stand_in.total_length = 1;
  stand_in.piece_length = bt::kMetadataPieceSize;
  stand_in.piece_hashes = std::string(20, '\0');
  bt::FileEntry file;
  file.path = {"metadata"};
  file.length = 1;
  stand_in.files.push_back(std::move(file));
  for (const std::string& tracker : link.trackers) stand_in.trackers.push_back({tracker});
  std::unique_ptr<Job> job(
      new Job("", std::move(stand_in), output_dir, nullptr, std::move(options)));
  job->magnet_ = link;
  absl::MutexLock lock(&job->mu_);
  job->state_ = pb::FETCHING_METADATA;
  job->pool_.Add(link.peers);  // x.pe: peers to try at once
  return job;
}

void Job::QueueFetchMetadataLocked(WorkerId to) {
  pb::CoordinatorMessage m;
  m.mutable_fetch_metadata()->set_job_id(id_);
  m.mutable_fetch_metadata()->set_info_hash(std::string(bt::AsBytes(metainfo_.info_hash)));
  ordered_.emplace_back(to, std::move(m));
}

bool Job::OnMetadataFound(const WorkerInfo& worker, const pb::MetadataFound& part) {
  absl::MutexLock lock(&mu_);
  if (state_ != pb::FETCHING_METADATA || !magnet_ || part.total_size() < 1 ||
      part.total_size() > bt::kMaxMetadataSize) {
    return false;
  }
  std::string& dict = metadata_parts_[worker.id];
  if (part.offset() == 0) dict.clear();
  if (part.offset() != dict.size() || dict.size() > part.total_size() ||
      part.data().size() > part.total_size() - dict.size()) {
    metadata_parts_.erase(worker.id);  // out of order: the worker's parts are useless
    return false;
  }
  dict += part.data();
  if (dict.size() < part.total_size()) return false;
  if (bt::Sha1(dict) != metainfo_.info_hash) {
    Log(absl::StrCat("worker ", worker.id, " sent metadata that is not the info-hash's"));
    metadata_parts_.erase(worker.id);
    return false;
  }
  metadata_torrent_ = bt::TorrentFromMagnet(*magnet_, dict);
  metadata_parts_.clear();
  Log(absl::StrCat("metadata found by worker ", worker.id, " (", part.total_size(), " bytes)"));
  return true;
}

std::string Job::metadata_torrent() const {
  absl::MutexLock lock(&mu_);
  return metadata_torrent_;
}

void Job::HandOver() {
  {
    absl::MutexLock lock(&mu_);
    if (IsTerminal(state_)) return;
    handed_over_ = true;
    state_ = pb::CANCELLED;
    wake_ = true;
    LeaveSwarmLocked();
    QueueStopJobLocked();
  }
  FlushOrdered();
}

bool Job::handed_over() const {
  absl::MutexLock lock(&mu_);
  return handed_over_;
}

std::vector<bt::Endpoint> Job::KnownPeers() const {
  absl::MutexLock lock(&mu_);
  return pool_.KnownPeers();
}

void Job::AddKnownPeers(absl::Span<const bt::Endpoint> peers) {
  absl::MutexLock lock(&mu_);
  pool_.Add(peers);
  wake_ = true;
}

void Job::Abort(std::string error) {
  {
    absl::MutexLock lock(&mu_);
    Fail(std::move(error));
  }
  FlushOrdered();
}

}  // namespace swarm::coordinator
