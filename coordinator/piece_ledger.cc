#include "coordinator/piece_ledger.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace swarm::coordinator {
namespace {

size_t WordCount(uint32_t num_pieces) { return (size_t{num_pieces} + 63) / 64; }

uint64_t Bit(uint32_t piece) { return uint64_t{1} << (63 - piece % 64); }

bool GetBit(const std::vector<uint64_t>& words, uint32_t piece) {
  return (words[piece / 64] & Bit(piece)) != 0;
}

// Calls f(piece) for every set bit of `words`, ascending.
template <typename F>
void ForEachSet(const std::vector<uint64_t>& words, F f) {
  for (size_t w = 0; w < words.size(); ++w) {
    uint64_t bits = words[w];
    while (bits != 0) {
      const int lead = __builtin_clzll(bits);
      f(static_cast<uint32_t>(w * 64 + lead));
      bits &= ~(uint64_t{1} << (63 - lead));
    }
  }
}

// bt::Bitfield keeps its words private; its wire bytes are the same bits in the same order.
std::vector<uint64_t> ToWords(const bt::Bitfield& have) {
  const std::string bytes = have.ToBytes();
  std::vector<uint64_t> words(WordCount(have.size()), 0);
  for (size_t i = 0; i < bytes.size(); ++i) {
    words[i / 8] |= uint64_t{static_cast<uint8_t>(bytes[i])} << (56 - 8 * (i % 8));
  }
  return words;
}

}  // namespace

PieceLedger::PieceLedger(const bt::PieceLayout& layout, Options options)
    : layout_(layout),
      options_(std::move(options)),
      rng_(options_.seed),
      pieces_(layout.num_pieces()),
      needed_words_(WordCount(layout.num_pieces()), 0),
      needed_count_(layout.num_pieces()),
      availability_(layout.num_pieces(), 0) {
  for (uint32_t p = 0; p < layout.num_pieces(); ++p) needed_words_[p / 64] |= Bit(p);
}

PieceState PieceLedger::state(uint32_t piece) const {
  return InRange(piece) ? pieces_[piece].state : PieceState::kNeeded;
}

