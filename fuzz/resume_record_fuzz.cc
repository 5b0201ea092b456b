// libFuzzer target for the coordinator's resume record, which it reads back from its state
// folder at every start: whatever decodes must encode to bytes that decode to the same record.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "coordinator/resume_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using swarm::coordinator::DecodeResumeRecord;
  using swarm::coordinator::EncodeResumeRecord;
  using swarm::coordinator::ResumeRecord;
  absl::StatusOr<ResumeRecord> r =
      DecodeResumeRecord(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r.ok()) return 0;
  const std::string bytes = EncodeResumeRecord(*r);
  absl::StatusOr<ResumeRecord> again = DecodeResumeRecord(bytes);
  if (!again.ok() || EncodeResumeRecord(*again) != bytes || again->files != r->files ||
      again->verified.ToBytes() != r->verified.ToBytes() ||
      again->info_hash != r->info_hash || again->output_dir != r->output_dir) {
    std::abort();
  }
  return 0;
}
