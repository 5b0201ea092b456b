// The coordinator's name for a connected peer worker: the number it hands out in
// Welcome.worker_id when the worker registers, counted up from 1 and never reused while the
// coordinator runs. Its own header so that the pure classes that key things by worker
// (PieceLedger's lease holders, PeerPool's assignments, AnnounceSchedule's identities) need
// not include one another for a typedef.
//
//   #include "coordinator/worker_id.h"
//   std::map<WorkerId, Lease> by_worker;
//   if (worker == 0) ...   // 0 is never a worker: callers use it for "none" or "all"
#ifndef SWARM_COORDINATOR_WORKER_ID_H_
#define SWARM_COORDINATOR_WORKER_ID_H_

#include <cstdint>

namespace swarm::coordinator {

// Never 0 for a real worker.
using WorkerId = uint64_t;

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_WORKER_ID_H_
