// `swarm-cli demo [--size-mib N] [--keep]`: the newcomer's first run. In a temporary folder it
// makes a payload and its torrent, starts a real tracker (opentracker), a swarm seeder (a
// coordinator and a worker of their own) and then downloads the payload through the full
// distributed pipeline (tracker_svc, coordinator, peer workers) with a progress bar, checks
// the result byte for byte, prints what happened and cleans up everything it started.
#ifndef SWARM_CLI_DEMO_H_
#define SWARM_CLI_DEMO_H_

namespace swarm::cli {

int RunDemo(int argc, char** argv);

}  // namespace swarm::cli

#endif  // SWARM_CLI_DEMO_H_
