#include "tracker_svc/tracker_server.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/tracker.grpc.pb.h"
#include "rpc/auth_token.h"
#include "rpc/grpc_status.h"
#include "rpc/token_source.h"

namespace swarm::tracker_svc {
namespace {

using bt::tracker::AnnounceEvent;
using bt::tracker::AnnounceParams;

constexpr char kServiceName[] = "swarm.pb.TrackerQuery";
// Most tracker URLs in one request (announce-lists in the wild hold a few dozen).
constexpr int kMaxUrls = 200;
// Our answer must reach the caller before its own deadline fires.
constexpr absl::Duration kReplyMargin = absl::Milliseconds(50);

// FNV-1a of info_hash and peer_id: stable across calls and tracker_svc instances, as a key
// must be for a tracker to recognise the peer.
uint32_t DeriveKey(const std::string& info_hash, const std::string& peer_id) {
  uint32_t h = 2166136261u;
  for (const std::string* s : {&info_hash, &peer_id}) {
    for (unsigned char c : *s) h = (h ^ c) * 16777619u;
  }
  return h == 0 ? 1 : h;
}

absl::StatusOr<Announcer::Tiers> ToTiers(
    const google::protobuf::RepeatedPtrField<pb::TrackerTier>& tiers) {
  Announcer::Tiers out;
  int urls = 0;
  for (const pb::TrackerTier& tier : tiers) {
    urls += tier.urls_size();
    out.emplace_back(tier.urls().begin(), tier.urls().end());
  }
  if (urls == 0) return absl::InvalidArgumentError("no tracker URLs in tiers");
  if (urls > kMaxUrls) {
    return absl::InvalidArgumentError(
        absl::StrCat(urls, " tracker URLs, more than the ", kMaxUrls, " accepted"));
  }
  return out;
}

absl::StatusOr<AnnounceParams> ToParams(const pb::AnnounceRequest& req) {
  AnnounceParams p;
  p.info_hash = req.info_hash();
  p.peer_id = req.peer_id();
  if (req.port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", req.port(), " is over 65535"));
  }
  p.port = static_cast<uint16_t>(req.port());
  p.uploaded = req.uploaded();
  p.downloaded = req.downloaded();
  p.left = req.left();
  switch (req.event()) {
    case pb::NONE:
      p.event = AnnounceEvent::kNone;
      break;
    case pb::STARTED:
      p.event = AnnounceEvent::kStarted;
      break;
    case pb::COMPLETED:
      p.event = AnnounceEvent::kCompleted;
      break;
    case pb::STOPPED:
      p.event = AnnounceEvent::kStopped;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown event ", req.event()));
  }
  p.numwant = req.numwant();
  p.key = req.key() != 0 ? req.key() : DeriveKey(p.info_hash, p.peer_id);
  p.ip = req.ip();  // validated below: an address, never a host name
  SWARM_RETURN_IF_ERROR(bt::tracker::ValidateAnnounceParams(p));
  return p;
}

}  // namespace

class TrackerServer::Service final : public pb::TrackerQuery::Service {
 public:
  Service(const Options& options) : options_(options), announcer_(options.announcer) {}

  grpc::Status Announce(grpc::ServerContext* context, const pb::AnnounceRequest* request,
                        pb::AnnounceResponse* response) override {
    if (!rpc::AuthTokenMatches(*context, options_.auth_token)) return rpc::WrongAuthToken();
    return rpc::ToGrpcStatus(DoAnnounce(context, *request, response));
  }

  grpc::Status Scrape(grpc::ServerContext* context, const pb::ScrapeRequest* request,
                      pb::ScrapeResponse* response) override {
    if (!rpc::AuthTokenMatches(*context, options_.auth_token)) return rpc::WrongAuthToken();
    return rpc::ToGrpcStatus(DoScrape(context, *request, response));
  }

 private:
  // The earlier of the request's budget and the caller's gRPC deadline (less a margin).
  absl::StatusOr<absl::Time> Deadline(grpc::ServerContext* context, uint32_t timeout_ms) const {
    absl::Duration budget =
        timeout_ms == 0 ? options_.default_timeout : absl::Milliseconds(timeout_ms);
    if (budget > options_.max_timeout) {
      return absl::InvalidArgumentError(absl::StrCat("timeout_ms ", timeout_ms, " is over the ",
                                                     absl::FormatDuration(options_.max_timeout),
                                                     " maximum"));
    }
    absl::Time deadline = absl::Now() + budget;
    if (context->deadline() != std::chrono::system_clock::time_point::max()) {
      deadline = std::min(deadline, absl::FromChrono(context->deadline()) - kReplyMargin);
    }
    return deadline;
  }

