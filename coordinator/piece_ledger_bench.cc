// The coordinator's per-message work on the piece ledger, at a small torrent (10k pieces) and
// a huge one (2^21), with 64 workers each reporting one seeder: grant + renew + done (a
// piece's whole life), a peer's have, a peer's bitfield. The ledger must not get slower per
// operation as the torrent grows (issue 9's target: >= 1 M operations per second).
//
//   bazel run -c opt //coordinator:piece_ledger_bench
#include <cstdint>
#include <memory>
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

bt::PieceLayout Layout(uint32_t pieces) {
  return *bt::PieceLayout::Create(uint64_t{pieces} * 16384, 16384);
}

// A ledger whose every worker has one peer that has every piece.
std::unique_ptr<PieceLedger> SeededLedger(uint32_t pieces, std::vector<std::string>* peer_keys) {
  auto ledger = std::make_unique<PieceLedger>(Layout(pieces), PieceLedger::Options());
  bt::Bitfield all(pieces);
  all.SetAll();
  peer_keys->clear();
  for (int w = 1; w <= kWorkers; ++w) {
    peer_keys->push_back(absl::StrCat(w, "/10.0.", w, ".1:6881"));
    ledger->SetPeerBitfield(peer_keys->back(), all).IgnoreError();
  }
  return ledger;
}

// Grant (a batch), then Renew and PieceDone for each piece: three ledger calls a piece.
void BM_LeaseRenewDone(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  std::vector<std::string> keys;
  std::unique_ptr<PieceLedger> ledger = SeededLedger(pieces, &keys);
  const absl::Time now = absl::FromUnixSeconds(1);
  int worker = 0;
  int64_t calls = 0;
  for (auto _ : state) {
    const WorkerId id = static_cast<WorkerId>(worker + 1);
    const std::string* peer = &keys[worker];
    std::vector<LeaseGrant> grants = ledger->Grant(id, absl::MakeConstSpan(peer, 1), kBatch, now);
    ++calls;
    for (const LeaseGrant& g : grants) {
      ledger->Renew(id, g.piece, 8192, now).IgnoreError();
      ledger->PieceDone(id, g.piece).IgnoreError();
      calls += 2;
    }
    worker = (worker + 1) % kWorkers;
    if (ledger->complete()) {
      state.PauseTiming();
      ledger = SeededLedger(pieces, &keys);
      state.ResumeTiming();
    }
  }
  state.counters["ledger_calls/s"] = benchmark::Counter(static_cast<double>(calls),
                                                        benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LeaseRenewDone)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

// A peer announces a piece (PeerHave).
void BM_PeerHave(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  PieceLedger ledger(Layout(pieces), PieceLedger::Options());
  uint32_t piece = 0;
  for (auto _ : state) {
    ledger.AddPeerHave("1/10.0.0.1:6881", piece).IgnoreError();
    piece = (piece + 7919) % pieces;
  }
  state.counters["calls/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeerHave)->Arg(10'000)->Arg(1 << 21);

// A peer's whole bitfield (PeerBitfield), replacing the one it sent before.
void BM_PeerBitfield(benchmark::State& state) {
  const uint32_t pieces = static_cast<uint32_t>(state.range(0));
  PieceLedger ledger(Layout(pieces), PieceLedger::Options());
  bt::Bitfield half(pieces);
  for (uint32_t p = 0; p < pieces; p += 2) half.Set(p);
  for (auto _ : state) {
    ledger.SetPeerBitfield("1/10.0.0.1:6881", half).IgnoreError();
  }
  state.SetBytesProcessed(state.iterations() * int64_t{(pieces + 7) / 8});
}
BENCHMARK(BM_PeerBitfield)->Arg(10'000)->Arg(1 << 21)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace swarm::coordinator

BENCHMARK_MAIN();
