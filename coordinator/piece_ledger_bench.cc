// The coordinator's per-message work on the piece ledger, at a small torrent (10k pieces) and
// a huge one (2^21), with 64 workers: grant + renew + done (a piece's whole life) in a
// seeder swarm and in a swarm of partial peers, a peer's have, a peer's bitfield (a seeder's,
// a partial one, one sent again), and a grant right after a peer left and another came (the
// worker's union of its peers' pieces rebuilt). The ledger must not get slower per operation
// as the torrent grows (issue 9's target: >= 1 M operations per second); a bitfield is a pass
// over its words, so per bitfield it grows with the torrent, per byte it must not.
//
//   bazel run -c opt //coordinator:piece_ledger_bench
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bt/bitfield.h"
#include "bt/piece_layout.h"
#include "coordinator/piece_ledger.h"

namespace swarm::coordinator {
namespace {

constexpr int kWorkers = 64;
constexpr uint32_t kBatch = 16;  // leases per Grant, as a worker asks for them
const absl::Time kNow = absl::FromUnixSeconds(1);

bt::PieceLayout Layout(uint32_t pieces) {
  return *bt::PieceLayout::Create(uint64_t{pieces} * 16384, 16384);
}

bt::Bitfield AllPieces(uint32_t pieces) {
  bt::Bitfield all(pieces);
  all.SetAll();
  return all;
}

// About half the pieces, at random (`pieces` is a multiple of 8 here: no spare bits).
bt::Bitfield RandomHalf(uint32_t pieces, std::mt19937_64& rng) {
  std::string bytes(bt::Bitfield::ByteLength(pieces), '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return *bt::Bitfield::FromBytes(bytes, pieces);
}

WorkerId Worker(int i) { return static_cast<WorkerId>(i + 1); }

std::string PeerKey(int worker, int n) { return absl::StrCat("10.0.", worker, ".", n, ":6881"); }

// A ledger whose every worker has one peer that has every piece (the common swarm).
std::unique_ptr<PieceLedger> SeederLedger(uint32_t pieces) {
  auto ledger = std::make_unique<PieceLedger>(Layout(pieces), PieceLedger::Options());
  const bt::Bitfield all = AllPieces(pieces);
  for (int w = 0; w < kWorkers; ++w) {
    ledger->SetPeerBitfield(Worker(w), PeerKey(w, 1), all).IgnoreError();
  }
  return ledger;
}

// A ledger whose every worker has two peers with about half the pieces each: availability
// spread over many levels, each worker's union about 3/4 of the torrent.
std::unique_ptr<PieceLedger> LeecherLedger(uint32_t pieces) {
  auto ledger = std::make_unique<PieceLedger>(Layout(pieces), PieceLedger::Options());
  std::mt19937_64 rng(42);
  for (int w = 0; w < kWorkers; ++w) {
    for (int n = 1; n <= 2; ++n) {
      ledger->SetPeerBitfield(Worker(w), PeerKey(w, n), RandomHalf(pieces, rng)).IgnoreError();
    }
  }
  return ledger;
}

// Grant (a batch), then Renew and PieceDone for each piece: three ledger calls a piece.
void LeaseRenewDone(benchmark::State& state,
                    std::unique_ptr<PieceLedger> (*make)(uint32_t pieces)) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  std::unique_ptr<PieceLedger> ledger = make(pieces);
  int worker = 0;
  int64_t calls = 0;
  for (auto _ : state) {
    const WorkerId id = Worker(worker);
    std::vector<LeaseGrant> grants = ledger->Grant(id, kBatch, kNow);
    ++calls;
    for (const LeaseGrant& g : grants) {
      ledger->Renew(id, g.piece, 8192, kNow).IgnoreError();
      ledger->PieceDone(id, g.piece).IgnoreError();
      calls += 2;
    }
    worker = (worker + 1) % kWorkers;
    if (ledger->complete()) {
      state.PauseTiming();
      ledger = make(pieces);
      state.ResumeTiming();
    }
  }
  state.counters["ledger_calls/s"] =
      benchmark::Counter(static_cast<double>(calls), benchmark::Counter::kIsRate);
}

void BM_LeaseRenewDone(benchmark::State& state) { LeaseRenewDone(state, SeederLedger); }
BENCHMARK(BM_LeaseRenewDone)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

void BM_LeaseRenewDoneLeechers(benchmark::State& state) { LeaseRenewDone(state, LeecherLedger); }
BENCHMARK(BM_LeaseRenewDoneLeechers)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

// A peer announces a piece (PeerHave): each worker's peer, in turn, a piece it lacks.
void BM_PeerHave(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  auto ledger = std::make_unique<PieceLedger>(Layout(pieces), PieceLedger::Options());
  std::vector<std::string> keys;
  for (int w = 0; w < kWorkers; ++w) keys.push_back(PeerKey(w, 1));
  uint64_t i = 0;
  for (auto _ : state) {
    const int w = static_cast<int>(i % kWorkers);
    const uint32_t piece = static_cast<uint32_t>((i / kWorkers * 7919 + w) % pieces);
    ledger->AddPeerHave(Worker(w), keys[w], piece).IgnoreError();
    // Once the peers have half the pieces, start again (so that haves stay new ones).
    if (++i == uint64_t{pieces} * kWorkers / 2) {
      state.PauseTiming();
      ledger = std::make_unique<PieceLedger>(Layout(pieces), PieceLedger::Options());
      i = 0;
      state.ResumeTiming();
    }
  }
  state.counters["calls/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeerHave)->Arg(10'000)->Arg(1 << 21);

// One peer's haves, stride 7919 round the torrent, never reset (the original benchmark's
// shape: on the small torrent most are repeats once the peer has everything).
void BM_PeerHaveOnePeer(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  PieceLedger ledger(Layout(pieces), PieceLedger::Options());
  uint32_t piece = 0;
  for (auto _ : state) {
    ledger.AddPeerHave(1, "10.0.0.1:6881", piece).IgnoreError();
    piece = (piece + 7919) % pieces;
  }
  state.counters["calls/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeerHaveOnePeer)->Arg(10'000)->Arg(1 << 21);

// The same peer sends the same bitfield again (the shape of the original benchmark).
void BM_PeerBitfieldAgain(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  PieceLedger ledger(Layout(pieces), PieceLedger::Options());
  bt::Bitfield half(pieces);
  for (uint32_t p = 0; p < pieces; p += 2) half.Set(p);
  for (auto _ : state) {
    ledger.SetPeerBitfield(1, "10.0.0.1:6881", half).IgnoreError();
  }
  state.SetBytesProcessed(state.iterations() * int64_t{(pieces + 7) / 8});
}
BENCHMARK(BM_PeerBitfieldAgain)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

// A new peer connects with a bitfield (even iterations), then closes (odd ones: RemovePeer),
// in a swarm where the 64 workers' peers are partial; `bits` is what that peer has.
void BitfieldComesAndGoes(benchmark::State& state, bool seeder) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  std::unique_ptr<PieceLedger> ledger = LeecherLedger(pieces);
  std::mt19937_64 rng(7);
  const bt::Bitfield bits = seeder ? AllPieces(pieces) : RandomHalf(pieces, rng);
  const std::string key = "10.9.9.9:6881";
  bool connected = false;
  for (auto _ : state) {
    if (connected) {
      ledger->RemovePeer(1, key);
    } else {
      ledger->SetPeerBitfield(1, key, bits).IgnoreError();
    }
    connected = !connected;
  }
  state.SetBytesProcessed(state.iterations() * int64_t{(pieces + 7) / 8});
  state.counters["calls/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_SeederBitfieldComesAndGoes(benchmark::State& state) { BitfieldComesAndGoes(state, true); }
BENCHMARK(BM_SeederBitfieldComesAndGoes)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

void BM_PartialBitfieldComesAndGoes(benchmark::State& state) { BitfieldComesAndGoes(state, false); }
BENCHMARK(BM_PartialBitfieldComesAndGoes)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

// Peers come and go: one of a worker's two partial peers closes and a new one reports its
// bitfield (neither timed), then the worker asks for a batch and finishes it (timed): the
// Grant rebuilds the worker's union, which the removal left stale.
void BM_GrantAfterPeerChurn(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  std::unique_ptr<PieceLedger> ledger = LeecherLedger(pieces);
  std::mt19937_64 rng(9);
  std::vector<bt::Bitfield> fresh;
  for (int i = 0; i < 4; ++i) fresh.push_back(RandomHalf(pieces, rng));
  int worker = 0;
  int64_t calls = 0;
  uint64_t round = 0;
  for (auto _ : state) {
    const WorkerId id = Worker(worker);
    ledger->RemovePeer(id, PeerKey(worker, 2));
    ledger->SetPeerBitfield(id, PeerKey(worker, 2), fresh[round % fresh.size()]).IgnoreError();
    const auto start = std::chrono::steady_clock::now();
    std::vector<LeaseGrant> grants = ledger->Grant(id, kBatch, kNow);
    ++calls;
    for (const LeaseGrant& g : grants) {
      ledger->PieceDone(id, g.piece).IgnoreError();
      ++calls;
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (++worker == kWorkers) {
      worker = 0;
      ++round;
    }
    if (ledger->complete()) ledger = LeecherLedger(pieces);  // untimed (manual time)
  }
  state.counters["ledger_calls/s"] =
      benchmark::Counter(static_cast<double>(calls), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GrantAfterPeerChurn)
    ->UseManualTime()
    ->Args({10'000})
    ->Iterations(20'000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GrantAfterPeerChurn)
    ->UseManualTime()
    ->Args({1 << 21})
    ->Iterations(300)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace swarm::coordinator

BENCHMARK_MAIN();
