#include "coordinator/piece_ledger.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace swarm::coordinator {

namespace {

// A stateless 64-bit mix (splitmix64's finalizer): a random-looking tie-break per piece from
// one draw of the RNG per grant.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

}  // namespace

PieceLedger::PieceLedger(const bt::PieceLayout& layout, Options options)
    : layout_(layout),
      options_(std::move(options)),
      rng_(options_.seed),
      needed_(layout.num_pieces()),
      verified_(layout.num_pieces()),
      rank_(layout.num_pieces()) {
  needed_.SetAll();
  RebuildBuckets();
}

PieceState PieceLedger::state(uint32_t piece) const {
  if (verified_.Get(piece)) return PieceState::kVerified;
  // Out of range reads as NEEDED, as documented.
  if (!InRange(piece) || needed_.Get(piece)) return PieceState::kNeeded;
  return PieceState::kLeased;
}

std::vector<Holder> PieceLedger::holders(uint32_t piece) const {
  auto it = leased_.find(piece);
  if (it == leased_.end()) return {};
  return std::vector<Holder>(it->second.begin(), it->second.end());
}

std::vector<uint32_t> PieceLedger::LeasesOf(WorkerId worker) const {
  std::vector<uint32_t> out;
  auto it = by_worker_.find(worker);
  if (it == by_worker_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status PieceLedger::MarkVerified(uint32_t piece) {
  if (!InRange(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", piece, " out of range (", num_pieces(), " pieces)"));
  }
  if (!needed_.Get(piece)) {
    return absl::FailedPreconditionError(absl::StrCat("piece ", piece, " is not needed"));
  }
  BucketErase(piece);
  needed_.Clear(piece);
  verified_.Set(piece);
  verified_bytes_ += layout_.piece_size(piece);
  return absl::OkStatus();
}

// --- availability -------------------------------------------------------------------------

void PieceLedger::AddLevels(uint32_t level) {
  buckets_.resize(size_t{level} + 1);
  nonempty_.resize(size_t{level} / 64 + 1, 0);
}

void PieceLedger::BucketInsert(uint32_t piece) {
  const uint32_t level = rank_[piece].partial;
  if (level >= buckets_.size()) AddLevels(level);
  std::vector<uint32_t>& bucket = buckets_[level];
  if (bucket.empty()) nonempty_[level / 64] |= uint64_t{1} << (level % 64);
  rank_[piece].pos = static_cast<uint32_t>(bucket.size());
  bucket.push_back(piece);
}

void PieceLedger::BucketErase(uint32_t piece) {
  const Rank r = rank_[piece];
  std::vector<uint32_t>& bucket = buckets_[r.partial];
  const uint32_t last = bucket.back();
  bucket[r.pos] = last;
  rank_[last].pos = r.pos;
  bucket.pop_back();
  if (bucket.empty()) nonempty_[r.partial / 64] &= ~(uint64_t{1} << (r.partial % 64));
}

void PieceLedger::RebuildBuckets() {
  for (std::vector<uint32_t>& bucket : buckets_) bucket.clear();
  // BucketInsert without its bookkeeping of empty buckets, done once at the end.
  needed_.ForEachSet([this](uint32_t p) {
    Rank& r = rank_[p];
    if (r.partial >= buckets_.size()) AddLevels(r.partial);
    std::vector<uint32_t>& bucket = buckets_[r.partial];
    r.pos = static_cast<uint32_t>(bucket.size());
    bucket.push_back(p);
  });
  std::fill(nonempty_.begin(), nonempty_.end(), 0);
  for (size_t level = 0; level < buckets_.size(); ++level) {
    if (!buckets_[level].empty()) nonempty_[level / 64] |= uint64_t{1} << (level % 64);
  }
}

size_t PieceLedger::NextLevel(size_t from) const {
  size_t w = from / 64;
  if (w >= nonempty_.size()) return buckets_.size();
  uint64_t bits = nonempty_[w] & (~uint64_t{0} << (from % 64));
  while (bits == 0) {
    if (++w == nonempty_.size()) return buckets_.size();
    bits = nonempty_[w];
  }
  return w * 64 + static_cast<size_t>(__builtin_ctzll(bits));
}

void PieceLedger::AdjustWord(size_t w, uint64_t up, uint64_t down, bool move) {
  // Only NEEDED pieces are in buckets; the others just count.
  const uint64_t stay = move ? ~needed_.words()[w] : ~uint64_t{0};
  bt::Bitfield::ForEachBit(up & stay, w, [this](uint32_t p) { ++rank_[p].partial; });
  bt::Bitfield::ForEachBit(down & stay, w, [this](uint32_t p) { --rank_[p].partial; });
  bt::Bitfield::ForEachBit(up & ~stay, w, [this](uint32_t p) {
    BucketErase(p);
    ++rank_[p].partial;
    BucketInsert(p);
  });
  bt::Bitfield::ForEachBit(down & ~stay, w, [this](uint32_t p) {
    BucketErase(p);
    --rank_[p].partial;
    BucketInsert(p);
  });
}

void PieceLedger::Recount(absl::Span<const uint64_t> before, absl::Span<const uint64_t> after) {
  const absl::Span<const uint64_t> needed = needed_.words();
  auto word = [](absl::Span<const uint64_t> words, size_t w) {
    return words.empty() ? uint64_t{0} : words[w];
  };
  // A bucket move is a few scattered memory accesses; past about a quarter of the NEEDED
  // pieces moving, counting alone and then sorting every NEEDED piece into its bucket in
  // one pass is cheaper (a new partial peer's bitfield on a huge torrent).
  uint64_t moves = 0;
  for (size_t w = 0; w < needed.size(); ++w) {
    moves += bt::Bitfield::PopCount((word(before, w) ^ word(after, w)) & needed[w]);
  }
  const bool rebuild = moves > 1024 && moves > needed_.Count() / 4;
  for (size_t w = 0; w < needed.size(); ++w) {
    const uint64_t b = word(before, w);
    const uint64_t a = word(after, w);
    if (a != b) AdjustWord(w, a & ~b, b & ~a, /*move=*/!rebuild);
  }
  if (rebuild) RebuildBuckets();
}

void PieceLedger::CountPeer(const bt::Bitfield* before, const bt::Bitfield* after) {
  // A seeder counts in seeds_, so only a peer with some pieces missing counts per piece.
  const bool before_partial = before != nullptr && !before->All();
  const bool after_partial = after != nullptr && !after->All();
  if (before != nullptr && !before_partial) --seeds_;
  if (after != nullptr && !after_partial) ++seeds_;
  if (!before_partial && !after_partial) return;
  Recount(before_partial ? before->words() : absl::Span<const uint64_t>(),
          after_partial ? after->words() : absl::Span<const uint64_t>());
}

absl::Status PieceLedger::SetPeerBitfield(WorkerId worker, const std::string& peer,
                                          const bt::Bitfield& have) {
  if (have.size() != num_pieces()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bitfield of ", have.size(), " pieces for a torrent of ", num_pieces()));
  }
  auto w = peers_.find(worker);
  const bool known = w != peers_.end() && w->second.peers.contains(peer);
  if (!known && num_peers_ >= options_.max_peers) {
    return absl::ResourceExhaustedError(absl::StrCat("already tracking ", num_peers_, " peers"));
  }
  if (w == peers_.end()) {
    w = peers_.emplace(worker, WorkerPeers()).first;
    w->second.any = bt::Bitfield(num_pieces());
  }
  WorkerPeers& mine = w->second;
  auto it = mine.peers.find(peer);
  if (it == mine.peers.end()) {
    CountPeer(nullptr, &have);
    mine.peers.emplace(peer, have);
    ++num_peers_;
  } else {
    CountPeer(&it->second, &have);
    // Bits the peer no longer has may be in the union only because of it.
    if (!it->second.IsSubsetOf(have)) mine.stale = true;
    it->second = have;
  }
  // Cannot fail: both have num_pieces() bits. A stale union is rebuilt from scratch anyway.
  if (!mine.stale && !mine.any.All()) mine.any.UnionWith(have).IgnoreError();
  mine.none_needed = false;
  return absl::OkStatus();
}

absl::Status PieceLedger::AddPeerHave(WorkerId worker, const std::string& peer, uint32_t piece) {
  if (!InRange(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("have for piece ", piece, " out of range (", num_pieces(), " pieces)"));
  }
  auto w = peers_.find(worker);
  bt::Bitfield* found = nullptr;
  if (w != peers_.end()) {
    auto it = w->second.peers.find(peer);
    if (it != w->second.peers.end()) found = &it->second;
  }
  if (found == nullptr) {
    if (num_peers_ >= options_.max_peers) {
      return absl::ResourceExhaustedError(absl::StrCat("already tracking ", num_peers_, " peers"));
    }
    if (w == peers_.end()) {
      w = peers_.emplace(worker, WorkerPeers()).first;
      w->second.any = bt::Bitfield(num_pieces());
    }
    found = &w->second.peers.emplace(peer, bt::Bitfield(num_pieces())).first->second;
    ++num_peers_;
  }
  WorkerPeers& mine = w->second;
  bt::Bitfield& bits = *found;
  // On a huge torrent each of these is a cache miss of its own: let them overlap.
  __builtin_prefetch(&rank_[piece]);
  __builtin_prefetch(&mine.any.words()[piece / 64]);
  __builtin_prefetch(&needed_.words()[piece / 64]);
  if (bits.Get(piece)) return absl::OkStatus();
  bits.Set(piece);
  if (bits.All()) {
    // It just became a seeder: its per-piece counts become one in seeds_ (once per peer, so
    // O(1) per have over the haves that got it there).
    bits.Clear(piece);
    Recount(bits.words(), {});
    bits.Set(piece);
    ++seeds_;
  } else {
    AdjustWord(piece / 64, uint64_t{1} << (63 - piece % 64), 0, /*move=*/true);
  }
  mine.any.Set(piece);
  if (needed_.Get(piece)) mine.none_needed = false;
  return absl::OkStatus();
}

void PieceLedger::RemovePeer(WorkerId worker, const std::string& peer) {
  auto w = peers_.find(worker);
  if (w == peers_.end()) return;
  auto it = w->second.peers.find(peer);
  if (it == w->second.peers.end()) return;
  CountPeer(&it->second, nullptr);
  if (!it->second.None()) w->second.stale = true;
  w->second.peers.erase(it);
  --num_peers_;
  if (w->second.peers.empty()) peers_.erase(w);
}

bool PieceLedger::HasPeer(WorkerId worker, const std::string& peer) const {
  auto w = peers_.find(worker);
  return w != peers_.end() && w->second.peers.contains(peer);
}

void PieceLedger::Rebuild(WorkerPeers& w) {
  w.stale = false;
  for (const auto& [key, bits] : w.peers) {
    if (bits.All()) {
      w.any.SetAll();
      return;
    }
  }
  bool first = true;
  for (const auto& [key, bits] : w.peers) {
    if (first) {
      w.any = bits;  // a copy into the same storage: no pass to clear it first
      first = false;
    } else {
      // Cannot fail: every stored bitfield has num_pieces() bits.
      w.any.UnionWith(bits).IgnoreError();
    }
  }
  // Never so (a worker's entry goes with its last peer), but exact if it were.
  if (first) w.any.ClearAll();
}

// --- leases -------------------------------------------------------------------------------

Holder* PieceLedger::FindHolder(uint32_t piece, WorkerId worker) {
  auto it = leased_.find(piece);
  if (it == leased_.end()) return nullptr;
  for (Holder& h : it->second) {
    if (h.worker == worker) return &h;
  }
  return nullptr;
}

void PieceLedger::SetNeeded(uint32_t piece) {
  needed_.Set(piece);
  BucketInsert(piece);
  ++needed_epoch_;
}

void PieceLedger::AddLease(uint32_t piece, WorkerId worker, bool endgame, absl::Time now) {
  if (needed_.Get(piece)) {
    BucketErase(piece);
    needed_.Clear(piece);
  }
  Holder h;
  h.worker = worker;
  h.deadline = now + options_.lease_ttl;
  h.endgame = endgame;
  leased_[piece].push_back(h);
  by_worker_[worker].insert(piece);
}

void PieceLedger::DropHolder(uint32_t piece, WorkerId worker) {
  auto it = leased_.find(piece);
  if (it == leased_.end()) return;
  Holders& hs = it->second;
  hs.erase(std::remove_if(hs.begin(), hs.end(),
                          [worker](const Holder& h) { return h.worker == worker; }),
           hs.end());
  auto mine = by_worker_.find(worker);
  if (mine != by_worker_.end()) {
    mine->second.erase(piece);
    if (mine->second.empty()) by_worker_.erase(mine);
  }
  if (hs.empty()) {
    leased_.erase(it);
    SetNeeded(piece);
  }
}

std::vector<LeaseGrant> PieceLedger::Grant(WorkerId worker, uint32_t max_pieces, absl::Time now) {
  std::vector<LeaseGrant> out;
  if (max_pieces == 0 || complete() || worker == 0) return out;
  auto w = peers_.find(worker);
  if (w == peers_.end()) return out;  // no peers, nothing they have
  WorkerPeers& mine = w->second;
  if (mine.stale) Rebuild(mine);
  if (!mine.none_needed || mine.none_needed_epoch != needed_epoch_) {
    GrantNeeded(worker, mine.any, max_pieces, now, &out);
    // Short only when none of what its peers have is NEEDED any more.
    mine.none_needed = out.size() < max_pieces;
    mine.none_needed_epoch = needed_epoch_;
  }
  // Endgame starts only once nothing at all is NEEDED, so duplicates never take a worker's
  // capacity from a piece that no one is fetching yet.
  if (out.size() < max_pieces && needed_.None()) {
    GrantEndgame(worker, mine.any, max_pieces - static_cast<uint32_t>(out.size()), now, &out);
  }
  return out;
}

void PieceLedger::GrantNeeded(WorkerId worker, const bt::Bitfield& have, uint32_t max,
                              absl::Time now, std::vector<LeaseGrant>* out) {
  // Pieces looked at that the worker's peers lack, at most, before the walk gives way to a
  // word-at-a-time scan: about what that scan costs.
  const size_t max_misses = std::max<size_t>(256, needed_.words().size() / 8);
  size_t misses = 0;
  uint32_t need = max;
  std::vector<uint32_t> picks;
  // Level 0 holds the pieces only seeders have; with no seeder, no peer has them.
  for (size_t level = NextLevel(seeds_ > 0 ? 0 : 1); need > 0 && level < buckets_.size();
       level = NextLevel(level + 1)) {
    // Leasing a piece erases it from this bucket (never resizes buckets_): `bucket` stays valid.
    std::vector<uint32_t>& bucket = buckets_[level];
    // Random picks first: in the common case (the worker's peers have most of these pieces,
    // as seeders do) each takes one or two tries, and equally rare pieces come in random
    // order. A round draws several at once and prefetches what each will read, so that on a
    // huge torrent their cache misses overlap instead of following one another.
    uint64_t tries = uint64_t{2} * need + 8;
    while (need > 0 && !bucket.empty() && tries > 0) {
      constexpr uint64_t kRound = 16;
      uint32_t drawn[kRound];
      const size_t k = static_cast<size_t>(std::min<uint64_t>({need, tries, kRound}));
      for (size_t i = 0; i < k; ++i) {
        drawn[i] = static_cast<uint32_t>(rng_() % bucket.size());
        __builtin_prefetch(&bucket[drawn[i]]);
      }
      for (size_t i = 0; i < k; ++i) {
        drawn[i] = bucket[drawn[i]];
        __builtin_prefetch(&have.words()[drawn[i] / 64]);
        __builtin_prefetch(&rank_[drawn[i]]);
      }
      for (size_t i = 0; i < k; ++i) {
        const uint32_t piece = drawn[i];
        --tries;
        if (!needed_.Get(piece)) continue;  // drawn twice this round, and leased already
        if (have.Get(piece)) {
          AddLease(piece, worker, /*endgame=*/false, now);
          out->push_back({piece, false});
          --need;
        } else {
          ++misses;
        }
      }
    }
    if (need == 0 || bucket.empty()) continue;
    // Then the whole bucket in its order from a random place, so that a worker whose peers
    // have few of these pieces still finds every one of them.
    const size_t n = bucket.size();
    const size_t start = rng_() % n;
    picks.clear();
    for (size_t i = 0; i < n && picks.size() < need; ++i) {
      const uint32_t piece = bucket[start + i < n ? start + i : start + i - n];
      if (have.Get(piece)) {
        picks.push_back(piece);
      } else if (++misses > max_misses) {
        break;
      }
    }
    for (uint32_t piece : picks) {
      AddLease(piece, worker, /*endgame=*/false, now);
      out->push_back({piece, false});
    }
    need -= static_cast<uint32_t>(picks.size());
    if (misses > max_misses) {
      // The peers have few of the rarest pieces; every rarer bucket was walked to its end.
      if (need > 0) GrantByScan(worker, have, need, now, out);
      return;
    }
  }
}

void PieceLedger::GrantByScan(WorkerId worker, const bt::Bitfield& have, uint32_t max,
                              absl::Time now, std::vector<LeaseGrant>* out) {
  // Key: the piece's rank in the high half, a random tie-break in the low half. `best` is a
  // max-heap of the `max` smallest keys seen.
  std::vector<std::pair<uint64_t, uint32_t>> best;
  best.reserve(std::min<uint32_t>(max, 1024));
  const uint64_t salt = rng_();
  const absl::Span<const uint64_t> needed = needed_.words();
  const absl::Span<const uint64_t> wanted = have.words();
  for (size_t w = 0; w < needed.size(); ++w) {
    bt::Bitfield::ForEachBit(wanted[w] & needed[w], w, [&](uint32_t piece) {
      const uint64_t key = (uint64_t{rank_[piece].partial} << 32) | (Mix(salt ^ piece) >> 32);
      if (best.size() < max) {
        best.emplace_back(key, piece);
        std::push_heap(best.begin(), best.end());
      } else if (key < best.front().first) {
        std::pop_heap(best.begin(), best.end());
        best.back() = {key, piece};
        std::push_heap(best.begin(), best.end());
      }
    });
  }
  std::sort_heap(best.begin(), best.end());
  for (const auto& [key, piece] : best) {
    AddLease(piece, worker, /*endgame=*/false, now);
    out->push_back({piece, false});
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
  for (const auto& [piece, hs] : leased_) {
    if (!have.Get(piece)) continue;
    if (hs.size() >= static_cast<size_t>(std::max(1, options_.max_endgame_holders))) continue;
    bool mine = false;
    for (const Holder& h : hs) mine |= h.worker == worker;
    if (mine) continue;
    candidates.push_back({hs.size(), availability(piece), static_cast<uint32_t>(rng_()), piece});
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
  auto leased = leased_.find(piece);
  std::vector<WorkerId> losers;
  for (const Holder& h : leased->second) {
    if (h.worker != worker) losers.push_back(h.worker);
    auto it = by_worker_.find(h.worker);
    if (it != by_worker_.end()) {
      it->second.erase(piece);
      if (it->second.empty()) by_worker_.erase(it);
    }
  }
  leased_.erase(leased);
  verified_.Set(piece);
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
  for (const auto& [piece, hs] : leased_) {
    for (const Holder& h : hs) {
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
  auto w = peers_.find(worker);
  if (w != peers_.end()) {
    for (const auto& [key, bits] : w->second.peers) CountPeer(&bits, nullptr);
    num_peers_ -= w->second.peers.size();
    peers_.erase(w);
  }
  return pieces;
}

}  // namespace swarm::coordinator
