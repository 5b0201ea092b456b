// TLS end to end: tracker_svc, the coordinator (requiring client certificates), a worker and
// swarm-cli, every gRPC link under TLS with certificates made by tools/tls_certs.sh as the
// README says, download byte-exact from a real aria2c seeder. A worker given another
// cluster's CA will not work for a coordinator it cannot verify.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "process/subprocess.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);
constexpr char kToken[] = "tls-test-token";

std::string MakeCerts(const std::string& dir) {
  const std::string command = "tools/tls_certs.sh " + dir;
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  return dir;
}

// Starts a service binary with the token in its environment; its output is merged, so its
// log can be read with ReadLineMatching.
std::unique_ptr<process::Subprocess> StartService(const std::vector<std::string>& argv) {
  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  options.env = {{"SWARM_AUTH_TOKEN", kToken}};
  auto started = process::Subprocess::Start(argv, options);
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? *std::move(started) : nullptr;
}

// The address in a "... listening on ADDRESS" line.
std::string ListeningAddress(process::Subprocess& service) {
  absl::StatusOr<std::string> line = service.ReadLineMatching("listening on", kTimeout);
  EXPECT_TRUE(line.ok()) << service.output();
  return line.ok() ? line->substr(line->rfind(' ') + 1) : "";
}

TEST(TlsTest, EveryLinkUnderTlsDownloadsByteExact) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"payload.bin", 8 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.WaitForSeeders());
  const std::string certs = MakeCerts(env.root() + "/certs");
  const std::string other = MakeCerts(env.root() + "/other-cluster");
  const std::vector<std::string> serve = {"--tls_cert=" + certs + "/server.pem",
                                          "--tls_key=" + certs + "/server.key"};
  const std::string ca = "--tls_ca=" + certs + "/ca.pem";

  auto tracker_svc =
      StartService({"tracker_svc/tracker_svc", "--listen=127.0.0.1:0", serve[0], serve[1]});
  ASSERT_NE(tracker_svc, nullptr);
  const std::string tracker_address = ListeningAddress(*tracker_svc);
  auto coordinator = StartService({"coordinator/coordinator", "--listen=127.0.0.1:0",
                                   "--tracker_svc=" + tracker_address, serve[0], serve[1], ca,
                                   "--tls_require_client_cert"});
  ASSERT_NE(coordinator, nullptr);
  const std::string address = ListeningAddress(*coordinator);

  // A worker that trusts another cluster's CA cannot verify this coordinator: it does not
  // register, and says why.
  auto impostor_ca = StartService({"peer_svc/peer_svc", "--coordinator=" + address,
                                   "--tls_ca=" + other + "/ca.pem", "--name=lost"});
  ASSERT_NE(impostor_ca, nullptr);
  // A worker without a client certificate is refused by the coordinator.
  auto no_cert =
      StartService({"peer_svc/peer_svc", "--coordinator=" + address, ca, "--name=anonymous"});
  ASSERT_NE(no_cert, nullptr);

  auto worker = StartService(
      {"peer_svc/peer_svc", "--coordinator=" + address, ca, serve[0], serve[1], "--name=w0"});
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(worker->ReadLineMatching("registered as worker", kTimeout).ok()) << worker->output();
  worker->DrainStdout();

  const std::string token_file = env.root() + "/token";
  std::ofstream(token_file) << kToken << "\n";
  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  std::string output;
  ASSERT_EQ(RunSwarmCli({"download", env.torrent_path(), "-o", env.download_dir(),
                         "--coordinator=" + address, "--auth-token-file", token_file, "--tls-ca",
                         certs + "/ca.pem", "--tls-cert", certs + "/client.pem", "--tls-key",
                         certs + "/client.key"},
                        &output, kTimeout),
            0)
      << output;
  ASSERT_OK(env.CheckDownload());

  // Neither of the others ever registered; each says what to check.
  for (process::Subprocess* refused : {impostor_ca.get(), no_cert.get()}) {
    absl::StatusOr<std::string> line = refused->ReadLineMatching("over TLS: is its", kTimeout);
    EXPECT_TRUE(line.ok()) << refused->output();
    EXPECT_EQ(refused->output().find("registered as worker"), std::string::npos)
        << refused->output();
  }
}

}  // namespace
}  // namespace swarm::testing
