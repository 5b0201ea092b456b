#include "tests/e2e/swarm_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/testing/files.h"
#include "bt/bencode.h"
#include "bt/metainfo.h"
#include "bt/tracker/http_response.h"

namespace swarm::testing {
namespace {

absl::Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::string partial = path.substr(0, i);
      if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::InternalError(absl::StrCat("mkdir ", partial, ": ", std::strerror(errno)));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One HTTP GET; returns the body.
absl::StatusOr<std::string> HttpGet(const std::string& ip, int port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(std::strerror(errno));
  }
  const std::string request = absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: ", ip, "\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("short write");
  }
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::UnavailableError("no HTTP body");
  return response.substr(body + 4);
}

}  // namespace

SwarmEnv::SwarmEnv() {
  root_ = MakeTempDir("swarm_e2e");
  chmod(root_.c_str(), 0755);  // opentracker drops to nobody and must read its folder
  seed_dir_ = root_ + "/seed";
  download_dir_ = root_ + "/download";
  MakeDirs(seed_dir_).IgnoreError();
  MakeDirs(download_dir_).IgnoreError();
}

SwarmEnv::~SwarmEnv() {
  for (Leecher& l : leechers_) l.client.process->Stop(absl::Seconds(3));
  for (auto& s : swarm_seeders_) s->Stop(absl::Seconds(10));
  hostile_peers_.clear();
  for (Seeder& s : seeders_) s.process->Stop(absl::Seconds(3));
}

absl::Status SwarmEnv::AddSwarmSeeder(int workers) {
  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  SWARM_ASSIGN_OR_RETURN(
      auto seeder,
      process::Subprocess::Start({SwarmCli(), "seed", torrent_path_, seed_dir_,
                                  absl::StrCat("--workers=", workers), "--announce-interval=1"},
                                 options));
  auto line = seeder->ReadLineMatching("seeding until Ctrl+C", absl::Seconds(60));
  if (!line.ok()) {
    return absl::UnavailableError(absl::StrCat("swarm seeder: ", line.status().message(), "\n",
                                               seeder->output()));
  }
  seeder->DrainStdout();
  swarm_seeders_.push_back(std::move(seeder));
  return WaitForSeeders();
}

absl::StatusOr<std::vector<std::pair<std::string, int>>> SwarmEnv::TrackerPeers() {
  const std::string raw = absl::HexStringToBytes(info_hash_hex_);
  std::string escaped;
  for (unsigned char c : raw) absl::StrAppend(&escaped, "%", absl::Hex(c, absl::kZeroPad2));
  SWARM_ASSIGN_OR_RETURN(std::string body, TrackerGet("/announce?info_hash=" + escaped +
                                                      "&peer_id=-PROBE-0000000000000&port=9&left=1"
                                                      "&compact=1&numwant=50"));
  SWARM_ASSIGN_OR_RETURN(bt::tracker::AnnounceReply reply, bt::tracker::ParseAnnounceResponse(body));
  std::vector<std::pair<std::string, int>> peers;
  for (const auto& p : reply.peers) {
    if (p.endpoint.port() != 9) peers.emplace_back(p.endpoint.ip().ToString(), p.endpoint.port());
  }
  return peers;
}

absl::StatusOr<int> SwarmEnv::AddLeecher(SeederKind kind, const std::string& source) {
  Leecher leecher;
  leecher.kind = kind;
  const int n = static_cast<int>(leechers_.size());
  leecher.dir = absl::StrCat(root_, "/leecher", n);
  leecher.work_dir = absl::StrCat(root_, "/leecher", n, "-state");
  SWARM_RETURN_IF_ERROR(MakeDirs(leecher.dir));
  SWARM_RETURN_IF_ERROR(MakeDirs(leecher.work_dir));
  SeederOptions o;
  o.torrent = source.empty() ? torrent_path_ : source;
  o.data_dir = leecher.dir;
  o.ip = NextLoopbackIp();
  o.work_dir = leecher.work_dir;
  SWARM_ASSIGN_OR_RETURN(leecher.client, kind == SeederKind::kAria2 ? StartAria2Leecher(o)
                                         : kind == SeederKind::kTransmission
                                             ? StartTransmissionLeecher(o)
                                             : StartLibtorrentLeecher(o));
  leechers_.push_back(std::move(leecher));
  return n;
}

absl::Status SwarmEnv::WaitForLeecher(int index, absl::Duration timeout) {
  Leecher& l = leechers_.at(index);
  const absl::Time deadline = absl::Now() + timeout;
  if (l.kind != SeederKind::kTransmission) {
    const char* name = l.kind == SeederKind::kAria2 ? "aria2c" : "libtorrent";
    std::optional<int> status = l.client.process->Wait(timeout);
    if (!status) return absl::DeadlineExceededError(absl::StrCat(name, " did not finish"));
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      return absl::InternalError(absl::StrCat(name, " exited with status ", *status));
    }
  } else {
    // transmission-cli runs its finish script on completion; nothing else tells us.
    struct stat st;
    while (stat((l.work_dir + "/transmission-done").c_str(), &st) != 0) {
      if (!l.client.process->running()) return absl::InternalError("transmission-cli exited");
      if (absl::Now() > deadline) return absl::DeadlineExceededError("transmission did not finish");
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  // transmission does not create zero-length files.
  return CheckDownloadIn(l.dir, /*allow_missing_empty=*/l.kind == SeederKind::kTransmission);
}

std::string SwarmEnv::SwarmCli() { return "cli/swarm-cli"; }

std::string SwarmEnv::SwarmCliAbsolute() {
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof(cwd)) ? cwd : ".") + "/" + SwarmCli();
}