  absl::Status DoAnnounce(grpc::ServerContext* context, const pb::AnnounceRequest& request,
                          pb::AnnounceResponse* response) {
    SWARM_ASSIGN_OR_RETURN(AnnounceParams params, ToParams(request));
    SWARM_ASSIGN_OR_RETURN(Announcer::Tiers tiers, ToTiers(request.tiers()));
    SWARM_ASSIGN_OR_RETURN(absl::Time deadline, Deadline(context, request.timeout_ms()));
    absl::flat_hash_map<std::string, std::string> tracker_ids(request.tracker_ids().begin(),
                                                              request.tracker_ids().end());
    SWARM_ASSIGN_OR_RETURN(Announcer::AnnounceResult result,
                           announcer_.Announce(params, tiers, tracker_ids, deadline,
                                               [context] { return context->IsCancelled(); }));
    for (const bt::tracker::Peer& peer : result.reply.peers) {
      pb::Peer* out = response->add_peers();
      out->set_ip(peer.endpoint.ip().ToString());
      out->set_port(peer.endpoint.port());
      out->set_peer_id(peer.peer_id);
    }
    response->set_interval_s(result.reply.interval_s);
    response->set_min_interval_s(result.reply.min_interval_s);
    response->set_seeders(result.reply.seeders);
    response->set_leechers(result.reply.leechers);
    response->set_tracker_url(result.tracker_url);
    response->set_tracker_ip(result.tracker_ip);
    for (const std::string& w : result.reply.warnings) response->add_warnings(w);
    response->set_tracker_id(result.reply.tracker_id);
    return absl::OkStatus();
  }

  absl::Status DoScrape(grpc::ServerContext* context, const pb::ScrapeRequest& request,
                        pb::ScrapeResponse* response) {
    std::vector<std::string> hashes(request.info_hashes().begin(), request.info_hashes().end());
    SWARM_RETURN_IF_ERROR(bt::tracker::ValidateScrapeHashes(hashes));
    SWARM_ASSIGN_OR_RETURN(Announcer::Tiers tiers, ToTiers(request.tiers()));
    SWARM_ASSIGN_OR_RETURN(absl::Time deadline, Deadline(context, request.timeout_ms()));
    SWARM_ASSIGN_OR_RETURN(
        Announcer::ScrapeResult result,
        announcer_.Scrape(hashes, tiers, deadline, [context] { return context->IsCancelled(); }));
    for (const bt::tracker::ScrapeCounts& c : result.counts) {
      pb::ScrapeEntry* e = response->add_entries();
      e->set_info_hash(c.info_hash);
      e->set_seeders(c.seeders);
      e->set_completed(c.completed);
      e->set_leechers(c.leechers);
    }
    response->set_tracker_url(result.tracker_url);
    return absl::OkStatus();
  }

  const Options& options_;
  Announcer announcer_;
};

absl::StatusOr<std::unique_ptr<TrackerServer>> TrackerServer::Start(Options options) {
  SWARM_RETURN_IF_ERROR(
      rpc::RequireTokenBeyondLoopback(options.listen_address, options.auth_token));
  std::unique_ptr<TrackerServer> server(new TrackerServer());
  server->options_ = std::move(options);
  server->service_ = std::make_unique<Service>(server->options_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(server->options_.listen_address,
                           rpc::ServerCredentials(server->options_.tls), &server->port_);
  builder.RegisterService(server->service_.get());
  grpc::ResourceQuota quota("tracker_svc");
  quota.SetMaxThreads(std::max(2, server->options_.max_threads));
  builder.SetResourceQuota(quota);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", server->options_.listen_address, "\""));
  }
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus(kServiceName, true);
  }
  return server;
}

TrackerServer::~TrackerServer() { Shutdown(); }

void TrackerServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_ || server_ == nullptr) return;
    shut_down_ = true;
  }
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  server_->Wait();
}

}  // namespace swarm::tracker_svc
