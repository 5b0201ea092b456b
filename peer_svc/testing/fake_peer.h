// A swarm peer for tests of the worker's upload side, driven one step at a time from the test
// thread with blocking sockets and timeouts (no sleeps): it connects to a worker's listen
// port, or listens and accepts the worker's connection; sends a handshake and any messages
// built with bt/wire.h; and reads the worker's messages one by one.
//
//   absl::StatusOr<std::unique_ptr<FakePeer>> p = FakePeer::Connect(ip, port, num_pieces);
//   ASSERT_TRUE((*p)->SendHandshake(info_hash).ok());
//   absl::StatusOr<bt::Message> m = (*p)->Next(kWait);         // the worker's handshake
//   std::string out;
//   bt::AppendInterested(&out);
//   ASSERT_TRUE((*p)->Send(out).ok());
//   m = (*p)->NextOfType(bt::MessageType::kUnchoke, kWait);   // skipping what comes before
#ifndef SWARM_PEER_SVC_TESTING_FAKE_PEER_H_
#define SWARM_PEER_SVC_TESTING_FAKE_PEER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bt/sha1.h"
#include "bt/wire.h"

namespace swarm::peer_svc::testing {

class FakePeer {
 public:
  // Connects to a worker at ip:port (from `bind_ip`, when not empty).
  static absl::StatusOr<std::unique_ptr<FakePeer>> Connect(const std::string& ip, uint16_t port,
                                                           uint32_t num_pieces,
                                                           const std::string& bind_ip = "");
  // Listens on ip, port 0 (see port()), for one connection: the worker dials it, Accept takes it.
  static absl::StatusOr<std::unique_ptr<FakePeer>> Listen(const std::string& ip,
                                                          uint32_t num_pieces);
  ~FakePeer();

  uint16_t port() const { return port_; }
  const std::string& ip() const { return ip_; }
  absl::Status Accept(absl::Duration timeout);

  // Our handshake: fast extension (BEP 6) and the extension protocol (BEP 10) as asked.
  absl::Status SendHandshake(const bt::Sha1Digest& info_hash, bool fast = true,
                             bool extensions = false);
  const std::array<uint8_t, 20>& peer_id() const { return peer_id_; }
  // Bytes as they are (messages built with bt::Append*), in one send.
  absl::Status Send(const std::string& bytes);

  // The next message (the first one the handshake), waiting up to `timeout`:
  // DeadlineExceeded when none came, Unavailable when the worker closed the connection,
  // InvalidArgument when it broke the protocol. The message's `data` stays valid until the
  // next call.
  absl::StatusOr<bt::Message> Next(absl::Duration timeout);
  // The next message of `type`, dropping the others that come first.
  absl::StatusOr<bt::Message> NextOfType(bt::MessageType type, absl::Duration timeout);
  // The next message that is not a keep-alive, interested, not interested or extended one
  // (the chatter of a peer that also downloads).
  absl::StatusOr<bt::Message> NextPayload(absl::Duration timeout);
  // Waits until the worker closes the connection (messages before that are dropped).
  bool WaitForClose(absl::Duration timeout);

  // Requests every block of every piece in `pieces`, in one send.
  absl::Status RequestPieces(const std::vector<uint32_t>& pieces, uint64_t total_length,
                             uint32_t piece_length);

 private:
  FakePeer(uint32_t num_pieces);
  // Reads more bytes into the parser, waiting until `deadline`.
  absl::Status Fill(absl::Time deadline);

  int fd_ = -1;
  int listen_fd_ = -1;
  std::string ip_;
  uint16_t port_ = 0;
  std::array<uint8_t, 20> peer_id_;
  bt::MessageParser parser_;
  std::string last_data_;
};

}  // namespace swarm::peer_svc::testing

#endif  // SWARM_PEER_SVC_TESTING_FAKE_PEER_H_
