#include "rpc/tls.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/tracker.grpc.pb.h"

namespace swarm::rpc {
namespace {

// Answers every Announce: the test only asks whether a call gets through.
class Echo final : public pb::TrackerQuery::Service {
  grpc::Status Announce(grpc::ServerContext*, const pb::AnnounceRequest*,
                        pb::AnnounceResponse* response) override {
    response->set_tracker_url("reached");
    return grpc::Status::OK;
  }
};

// Certificates made by tools/tls_certs.sh, as a user would make them.
std::string MakeCerts(const std::string& name, const std::string& san = "") {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  const std::string command = absl::StrCat("tools/tls_certs.sh ", dir, san.empty() ? "" : " ", san);
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  return dir;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::string(MakeCerts("cluster"));
    other_ = new std::string(MakeCerts("other"));
    named_ = new std::string(MakeCerts("named", "DNS:swarm"));
  }

  void Serve(const TlsFiles& files) {
    absl::StatusOr<TlsConfig> tls = LoadTls(files);
    ASSERT_TRUE(tls.ok()) << tls.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", ServerCredentials(*tls), &port_);
    builder.RegisterService(&echo_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  // The status of one call from a client with `files`.
  grpc::StatusCode Call(const TlsFiles& files) {
    absl::StatusOr<TlsConfig> tls = LoadTls(files);
    EXPECT_TRUE(tls.ok()) << tls.status();
    if (!tls.ok()) return grpc::StatusCode::INTERNAL;
    auto stub = pb::TrackerQuery::NewStub(MakeChannel(absl::StrCat("127.0.0.1:", port_), *tls));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::AnnounceRequest request;
    pb::AnnounceResponse response;
    const grpc::Status s = stub->Announce(&context, request, &response);
    if (s.ok()) EXPECT_EQ(response.tracker_url(), "reached");
    return s.error_code();
  }

  static TlsFiles Server(const std::string& dir) {
    TlsFiles f;
    f.cert = dir + "/server.pem";
    f.key = dir + "/server.key";
    return f;
  }
  static TlsFiles Client(const std::string& dir, bool with_cert) {
    TlsFiles f;
    f.ca = dir + "/ca.pem";
    if (with_cert) {
      f.cert = dir + "/client.pem";
      f.key = dir + "/client.key";
    }
    return f;
  }

  static std::string* certs_;
  static std::string* other_;
  static std::string* named_;
  Echo echo_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};
std::string* TlsTest::certs_ = nullptr;
std::string* TlsTest::other_ = nullptr;
std::string* TlsTest::named_ = nullptr;

TEST_F(TlsTest, AClientTrustingTheClustersCaGetsThrough) {
  Serve(Server(*certs_));
  EXPECT_EQ(Call(Client(*certs_, /*with_cert=*/false)), grpc::StatusCode::OK);
  EXPECT_EQ(Call(Client(*certs_, /*with_cert=*/true)), grpc::StatusCode::OK);
}

TEST_F(TlsTest, APlaintextClientOrOneTrustingAnotherCaDoesNot) {
  Serve(Server(*certs_));
  EXPECT_EQ(Call(TlsFiles()), grpc::StatusCode::UNAVAILABLE);
  // The server is not the one its CA vouches for: a worker does not talk to an impostor.
  EXPECT_EQ(Call(Client(*other_, /*with_cert=*/false)), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, AServerRequiringClientCertificatesRefusesClientsWithoutOne) {
  TlsFiles server = Server(*certs_);
  server.ca = *certs_ + "/ca.pem";
  server.require_client_cert = true;
  Serve(server);
  EXPECT_EQ(Call(Client(*certs_, /*with_cert=*/true)), grpc::StatusCode::OK);
  EXPECT_EQ(Call(Client(*certs_, /*with_cert=*/false)), grpc::StatusCode::UNAVAILABLE);
  // A certificate from another CA is no better than none.
  TlsFiles impostor = Client(*certs_, /*with_cert=*/false);
  impostor.cert = *other_ + "/client.pem";
  impostor.key = *other_ + "/client.key";
  EXPECT_EQ(Call(impostor), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, OneNameForTheWholeClusterWithServerName) {
  Serve(Server(*named_));  // its certificate names "swarm", not 127.0.0.1
  TlsFiles client = Client(*named_, /*with_cert=*/false);
  EXPECT_EQ(Call(client), grpc::StatusCode::UNAVAILABLE);
  client.server_name = "swarm";
  EXPECT_EQ(Call(client), grpc::StatusCode::OK);
}

TEST_F(TlsTest, BadFilesAreClearErrors) {
  TlsFiles f = Server(*certs_);
  f.key.clear();
  EXPECT_FALSE(LoadTls(f).ok());
  f = Server(*certs_);
  f.require_client_cert = true;  // no CA to check clients by
  EXPECT_FALSE(LoadTls(f).ok());
  f = Client(*certs_, false);
  f.ca = *certs_ + "/missing.pem";
  EXPECT_FALSE(LoadTls(f).ok());

  // A key others may read is refused, as a token file is.
  const std::string open_key = *certs_ + "/open.key";
  std::ifstream in(*certs_ + "/server.key");
  std::ofstream(open_key) << in.rdbuf();
  ASSERT_EQ(chmod(open_key.c_str(), 0644), 0);
  f = Server(*certs_);
  f.key = open_key;
  absl::StatusOr<TlsConfig> loaded = LoadTls(f);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("chmod 600"), absl::string_view::npos)
      << loaded.status();
  // Not PEM at all.
  f = Client(*certs_, false);
  f.ca = *certs_ + "/not.pem";
  std::ofstream(f.ca) << "hello";
  EXPECT_FALSE(LoadTls(f).ok());
}

}  // namespace
}  // namespace swarm::rpc
