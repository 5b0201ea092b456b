#include "coordinator/piece_ledger.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace swarm::coordinator {

PieceLedger::PieceLedger(const bt::PieceLayout& layout, Options options)
    : layout_(layout),
      options_(std::move(options)),
      rng_(options_.seed),
      needed_(layout.num_pieces()),
      verified_(layout.num_pieces()),
      holders_(layout.num_pieces()),
      availability_(layout.num_pieces(), 0) {
  needed_.SetAll();
}

PieceState PieceLedger::state(uint32_t piece) const {
  if (verified_.Get(piece)) return PieceState::kVerified;
  // Out of range reads as NEEDED, as documented.
  if (!InRange(piece) || needed_.Get(piece)) return PieceState::kNeeded;
  return PieceState::kLeased;
}

std::vector<Holder> PieceLedger::holders(uint32_t piece) const {
  return InRange(piece) ? holders_[piece] : std::vector<Holder>();
}

std::vector<uint32_t> PieceLedger::LeasesOf(WorkerId worker) const {
  std::vector<uint32_t> out;
  auto it = by_worker_.find(worker);
  if (it == by_worker_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  std::sort(out.begin(), out.end());
  return out;
}

uint32_t PieceLedger::availability(uint32_t piece) const {
  return InRange(piece) ? availability_[piece] : 0;
}

absl::Status PieceLedger::MarkVerified(uint32_t piece) {
  if (!InRange(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", piece, " out of range (", num_pieces(), " pieces)"));
  }
  if (!needed_.Get(piece)) {
    return absl::FailedPreconditionError(absl::StrCat("piece ", piece, " is not needed"));
  }
  needed_.Clear(piece);
  verified_.Set(piece);
  verified_bytes_ += layout_.piece_size(piece);
  return absl::OkStatus();
}

// --- availability -------------------------------------------------------------------------

void PieceLedger::AdjustAvailability(const bt::Bitfield& have, int delta) {
  for (uint32_t p = have.NextSet(0); p < have.size(); p = have.NextSet(p + 1)) {
    availability_[p] = static_cast<uint32_t>(static_cast<int64_t>(availability_[p]) + delta);
  }
}

absl::Status PieceLedger::SetPeerBitfield(const std::string& peer, const bt::Bitfield& have) {
  if (have.size() != num_pieces()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bitfield of ", have.size(), " pieces for a torrent of ", num_pieces()));
  }
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= options_.max_peers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("already tracking ", peers_.size(), " peers"));
    }
    it = peers_.emplace(peer, bt::Bitfield()).first;
  } else {
    AdjustAvailability(it->second, -1);
  }
  it->second = have;
  AdjustAvailability(it->second, +1);
  return absl::OkStatus();
}

absl::Status PieceLedger::AddPeerHave(const std::string& peer, uint32_t piece) {
  if (!InRange(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("have for piece ", piece, " out of range (", num_pieces(), " pieces)"));
  }
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= options_.max_peers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("already tracking ", peers_.size(), " peers"));
    }
    it = peers_.emplace(peer, bt::Bitfield(num_pieces())).first;
  }
  if (!it->second.Get(piece)) {
    it->second.Set(piece);
    ++availability_[piece];
  }
  return absl::OkStatus();
}

void PieceLedger::RemovePeer(const std::string& peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  AdjustAvailability(it->second, -1);
  peers_.erase(it);
}

bt::Bitfield PieceLedger::UnionOf(absl::Span<const std::string> peers) const {
  bt::Bitfield out(num_pieces());
  for (const std::string& key : peers) {
    auto it = peers_.find(key);
    if (it == peers_.end()) continue;
    // Cannot fail: every stored bitfield has num_pieces() bits.
    out.UnionWith(it->second).IgnoreError();
  }
  return out;
}

// --- leases -------------------------------------------------------------------------------

Holder* PieceLedger::FindHolder(uint32_t piece, WorkerId worker) {
  if (!InRange(piece)) return nullptr;
  for (Holder& h : holders_[piece]) {
    if (h.worker == worker) return &h;
  }
  return nullptr;
}

void PieceLedger::SetNeeded(uint32_t piece) {
  needed_.Set(piece);
  leased_.erase(piece);
}

void PieceLedger::AddLease(uint32_t piece, WorkerId worker, bool endgame, absl::Time now) {
  if (needed_.Get(piece)) {
    needed_.Clear(piece);
    leased_.insert(piece);
  }
  Holder h;
  h.worker = worker;
  h.deadline = now + options_.lease_ttl;
  h.endgame = endgame;
  holders_[piece].push_back(h);
  by_worker_[worker].insert(piece);
}

void PieceLedger::DropHolder(uint32_t piece, WorkerId worker) {
  std::vector<Holder>& hs = holders_[piece];
  hs.erase(std::remove_if(hs.begin(), hs.end(),
                          [worker](const Holder& h) { return h.worker == worker; }),
           hs.end());
  auto it = by_worker_.find(worker);
  if (it != by_worker_.end()) {
    it->second.erase(piece);
    if (it->second.empty()) by_worker_.erase(it);
  }
  if (hs.empty() && leased_.contains(piece)) SetNeeded(piece);
}

