// SIGINT/SIGTERM handling for the service mains: block them in the calling thread before any
// other thread starts (gRPC's threads inherit the mask), then take them synchronously with
// sigwait: no signal handler, no async-signal-safety concerns.
//
//   const sigset_t stop = swarm::process::BlockStopSignals();
//   ... start the server ...
//   const int sig = swarm::process::WaitForStopSignal(stop);   // blocks
#ifndef SWARM_PROCESS_STOP_SIGNALS_H_
#define SWARM_PROCESS_STOP_SIGNALS_H_

#include <signal.h>

namespace swarm::process {

// Blocks SIGINT and SIGTERM in the calling thread and returns that set.
inline sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits for one of `set` and returns its number.
inline int WaitForStopSignal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace swarm::process

#endif  // SWARM_PROCESS_STOP_SIGNALS_H_
