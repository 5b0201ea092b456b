#include "bt/sha1.h"

#include <openssl/evp.h>

namespace swarm::bt {

struct Sha1Hasher::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha1Hasher::Sha1Hasher() : ctx_(std::make_unique<Ctx>()) {
  EVP_DigestInit_ex(ctx_->md, EVP_sha1(), nullptr);
}

Sha1Hasher::~Sha1Hasher() = default;

void Sha1Hasher::Update(std::string_view data) {
  EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

Sha1Digest Sha1Hasher::Finish() {
  Sha1Digest digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->md, digest.data(), &length);
  EVP_DigestInit_ex(ctx_->md, EVP_sha1(), nullptr);
  return digest;
}

Sha1Digest Sha1(std::string_view data) {
  Sha1Digest digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha1(), nullptr);
  return digest;
}

std::string ToHex(const Sha1Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(40);
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace swarm::bt