std::vector<Holder> PieceLedger::holders(uint32_t piece) const {
  return InRange(piece) ? pieces_[piece].holders : std::vector<Holder>();
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

bt::Bitfield PieceLedger::VerifiedBitfield() const {
  bt::Bitfield out(num_pieces());
  for (uint32_t p = 0; p < num_pieces(); ++p) {
    if (pieces_[p].state == PieceState::kVerified) out.Set(p);
  }
  return out;
}

absl::Status PieceLedger::MarkVerified(uint32_t piece) {
  if (!InRange(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", piece, " out of range (", num_pieces(), " pieces)"));
  }
  if (pieces_[piece].state != PieceState::kNeeded) {
    return absl::FailedPreconditionError(absl::StrCat("piece ", piece, " is not needed"));
  }
  pieces_[piece].state = PieceState::kVerified;
  needed_words_[piece / 64] &= ~Bit(piece);
  --needed_count_;
  ++verified_count_;
  verified_bytes_ += layout_.piece_size(piece);
  return absl::OkStatus();
}

// --- availability -------------------------------------------------------------------------

void PieceLedger::AdjustAvailability(const std::vector<uint64_t>& words, int delta) {
  ForEachSet(words, [&](uint32_t p) {
    availability_[p] = static_cast<uint32_t>(static_cast<int64_t>(availability_[p]) + delta);
  });
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
    it = peers_.emplace(peer, std::vector<uint64_t>()).first;
  } else {
    AdjustAvailability(it->second, -1);
  }
  it->second = ToWords(have);
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
    it = peers_.emplace(peer, std::vector<uint64_t>(WordCount(num_pieces()), 0)).first;
  }
  if (!GetBit(it->second, piece)) {
    it->second[piece / 64] |= Bit(piece);
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

std::vector<uint64_t> PieceLedger::UnionOf(absl::Span<const std::string> peers) const {
  std::vector<uint64_t> out(WordCount(num_pieces()), 0);
  for (const std::string& key : peers) {
    auto it = peers_.find(key);
    if (it == peers_.end()) continue;
    for (size_t w = 0; w < out.size(); ++w) out[w] |= it->second[w];
  }
  return out;
}

// --- leases -------------------------------------------------------------------------------

Holder* PieceLedger::FindHolder(uint32_t piece, WorkerId worker) {
  if (!InRange(piece)) return nullptr;
  for (Holder& h : pieces_[piece].holders) {
    if (h.worker == worker) return &h;
  }
  return nullptr;
}

void PieceLedger::SetNeeded(uint32_t piece) {
  pieces_[piece].state = PieceState::kNeeded;
  needed_words_[piece / 64] |= Bit(piece);
  ++needed_count_;
  leased_.erase(piece);
}

void PieceLedger::AddLease(uint32_t piece, WorkerId worker, bool endgame, absl::Time now) {
  Piece& p = pieces_[piece];
  if (p.state == PieceState::kNeeded) {
    needed_words_[piece / 64] &= ~Bit(piece);
    --needed_count_;
    leased_.insert(piece);
  }
  p.state = PieceState::kLeased;
  Holder h;
  h.worker = worker;
  h.deadline = now + options_.lease_ttl;
  h.endgame = endgame;
  p.holders.push_back(h);
  by_worker_[worker].insert(piece);
}

void PieceLedger::DropHolder(uint32_t piece, WorkerId worker) {
  std::vector<Holder>& hs = pieces_[piece].holders;
  hs.erase(std::remove_if(hs.begin(), hs.end(),
                          [worker](const Holder& h) { return h.worker == worker; }),
           hs.end());
  auto it = by_worker_.find(worker);
  if (it != by_worker_.end()) {
    it->second.erase(piece);
    if (it->second.empty()) by_worker_.erase(it);
  }
  if (hs.empty() && pieces_[piece].state == PieceState::kLeased) SetNeeded(piece);
}

std::vector<LeaseGrant> PieceLedger::Grant(WorkerId worker, absl::Span<const std::string> peers,
                                           uint32_t max_pieces, absl::Time now) {
  std::vector<LeaseGrant> out;
  if (max_pieces == 0 || complete() || worker == 0) return out;
  const std::vector<uint64_t> have = UnionOf(peers);
  GrantNeeded(worker, have, max_pieces, now, &out);
  // Endgame starts only once nothing at all is NEEDED, so duplicates never take a worker's
  // capacity from a piece that no one is fetching yet.
  if (out.size() < max_pieces && needed_count_ == 0) {
    GrantEndgame(worker, have, max_pieces - static_cast<uint32_t>(out.size()), now, &out);
  }
  return out;
}

void PieceLedger::GrantNeeded(WorkerId worker, const std::vector<uint64_t>& have, uint32_t max,
                              absl::Time now, std::vector<LeaseGrant>* out) {
  // Sort key: availability in the high half, a random number in the low half, so that equal
  // availability falls into random order.
  std::vector<std::pair<uint64_t, uint32_t>> candidates;
  for (size_t w = 0; w < have.size(); ++w) {
    uint64_t bits = have[w] & needed_words_[w];
    while (bits != 0) {
      const int lead = __builtin_clzll(bits);
      bits &= ~(uint64_t{1} << (63 - lead));
      const uint32_t piece = static_cast<uint32_t>(w * 64 + lead);
      const uint64_t key = (uint64_t{availability_[piece]} << 32) | (rng_() & 0xFFFFFFFFu);
      candidates.emplace_back(key, piece);
    }
  }
  const size_t n = std::min<size_t>(max, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end());
  for (size_t i = 0; i < n; ++i) {
    AddLease(candidates[i].second, worker, /*endgame=*/false, now);
    out->push_back({candidates[i].second, false});
  }
}

void PieceLedger::GrantEndgame(WorkerId worker, const std::vector<uint64_t>& have, uint32_t max,
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
    const Piece& p = pieces_[piece];
    if (!GetBit(have, piece)) continue;
    if (p.holders.size() >= static_cast<size_t>(std::max(1, options_.max_endgame_holders))) {
      continue;
    }
    bool mine = false;
    for (const Holder& h : p.holders) mine |= h.worker == worker;
    if (mine) continue;
    candidates.push_back(
        {p.holders.size(), availability_[piece], static_cast<uint32_t>(rng_()), piece});
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
  for (const Holder& h : pieces_[piece].holders) {
    if (h.worker != worker) losers.push_back(h.worker);
    auto it = by_worker_.find(h.worker);
    if (it != by_worker_.end()) {
      it->second.erase(piece);
      if (it->second.empty()) by_worker_.erase(it);
    }
  }
  Piece& p = pieces_[piece];
  p.holders.clear();
  p.state = PieceState::kVerified;
  leased_.erase(piece);
  ++verified_count_;
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
    for (const Holder& h : pieces_[piece].holders) {
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

// --- bad peers ----------------------------------------------------------------------------

bool PieceLedger::RecordBadPiece(const std::string& peer_addr) {
  const int count = ++bad_pieces_[peer_addr];
  return count == options_.ban_after_bad_pieces;
}

bool PieceLedger::IsBanned(const std::string& peer_addr) const {
  return bad_pieces(peer_addr) >= options_.ban_after_bad_pieces;
}

int PieceLedger::bad_pieces(const std::string& peer_addr) const {
  auto it = bad_pieces_.find(peer_addr);
  return it == bad_pieces_.end() ? 0 : it->second;
}

}  // namespace swarm::coordinator
