#include "cli/job_runner.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bt/magnet.h"
#include "bt/metainfo.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/output_writer.h"
#include "cli/progress_display.h"
#include "cli/read_file.h"
#include "cli/save_torrent.h"
#include "cli/terminal_text.h"
#include "grpcpp/grpcpp.h"
#include "process/stop_signals.h"
#include "proto/coordinator.grpc.pb.h"
#include "rpc/auth_token.h"
#include "rpc/submit_job.h"
#include "rpc/token_source.h"

namespace swarm::cli {
namespace {

// How long a download waits for a coordinator it lost (a restart, a network cut) to come back.
constexpr absl::Duration kCoordinatorWait = absl::Minutes(10);

// mkdir -p, then the absolute path (the coordinator and workers may run elsewhere).
absl::StatusOr<std::string> PrepareOutputDir(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      const std::string partial = dir.substr(0, i);
      if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::PermissionDeniedError(
            absl::StrCat("cannot create ", partial, ": ", std::strerror(errno)));
      }
    }
  }
  char resolved[PATH_MAX];
  if (realpath(dir.c_str(), resolved) == nullptr) {
    return absl::NotFoundError(absl::StrCat(dir, ": ", std::strerror(errno)));
  }
  return std::string(resolved);
}

// `dir` made absolute against the working folder (the coordinator runs elsewhere).
absl::StatusOr<std::string> AbsolutePath(const std::string& dir) {
  if (!dir.empty() && dir[0] == '/') return dir;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("no working folder: ", std::strerror(errno)));
  }
  return absl::StrCat(cwd, "/", dir);
}

// Ctrl+C and SIGTERM are taken by one thread with sigwait, which cancels the watch stream;
// the main thread then stops the job and the cluster in order.
class InterruptWatcher {
 public:
  InterruptWatcher() {
    const sigset_t set = process::BlockStopSignals();
    std::thread([this, set] {
      process::WaitForStopSignal(set);
      interrupted_ = true;
      absl::MutexLock lock(&mu_);
      if (context_) context_->TryCancel();
    }).detach();
  }
  void Watch(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    context_ = context;
    if (interrupted_ && context_ != nullptr) context_->TryCancel();
  }
  bool interrupted() const { return interrupted_; }

 private:
  std::atomic<bool> interrupted_{false};
  absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

std::string Mb(uint64_t bytes) { return absl::StrFormat("%.1f MB", bytes / 1e6); }

bool Terminal(pb::JobState s) { return s == pb::COMPLETE || s == pb::FAILED || s == pb::CANCELLED; }

InterruptWatcher* Interrupts() {
  static InterruptWatcher* const watcher = new InterruptWatcher();
  return watcher;
}

}  // namespace

void WatchInterrupts() { Interrupts(); }

bool ParseCommonJobFlag(int argc, char** argv, int* i, JobRunOptions* options,
                        std::string* error) {
  const std::string arg = argv[*i];
  auto value = [&](const std::string& flag) { return FlagValue(argc, argv, i, flag); };
  if (const char* v = value("--workers"); v) {
    if (!absl::SimpleAtoi(v, &options->workers) || options->workers < 1 || options->workers > 64) {
      *error = "--workers wants a number from 1 to 64";
    }
  } else if (const char* v = value("--coordinator"); v) {
    options->coordinator = v;
  } else if (const char* v = value("--auth-token-file"); v) {
    options->auth_token_file = v;
  } else if (arg == "--auth-token" || absl::StartsWith(arg, "--auth-token=")) {
    *error =
        "--auth-token is gone: every local user can read a command line. Put the token in a "
        "file of mode 0600 and give --auth-token-file FILE, or set SWARM_AUTH_TOKEN";
  } else if (const char* v = value("--tls-ca"); v) {
    options->tls.ca = v;
  } else if (const char* v = value("--tls-cert"); v) {
    options->tls.cert = v;
  } else if (const char* v = value("--tls-key"); v) {
    options->tls.key = v;
  } else if (const char* v = value("--tls-server-name"); v) {
    options->tls.server_name = v;
  } else if (const char* v = value("--bind-ip"); v) {
    for (absl::string_view ip : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      options->bind_ips.emplace_back(ip);
    }
  } else if (const char* v = value("--announce-interval"); v) {
    if (!absl::SimpleAtoi(v, &options->max_announce_interval_s)) {
      *error = "--announce-interval wants seconds";
    }
  } else if (const char* v = value("--state-dir"); v) {
    options->state_dir = v;
  } else if (const char* v = value("--save-torrent"); v) {
    options->save_torrent = v;
  } else if (arg == "--recheck") {
    options->recheck = true;
  } else if (arg == "--overwrite") {
    options->overwrite = true;
  } else if (arg == "--verbose" || arg == "-v") {
    options->verbose = true;
  } else {
    return false;
  }
  return true;
}

