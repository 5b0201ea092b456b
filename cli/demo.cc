#include "cli/demo.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "bt/metainfo.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/create.h"
#include "cli/job_runner.h"
#include "grpcpp/grpcpp.h"
#include "process/opentracker.h"
#include "process/ports.h"
#include "proto/coordinator.grpc.pb.h"
#include "rpc/auth_token.h"
#include "rpc/submit_job.h"

namespace swarm::cli {
namespace {

constexpr const char* kUsage =
    "usage: swarm-cli demo [--size-mib N] [--keep]\n"
    "Runs a whole swarm on this machine: makes a payload and its torrent, starts a tracker\n"
    "and a swarm seeder, downloads it through a coordinator and workers, checks it.\n\n"
    "  --size-mib N   payload size (default: 64, at most 65536)\n"
    "  --keep         keep the temporary folder (payload, torrent, download, logs)\n"
    "  -h, --help     this text\n";

absl::Status WritePayload(const std::string& path, uint64_t bytes) {
  std::ofstream out(path, std::ios::binary);
  std::mt19937_64 rng(absl::ToUnixNanos(absl::Now()));
  std::string chunk(1 << 20, '\0');
  for (uint64_t done = 0; done < bytes; done += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(&chunk[i], &v, 8);
    }
    out.write(chunk.data(), static_cast<std::streamsize>(std::min<uint64_t>(chunk.size(), bytes - done)));
  }
  return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", path));
}

absl::StatusOr<bool> SameContent(const std::string& a, const std::string& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return absl::NotFoundError("cannot read the files to compare");
  std::string ba(1 << 20, '\0'), bb(1 << 20, '\0');
  while (true) {
    fa.read(ba.data(), ba.size());
    fb.read(bb.data(), bb.size());
    if (fa.gcount() != fb.gcount()) return false;
    if (std::memcmp(ba.data(), bb.data(), fa.gcount()) != 0) return false;
    if (fa.gcount() == 0) return true;
  }
}

// Everything the demo started, stopped in reverse order when it goes out of scope.
struct DemoWorld {
  std::string dir;
  std::unique_ptr<process::Opentracker> tracker;
  std::unique_ptr<EmbeddedCluster> seeder;
  bool keep = false;
  ~DemoWorld() {
    seeder.reset();
    tracker.reset();
    if (!dir.empty() && !keep) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
};

absl::Status StartSeeder(DemoWorld* world, const std::string& torrent) {
  ClusterOptions options;
  options.workers = 1;
  SWARM_ASSIGN_OR_RETURN(world->seeder, EmbeddedCluster::Start(options));
  auto stub = pb::Coordinator::NewStub(grpc::CreateChannel(world->seeder->coordinator_address(),
                                                           grpc::InsecureChannelCredentials()));
  pb::SubmitJobRequest submit;
  submit.set_torrent(torrent);
  submit.set_output_dir(world->dir + "/seed");
  submit.set_mode(pb::SEED);
  submit.set_max_announce_interval_s(2);  // learn of the downloader's workers quickly
  pb::SubmitJobResponse job;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  rpc::AttachAuthToken(world->seeder->auth_token(), &context);
  grpc::Status s = rpc::SubmitJob(*stub, &context, submit, &job);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("seeder: ", s.error_message()));
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  rpc::AttachAuthToken(world->seeder->auth_token(), &watch_context);
  pb::WatchJobRequest watch;
  watch.set_job_id(job.job_id());
  auto stream = stub->WatchJob(&watch_context, watch);
  pb::JobProgress progress;
  while (stream->Read(&progress)) {
    if (progress.state() == pb::SEEDING) {
      watch_context.TryCancel();
      stream->Finish();
      return absl::OkStatus();
    }
    if (progress.state() == pb::FAILED) {
      return absl::InternalError(absl::StrCat("seeder failed: ", progress.error()));
    }
  }
  return absl::UnavailableError("the seeder never started seeding");
}

int Fail(const absl::Status& s) {
  std::cerr << "swarm demo: " << s.message() << "\n";
  return 1;
}

}  // namespace