std::vector<LeaseGrant> PieceLedger::Grant(WorkerId worker, absl::Span<const std::string> peers,
                                           uint32_t max_pieces, absl::Time now) {
  std::vector<LeaseGrant> out;
  if (max_pieces == 0 || complete() || worker == 0) return out;
  const bt::Bitfield have = UnionOf(peers);
  GrantNeeded(worker, have, max_pieces, now, &out);
  // Endgame starts only once nothing at all is NEEDED, so duplicates never take a worker's
  // capacity from a piece that no one is fetching yet.
  if (out.size() < max_pieces && needed_.None()) {
    GrantEndgame(worker, have, max_pieces - static_cast<uint32_t>(out.size()), now, &out);
  }
  return out;
}

void PieceLedger::GrantNeeded(WorkerId worker, const bt::Bitfield& have, uint32_t max,
                              absl::Time now, std::vector<LeaseGrant>* out) {
  bt::Bitfield wanted = have;
  // Cannot fail: both have num_pieces() bits.
  wanted.IntersectWith(needed_).IgnoreError();
  // Sort key: availability in the high half, a random number in the low half, so that equal
  // availability falls into random order.
  std::vector<std::pair<uint64_t, uint32_t>> candidates;
  candidates.reserve(wanted.Count());
  for (uint32_t piece = wanted.NextSet(0); piece < wanted.size();
       piece = wanted.NextSet(piece + 1)) {
    const uint64_t key = (uint64_t{availability_[piece]} << 32) | (rng_() & 0xFFFFFFFFu);
    candidates.emplace_back(key, piece);
  }
  const size_t n = std::min<size_t>(max, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end());
  for (size_t i = 0; i < n; ++i) {
    AddLease(candidates[i].second, worker, /*endgame=*/false, now);
    out->push_back({candidates[i].second, false});
  }
}

void PieceLedger::GrantEndgame(WorkerId worker, const bt::Bitfield& have, uint32_t max,
                               absl::Time now, std::vector<LeaseGrant>* out) {
  struct Candidate {
    size_t holders;
    uint32_t availability;
    uint32_t random;
    uint32_t piece;
    bool operator<(const Candidate& o) const {
      return std::tie(holders, availability, random, piece) <
             std::tie(o.holders, o.availability, o.random, o.piece);
    }
  };
  std::vector<Candidate> candidates;
  for (uint32_t piece : leased_) {
    const std::vector<Holder>& hs = holders_[piece];
    if (!have.Get(piece)) continue;
    if (hs.size() >= static_cast<size_t>(std::max(1, options_.max_endgame_holders))) continue;
    bool mine = false;
    for (const Holder& h : hs) mine |= h.worker == worker;
    if (mine) continue;
    candidates.push_back({hs.size(), availability_[piece], static_cast<uint32_t>(rng_()), piece});
  }
  const size_t n = std::min<size_t>(max, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end());
  for (size_t i = 0; i < n; ++i) {
    AddLease(candidates[i].piece, worker, /*endgame=*/true, now);
    out->push_back({candidates[i].piece, true});
  }
}

absl::Status PieceLedger::Renew(WorkerId worker, uint32_t piece, uint64_t bytes_received,
                                absl::Time now) {
  Holder* h = FindHolder(piece, worker);
  if (h == nullptr) {
    return absl::NotFoundError(absl::StrCat("worker ", worker, " holds no lease on piece ", piece));
  }
  if (bytes_received > h->bytes_received) {
    h->bytes_received = bytes_received;
    h->deadline = now + options_.lease_ttl;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WorkerId>> PieceLedger::PieceDone(WorkerId worker, uint32_t piece) {
  if (!InRange(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", piece, " out of range (", num_pieces(), " pieces)"));
  }
  if (FindHolder(piece, worker) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("worker ", worker, " reported piece ", piece,
                                                      " done without holding its lease"));
  }
  std::vector<WorkerId> losers;
  for (const Holder& h : holders_[piece]) {
    if (h.worker != worker) losers.push_back(h.worker);
    auto it = by_worker_.find(h.worker);
    if (it != by_worker_.end()) {
      it->second.erase(piece);
      if (it->second.empty()) by_worker_.erase(it);
    }
  }
  holders_[piece].clear();
  verified_.Set(piece);
  leased_.erase(piece);
  verified_bytes_ += layout_.piece_size(piece);
  return losers;
}

absl::Status PieceLedger::PieceFailed(WorkerId worker, uint32_t piece, FailReason reason) {
  if (FindHolder(piece, worker) == nullptr) {
    return absl::NotFoundError(absl::StrCat("worker ", worker, " holds no lease on piece ", piece));
  }
  if (reason == FailReason::kHashMismatch) ++hash_failures_;
  DropHolder(piece, worker);
  return absl::OkStatus();
}

std::vector<ExpiredLease> PieceLedger::ExpireLeases(absl::Time now) {
  std::vector<ExpiredLease> expired;
  for (uint32_t piece : leased_) {
    for (const Holder& h : holders_[piece]) {
      if (h.deadline <= now) expired.push_back({h.worker, piece});
    }
  }
  // leased_ iterates in hash order; callers and tests want a stable one.
  std::sort(expired.begin(), expired.end(), [](const ExpiredLease& a, const ExpiredLease& b) {
    return std::tie(a.worker, a.piece) < std::tie(b.worker, b.piece);
  });
  for (const ExpiredLease& e : expired) DropHolder(e.piece, e.worker);
  return expired;
}

std::vector<uint32_t> PieceLedger::ReleaseWorker(WorkerId worker) {
  std::vector<uint32_t> pieces = LeasesOf(worker);
  for (uint32_t piece : pieces) DropHolder(piece, worker);
  return pieces;
}

}  // namespace swarm::coordinator