std::string SwarmEnv::tracker_url() const { return tracker_->http_announce_url(); }

absl::Status SwarmEnv::MakePayload(const std::vector<std::pair<std::string, uint64_t>>& files,
                                   bool multi_file, const std::string& multi_name) {
  content_name_ = multi_file ? multi_name : files.at(0).first;
  for (const auto& [name, size] : files) {
    const std::string rel = multi_file ? absl::StrCat(multi_name, "/", name) : name;
    const std::string path = absl::StrCat(seed_dir_, "/", rel);
    SWARM_RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
    std::mt19937_64 rng(std::hash<std::string>()(name));
    std::string data(size, '\0');
    for (size_t i = 0; i + 8 <= data.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(&data[i], &v, 8);
    }
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
    relative_files_.push_back(rel);
  }
  return absl::OkStatus();
}

absl::Status SwarmEnv::MakeTorrentAndTracker(int piece_length_log2, TorrentMaker maker,
                                             NetHost* host) {
  // The info-hash does not depend on the announce URL, and the tracker's whitelist needs the
  // info-hash: make the torrent with a placeholder URL, start the tracker, then point the
  // torrent at it (mktorrent writes canonical bencode, so re-encoding keeps the info bytes).
  const std::string draft = root_ + "/draft.torrent";
  process::SubprocessOptions options;
  options.capture_stdout = false;
  options.quiet_stdout = true;
  options.cwd = seed_dir_;
  const std::vector<std::string> argv =
      maker == TorrentMaker::kMktorrent
          ? std::vector<std::string>{"mktorrent", "-l", absl::StrCat(piece_length_log2), "-a",
                                     "http://placeholder/announce", "-o", draft, content_name_}
          : std::vector<std::string>{SwarmCliAbsolute(), "create", content_name_, "-t",
                                     "http://placeholder/announce", "--piece-length",
                                     absl::StrCat(1 << piece_length_log2), "-o", draft};
  SWARM_ASSIGN_OR_RETURN(auto mk, process::Subprocess::Start(argv, options));
  std::optional<int> status = mk->Wait(absl::Seconds(60));
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed"));
  }
  SWARM_ASSIGN_OR_RETURN(std::string bytes, ReadAll(draft));
  SWARM_ASSIGN_OR_RETURN(bt::Metainfo m, bt::ParseMetainfo(bytes));
  info_hash_hex_ = bt::ToHex(m.info_hash);

  process::Opentracker::Options tracker_options;
  tracker_options.info_hashes = {std::string(bt::AsBytes(m.info_hash))};
  tracker_host_ = host;
  SWARM_RETURN_IF_ERROR(OnHost(host, [&]() -> absl::Status {
    if (host != nullptr) tracker_options.ip = host->ip();
    SWARM_ASSIGN_OR_RETURN(tracker_, process::Opentracker::Start(tracker_options));
    return absl::OkStatus();
  }));

  torrent_path_ = draft;
  SWARM_ASSIGN_OR_RETURN(torrent_path_, WriteTorrentAnnouncing(tracker_url()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SwarmEnv::WriteTorrentAnnouncing(const std::string& announce_url) {
  SWARM_ASSIGN_OR_RETURN(std::string bytes, ReadAll(torrent_path_));
  SWARM_ASSIGN_OR_RETURN(bt::BDocument doc, bt::BDocument::Parse(bytes));
  bt::BValue torrent = bt::BValue::From(doc.root());
  std::get<bt::BValue::Dict>(torrent.value)["announce"] = announce_url;
  const std::string final_bytes = bt::Encode(torrent);
  SWARM_ASSIGN_OR_RETURN(bt::Metainfo check, bt::ParseMetainfo(final_bytes));
  if (bt::ToHex(check.info_hash) != info_hash_hex_) {
    return absl::InternalError("re-encoding changed the info-hash");
  }
  // One file per announce URL, so earlier paths stay valid.
  const std::string path = absl::StrCat(
      root_, "/test", written_torrents_++ == 0 ? "" : absl::StrCat(written_torrents_), ".torrent");
  std::ofstream(path, std::ios::binary) << final_bytes;
  return path;
}

void SwarmEnv::StopSeeders() {
  for (Seeder& s : seeders_) s.process->Stop(absl::Seconds(3));
  seeders_.clear();
}

std::vector<std::pair<std::string, int>> SwarmEnv::SeederAddresses() const {
  std::vector<std::pair<std::string, int>> addresses;
  for (const Seeder& s : seeders_) addresses.emplace_back(s.ip, s.port);
  return addresses;
}

absl::StatusOr<HostilePeer*> SwarmEnv::AddHostilePeer(Misbehaviour misbehaviour, bool announce) {
  HostilePeerOptions options;
  options.torrent = torrent_path_;
  options.content_dir = seed_dir_;
  options.ip = NextLoopbackIp();
  options.misbehaviour = misbehaviour;
  SWARM_ASSIGN_OR_RETURN(auto peer, HostilePeer::Start(options));
  if (announce) {
    SWARM_RETURN_IF_ERROR(OnHost(
        tracker_host_, [&] { return peer->Announce(tracker_->ip(), tracker_->http_port()); }));
  }
  hostile_peers_.push_back(std::move(peer));
  return hostile_peers_.back().get();
}

absl::Status SwarmEnv::AddSeeder(SeederKind kind, uint64_t max_upload_bytes_per_s, NetHost* host) {
  SeederOptions o;
  o.torrent = torrent_path_;
  o.data_dir = seed_dir_;
  o.ip = NextLoopbackIp();
  if (host != nullptr) o.ip = host->ip();
  o.max_upload_bytes_per_s = max_upload_bytes_per_s;
  o.work_dir = absl::StrCat(root_, "/seeder", next_ip_);
  SWARM_RETURN_IF_ERROR(MakeDirs(o.work_dir));
  return OnHost(host, [&]() -> absl::Status {
    SWARM_ASSIGN_OR_RETURN(Seeder seeder, kind == SeederKind::kAria2 ? StartAria2Seeder(o)
                                          : kind == SeederKind::kTransmission
                                              ? StartTransmissionSeeder(o)
                                              : StartLibtorrentSeeder(o));
    seeders_.push_back(std::move(seeder));
    return absl::OkStatus();
  });
}

absl::Status SwarmEnv::OnHost(NetHost* host, const std::function<absl::Status()>& fn) {
  return host != nullptr ? host->Run(fn) : fn();
}

absl::StatusOr<std::string> SwarmEnv::TrackerGet(const std::string& target) {
  absl::StatusOr<std::string> body = absl::UnknownError("no tracker");
  OnHost(tracker_host_, [&] {
    body = HttpGet(tracker_->ip(), tracker_->http_port(), target);
    return absl::OkStatus();
  }).IgnoreError();
  return body;
}

absl::Status SwarmEnv::WaitForSeeders(absl::Duration timeout) {
  const std::string raw = absl::HexStringToBytes(info_hash_hex_);
  std::string escaped;
  for (unsigned char c : raw) absl::StrAppend(&escaped, "%", absl::Hex(c, absl::kZeroPad2));
  const absl::Time deadline = absl::Now() + timeout;
  int64_t complete = 0;
  while (absl::Now() < deadline) {
    auto body = TrackerGet("/scrape?info_hash=" + escaped);
    if (body.ok()) {
      const size_t at = body->find("8:completei");
      if (at != std::string::npos) {
        const size_t start = at + 11;
        if (absl::SimpleAtoi(body->substr(start, body->find('e', start) - start), &complete) &&
            complete >= static_cast<int64_t>(seeders_.size())) {
          return absl::OkStatus();
        }
      }
    }
    for (Seeder& s : seeders_) {
      if (!s.process->running()) return absl::UnavailableError("a seeder exited");
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("only ", complete, " of ", seeders_.size(),
                                                  " seeders reached the tracker"));
}

absl::Status SwarmEnv::CheckDownloadIn(const std::string& dir, bool allow_missing_empty) const {
  for (const std::string& rel : relative_files_) {
    SWARM_ASSIGN_OR_RETURN(std::string want, ReadAll(seed_dir_ + "/" + rel));
    struct stat st;
    if (want.empty() && allow_missing_empty && stat((dir + "/" + rel).c_str(), &st) != 0) continue;
    SWARM_ASSIGN_OR_RETURN(std::string got, ReadAll(dir + "/" + rel));
    if (got.size() != want.size()) {
      return absl::DataLossError(absl::StrCat(rel, ": ", got.size(), " bytes, want ", want.size()));
    }
    if (got != want) {
      size_t i = 0;
      while (got[i] == want[i]) ++i;
      return absl::DataLossError(absl::StrCat(rel, ": differs from byte ", i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<process::Subprocess>> StartSwarmCli(
    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SwarmEnv::SwarmCli()};
  argv.insert(argv.end(), args.begin(), args.end());
  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  return process::Subprocess::Start(argv, options);
}

int FinishSwarmCli(process::Subprocess& cli, absl::Duration timeout) {
  // Read everything it prints until it exits (the needle never appears).
  cli.ReadLineMatching("\x01never\x01", timeout).IgnoreError();
  std::optional<int> status = cli.Wait(absl::Seconds(10));
  if (!status) {
    cli.Stop(absl::Seconds(1));
    return -2;
  }
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

int RunSwarmCli(const std::vector<std::string>& args, std::string* output, absl::Duration timeout) {
  auto cli = StartSwarmCli(args);
  if (!cli.ok()) return -1;
  const int status = FinishSwarmCli(**cli, timeout);
  if (output) *output = (*cli)->output();
  return status;
}

}  // namespace swarm::testing