int RunDemo(int argc, char** argv) {
  uint64_t size_mib = 64;
  DemoWorld world;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--size-mib" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &size_mib) &&
        size_mib >= 1 && size_mib <= 65536) {
      ++i;
    } else if (arg == "--keep") {
      world.keep = true;
    } else if (IsHelpFlag(arg)) {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << kUsage;
      return 64;
    }
  }
  WatchInterrupts();
  std::string tmpl = "/tmp/swarm-demo.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Fail(absl::InternalError("cannot make a temp folder"));
  world.dir = tmpl;
  chmod(world.dir.c_str(), 0755);  // opentracker runs as nobody inside it
  mkdir((world.dir + "/seed").c_str(), 0755);
  std::cerr << "swarm demo: working in " << world.dir << "\n";

  const std::string payload = world.dir + "/seed/payload.bin";
  if (absl::Status s = WritePayload(payload, size_mib << 20); !s.ok()) return Fail(s);
  // The torrent names the tracker, and the tracker's whitelist names the torrent: the HTTP
  // port is chosen first. (Its UDP side, which the torrent does not name, picks its own.)
  auto port = process::PickUnusedPort(SOCK_STREAM);
  if (!port.ok()) return Fail(port.status());
  const std::string announce = absl::StrCat("http://127.0.0.1:", *port, "/announce");
  CreateOptions create;
  create.path = payload;
  create.trackers = {{announce}};
  auto torrent = CreateTorrent(create);
  if (!torrent.ok()) return Fail(torrent.status());
  const std::string torrent_path = world.dir + "/payload.torrent";
  std::ofstream(torrent_path, std::ios::binary) << *torrent;
  const bt::Metainfo metainfo = *bt::ParseMetainfo(*torrent);
  std::cerr << "swarm demo: made " << size_mib << " MiB of data and its torrent (info-hash "
            << bt::ToHex(metainfo.info_hash) << ", " << metainfo.num_pieces() << " pieces)\n";

  // opentracker from Debian runs in whitelist mode: it serves only the hashes listed.
  process::Opentracker::Options tracker_options;
  tracker_options.info_hashes = {std::string(bt::AsBytes(metainfo.info_hash))};
  tracker_options.http_port = *port;
  tracker_options.parent_dir = world.dir;
  tracker_options.keep_dir = world.keep;
  auto tracker = process::Opentracker::Start(tracker_options);
  if (!tracker.ok()) {
    const bool missing = absl::IsFailedPrecondition(tracker.status());
    return Fail(absl::UnavailableError(
        absl::StrCat(tracker.status().message(), missing ? " (run ./bootstrap.sh)" : "")));
  }
  world.tracker = *std::move(tracker);
  std::cerr << "swarm demo: tracker (opentracker) on 127.0.0.1:" << *port << "\n";

  if (absl::Status s = StartSeeder(&world, *torrent); !s.ok()) return Fail(s);
  std::cerr << "swarm demo: a swarm seeder (its own coordinator and worker) is seeding\n"
            << "swarm demo: downloading with swarm-cli download, through tracker_svc, a "
               "coordinator and 2 peer workers:\n";

  JobRunOptions download;
  download.torrent_path = torrent_path;
  download.output_dir = world.dir + "/download";
  download.workers = 2;
  const absl::Time start = absl::Now();
  const int status = RunJob(download);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (status != 0) {
    std::cerr << "swarm demo: the download did not complete (exit status " << status << ")\n";
    return status;
  }
  auto same = SameContent(payload, download.output_dir + "/payload.bin");
  if (!same.ok()) return Fail(same.status());
  if (!*same) return Fail(absl::DataLossError("the downloaded file differs from the original"));
  std::cout << absl::StrFormat(
      "swarm demo: downloaded %d MiB in %.1f s (%.1f MB/s, whole command including start-up) "
      "from 1 swarm seeder with 2 workers; the copy is byte-identical to the original\n",
      size_mib, seconds, (size_mib << 20) / seconds / 1e6);
  if (world.keep) std::cout << "swarm demo: kept " << world.dir << "\n";
  return 0;
}

}  // namespace swarm::cli
