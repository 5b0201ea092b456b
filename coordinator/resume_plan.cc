#include "coordinator/resume_plan.h"

#include "absl/strings/str_cat.h"
#include "bt/file_map.h"

namespace swarm::coordinator {
namespace {

// Why the record cannot be used at all; empty when it can.
std::string Unusable(const bt::Metainfo& m, const std::string& output_dir,
                     const absl::StatusOr<ResumeRecord>& record) {
  if (!record.ok()) {
    return absl::IsNotFound(record.status())
               ? "no resume record"
               : absl::StrCat("resume record unusable (", record.status().message(), ")");
  }
  if (record->info_hash != bt::AsBytes(m.info_hash)) return "resume record of another torrent";
  if (record->output_dir != output_dir) {
    return absl::StrCat("resume record is for \"", record->output_dir, "\"");
  }
  if (record->verified.size() != m.num_pieces() || record->files.size() != m.files.size()) {
    return "resume record does not fit the torrent";
  }
  return "";
}

}  // namespace

ResumePlan PlanResume(const bt::Metainfo& m, const std::string& output_dir,
                      const std::vector<storage::FileStamp>& found,
                      const absl::StatusOr<ResumeRecord>& record, bool recheck) {
  const uint32_t n = m.num_pieces();
  const size_t num_files = m.files.size();
  ResumePlan plan;
  plan.verified = plan.to_check = bt::Bitfield(n);
  plan.foreign.assign(num_files, false);
  std::vector<bool> has_data(num_files, false), trusted(num_files, false);
  const std::string unusable_record = Unusable(m, output_dir, record);
  plan.had_record = unusable_record.empty();
  const std::string unusable = recheck ? "--recheck" : unusable_record;
  size_t with_data = 0, stale = 0, foreign = 0;
  for (size_t i = 0; i < num_files && i < found.size(); ++i) {
    if (m.files[i].pad || m.files[i].length == 0) continue;
    has_data[i] = found[i].exists && found[i].size > 0;
    with_data += has_data[i];
    trusted[i] = unusable.empty() && has_data[i] && found[i] == record->files[i];
    stale += has_data[i] && !trusted[i];
    plan.foreign[i] = has_data[i] && (!plan.had_record || !record->files[i].exists);
    foreign += plan.foreign[i];
  }
  if (with_data == 0) {
    plan.summary = "new files: nothing to check";
    return plan;
  }
  if (stale == 0 && unusable.empty()) {
    // The common resume: every file as the record left it, whatever else was absent.
    bool all_present = true;
    for (size_t i = 0; i < num_files; ++i) {
      if (!m.files[i].pad && m.files[i].length > 0 && !has_data[i]) all_present = false;
    }
    if (all_present) {
      plan.verified = record->verified;
      plan.summary = absl::StrCat("resume record matches the files: ", plan.verified.Count(),
                                  " of ", n, " pieces verified, nothing to check");
      return plan;
    }
  }
  const bt::PieceLayout layout = m.layout();
  const bt::FileMap map = m.file_map();
  for (uint32_t p = 0; p < n; ++p) {
    bool all_trusted = true, any_data = false;
    for (const bt::FileSlice& s : map.Slices(layout.piece_offset(p), layout.piece_size(p))) {
      if (m.files[s.file_index].pad) continue;
      all_trusted = all_trusted && trusted[s.file_index];
      any_data = any_data || has_data[s.file_index];
    }
    if (all_trusted && unusable.empty()) {
      if (record->verified.Get(p)) plan.verified.Set(p);
    } else if (any_data) {
      plan.to_check.Set(p);
    }
  }
  plan.summary =
      absl::StrCat(unusable.empty() ? absl::StrCat("resume record matches ", with_data - stale,
                                                   " of ", with_data, " files with data")
                                    : unusable,
                   ": ", plan.verified.Count(), " pieces verified on its word, ",
                   plan.to_check.Count(), " to check",
                   foreign == 0 ? ""
                                : absl::StrCat(" (", foreign, foreign == 1 ? " file" : " files",
                                               " not made by this download)"));
  return plan;
}

}  // namespace swarm::coordinator