int RunJob(const JobRunOptions& args) {
  // Signals are blocked before any thread or child exists, so every thread inherits that.
  InterruptWatcher* const interrupts = Interrupts();

  pb::SubmitJobRequest submit;
  std::string name;  // as far as it is known: a magnet link may not say
  if (bt::IsMagnet(args.torrent_path)) {
    absl::StatusOr<bt::MagnetLink> link = bt::ParseMagnet(args.torrent_path);
    if (!link.ok()) {
      std::cerr << "swarm-cli: " << TerminalSafe(std::string(link.status().message())) << "\n";
      return 2;
    }
    if (args.mode == pb::SEED) {
      std::cerr << "swarm-cli: seeding needs the .torrent, not a magnet link\n";
      return 2;
    }
    submit.set_magnet(args.torrent_path);
    name = link->name;
  } else {
    absl::StatusOr<std::string> torrent =
        ReadFileCapped(args.torrent_path, bt::MetainfoLimits().max_file_bytes);
    if (!torrent.ok()) {
      std::cerr << "swarm-cli: " << torrent.status().message() << "\n";
      return 2;
    }
    absl::StatusOr<bt::Metainfo> metainfo = bt::ParseMetainfo(*torrent);
    if (!metainfo.ok()) {
      std::cerr << "swarm-cli: " << args.torrent_path << ": " << metainfo.status().message()
                << "\n";
      return 2;
    }
    name = metainfo->name;
    submit.set_torrent(*std::move(torrent));
  }
  absl::StatusOr<std::string> output_dir = PrepareOutputDir(args.output_dir);
  if (!output_dir.ok()) {
    std::cerr << "swarm-cli: " << output_dir.status().message() << "\n";
    return 1;
  }

  std::unique_ptr<EmbeddedCluster> cluster;
  int own_workers = 0;  // workers in our own cluster
  std::string address = args.coordinator;
  std::string token;
  rpc::TlsConfig tls;  // our own cluster talks plaintext on loopback
  if (!address.empty()) {
    absl::StatusOr<std::string> loaded = rpc::LoadAuthToken(args.auth_token_file);
    if (!loaded.ok()) {
      std::cerr << "swarm-cli: " << loaded.status().message() << "\n";
      return 1;
    }
    token = *std::move(loaded);
    absl::StatusOr<rpc::TlsConfig> loaded_tls = rpc::LoadTls(args.tls);
    if (!loaded_tls.ok()) {
      std::cerr << "swarm-cli: " << loaded_tls.status().message() << "\n";
      return 1;
    }
    tls = *std::move(loaded_tls);
  } else {
    ClusterOptions options;
    options.workers = args.workers > 0 ? args.workers : DefaultWorkerCount();
    own_workers = options.workers;
    options.worker_bind_ips = args.bind_ips;
    options.verbose = args.verbose;
    absl::StatusOr<std::string> state_dir =
        args.state_dir.empty() ? DefaultStateDir() : AbsolutePath(args.state_dir);
    if (!state_dir.ok()) {
      // Not fatal: without records a resume checks the data instead of trusting them.
      std::cerr << "swarm-cli: no resume records: " << state_dir.status().message() << "\n";
    } else {
      options.state_dir = *state_dir;
    }
    auto started = EmbeddedCluster::Start(options);
    if (!started.ok()) {
      std::cerr << "swarm-cli: " << started.status().message() << "\n";
      return 1;
    }
    cluster = *std::move(started);
    address = cluster->coordinator_address();
    token = cluster->auth_token();
  }

  // Workers elsewhere that cannot see the output folder stream their pieces to a writer
  // here (our own cluster's workers all see it).
  std::unique_ptr<process::Subprocess> writer;
  if (cluster == nullptr && args.mode != pb::SEED) {
    absl::StatusOr<std::unique_ptr<process::Subprocess>> started =
        StartOutputWriter(address, token, args.tls, args.verbose);
    if (started.ok()) {
      writer = *std::move(started);
    } else {
      // Not fatal: workers that see the folder need no writer.
      std::cerr << "swarm-cli: no writer beside the output folder (" << started.status().message()
                << "); workers that cannot see it will not take part\n";
    }
  }

  // gRPC waits up to 2 minutes between reconnects by default: a coordinator that restarts
  // would be found that late. Every second at most.
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = rpc::MakeChannel(address, tls, channel_args);
  auto stub = pb::Coordinator::NewStub(channel);
  const absl::Time started_at = absl::Now();

  submit.set_output_dir(*output_dir);
  submit.set_mode(args.mode);
  submit.set_max_announce_interval_s(args.max_announce_interval_s);
  submit.set_recheck(args.recheck);
  submit.set_overwrite(args.overwrite);
  pb::SubmitJobResponse job;
  {
    grpc::ClientContext context;
    rpc::AttachAuthToken(token, &context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context.set_wait_for_ready(true);
    const grpc::Status s = rpc::SubmitJob(*stub, &context, submit, &job);
    if (!s.ok()) {
      std::cerr << "swarm-cli: the coordinator at " << address
                << " refused the job: " << TerminalSafe(s.error_message()) << "\n";
      return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? 2 : 1;
    }
  }
  ProgressDisplay display(isatty(STDERR_FILENO));
  const bool magnet = !submit.magnet().empty();
  if (magnet) {
    std::cerr << "swarm: magnet link " << job.job_id() << (name.empty() ? "" : " (")
              << TerminalSafe(name) << (name.empty() ? "" : ")")
              << ": fetching its metadata from peers -> " << *output_dir << "\n";
  } else {
    std::cerr << "swarm: " << TerminalSafe(job.name()) << " (" << Mb(job.total_bytes()) << ", "
              << job.num_pieces() << " pieces) " << (args.mode == pb::SEED ? "from " : "-> ")
              << *output_dir << "/" << TerminalSafe(name) << "\n";
  }
  bool torrent_known = !magnet;
  bool torrent_saved = false;
  auto save_torrent = [&] {
    if (args.save_torrent.empty() || torrent_saved) return;
    torrent_saved = true;
    const absl::Status saved = SaveTorrent(*stub, token, job.job_id(), args.save_torrent);
    display.Finish();
    if (saved.ok()) {
      std::cerr << "swarm: wrote the torrent to " << args.save_torrent << "\n";
    } else {
      std::cerr << "swarm-cli: cannot write the torrent: "
                << TerminalSafe(std::string(saved.message())) << "\n";
    }
  };

  pb::JobProgress last;
  bool reached_seeding = false;
  bool checked = false;
  absl::flat_hash_set<std::string> refusals_shown;
  bool all_refused = false;
  // Set while the coordinator is away: when it went.
  std::optional<absl::Time> lost_since;
  for (;;) {
    grpc::ClientContext context;
    rpc::AttachAuthToken(token, &context);
    interrupts->Watch(&context);
    pb::WatchJobRequest watch;
    watch.set_job_id(job.job_id());
    auto stream = stub->WatchJob(&context, watch);
    pb::JobProgress progress;
    while (stream->Read(&progress)) {
      last = progress;
      if (!torrent_known && progress.state() != pb::FETCHING_METADATA &&
          progress.num_pieces() > 0) {
        torrent_known = true;
        job.set_name(progress.name());
        job.set_total_bytes(progress.total_bytes());
        job.set_num_pieces(progress.num_pieces());
        display.Finish();
        std::cerr << "swarm: metadata found: " << TerminalSafe(job.name()) << " ("
                  << Mb(job.total_bytes()) << ", " << job.num_pieces() << " pieces) -> "
                  << *output_dir << "/" << TerminalSafe(job.name()) << "\n";
      }
      if (torrent_known) save_torrent();
      const bool past_check = progress.state() != pb::CHECKING &&
                              progress.state() != pb::FETCHING_METADATA &&
                              progress.state() != pb::JOB_STATE_UNSPECIFIED;
      if (lost_since.has_value() && past_check) {
        lost_since.reset();
        display.Finish();
        std::cerr << "swarm: the coordinator is back: " << progress.verified_pieces() << " of "
                  << progress.num_pieces() << " pieces verified\n";
      }
      if (!checked && past_check) {
        // The coordinator re-hashed what was already in the output folder.
        checked = true;
        if (progress.verified_pieces() > 0 && args.mode != pb::SEED) {
          display.Finish();
          std::cerr << "swarm: resuming: " << progress.verified_pieces() << " of "
                    << progress.num_pieces() << " pieces already verified on disk\n";
        }
      }
      if (progress.state() == pb::SEEDING && !reached_seeding) {
        reached_seeding = true;
        display.Finish();
        std::cerr << "swarm: all " << progress.num_pieces()
                  << " pieces verified; seeding until Ctrl+C\n";
      }
      for (const pb::RefusedWorker& r : progress.refused_workers()) {
        // Once per worker and reason: a worker that cannot take part is news, not a state.
        if (refusals_shown.insert(absl::StrCat(r.name(), "\n", r.reason())).second) {
          display.Finish();
          std::cerr << "swarm: worker " << TerminalSafe(r.name())
                    << " cannot take part: " << TerminalSafe(r.reason()) << "\n";
        }
      }
      // No other worker ever joins our own cluster: when all of ours refused, waiting would
      // be a hang.
      if (cluster != nullptr && !Terminal(progress.state()) && progress.workers() == 0 &&
          progress.refused_workers_size() >= own_workers) {
        all_refused = true;
        break;
      }
      display.Update(progress);
      if (Terminal(progress.state())) break;
    }
    context.TryCancel();
    stream->Finish();
    interrupts->Watch(nullptr);
    // Our own cluster does not come back; a coordinator elsewhere may (restarted, or the
    // network healed): wait for it, then submit again, which re-attaches to the job it took
    // up from its state folder (or makes it anew, resuming from the data on disk).
    if (Terminal(last.state()) || interrupts->interrupted() || cluster != nullptr) break;
    const absl::Time now = absl::Now();
    if (!lost_since.has_value()) {
      lost_since = now;
      display.Finish();
      std::cerr << "swarm: lost the coordinator at " << address
                << "; waiting for it to come back (Ctrl+C to stop)\n";
    }
    if (now - *lost_since > kCoordinatorWait) break;
    grpc::ClientContext again;
    rpc::AttachAuthToken(token, &again);
    again.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    again.set_wait_for_ready(true);
    interrupts->Watch(&again);
    pb::SubmitJobResponse resubmitted;
    const grpc::Status s = rpc::SubmitJob(*stub, &again, submit, &resubmitted);
    interrupts->Watch(nullptr);
    if (!s.ok() && s.error_code() != grpc::StatusCode::UNAVAILABLE &&
        s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
        s.error_code() != grpc::StatusCode::CANCELLED) {
      std::cerr << "swarm-cli: the coordinator at " << address
                << " refused the job when it came back: " << TerminalSafe(s.error_message())
                << "\n";
      break;
    }
    if (!s.ok() && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      absl::SleepFor(absl::Milliseconds(500));  // refused at once: do not spin
    }
  }
  display.Finish();

  if ((interrupts->interrupted() || all_refused) && !Terminal(last.state())) {
    grpc::ClientContext context;
    rpc::AttachAuthToken(token, &context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::CancelJobRequest cancel;
    cancel.set_job_id(job.job_id());
    pb::CancelJobResponse ignored;
    stub->CancelJob(&context, cancel, &ignored);
    // Our connection closed first: a coordinator shutting down waits for open ones.
    stub.reset();
    channel.reset();
    if (cluster) cluster->Stop();
    if (all_refused) {
      std::cerr << "swarm: the job cannot go on: none of the " << own_workers
                << " workers can take part (see why above)\n";
      return 1;
    }
    if (reached_seeding) {
      std::cerr << "swarm: stopped seeding after uploading " << Mb(last.uploaded_bytes()) << "\n";
      return 0;
    }
    std::cerr << "swarm: interrupted with " << last.verified_pieces() << " of " << job.num_pieces()
              << " pieces verified; run the same command again to resume\n";
    return 130;
  }
  stub.reset();
  channel.reset();
  if (cluster) cluster->Stop();

  switch (last.state()) {
    case pb::COMPLETE: {
      const double seconds = std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - started_at));
      std::cerr << absl::StrFormat("swarm: complete: %s in %.1f s (%.1f MB/s)\n",
                                   Mb(job.total_bytes()), seconds, job.total_bytes() / seconds / 1e6);
      return 0;
    }
    case pb::FAILED:
      std::cerr << "swarm: the job failed: " << TerminalSafe(last.error()) << "\n";
      return 1;
    case pb::CANCELLED:
      std::cerr << "swarm: the job was cancelled on the coordinator\n";
      return reached_seeding ? 0 : 1;
    default:
      std::cerr << "swarm: lost the coordinator at " << address << " before the job ended\n";
      return 1;
  }
}

}  // namespace swarm::cli
