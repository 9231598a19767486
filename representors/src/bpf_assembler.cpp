#include "bpf_assembler.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace vfsteer::representors::bpfasm {

Result<int> loadProgram(const std::vector<bpf_insn>& insns, const LoadOptions& o, const std::string& what) {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = o.expectedAttach,
              .prog_ifindex = static_cast<uint32_t>(o.offloadIfindex));
  int fd = bpf_prog_load(o.type, o.name, "GPL", insns.data(), insns.size(), &opts);
  if (fd >= 0) return fd;
  const int err = errno;
  // Again with the verifier's log (only now: a full trace of a large
  // program would not fit a log buffer); its last line before the
  // statistics says why.
  std::string log(1 << 20, '\0');
  opts.log_level = 1;
  opts.log_size = static_cast<uint32_t>(log.size());
  opts.log_buf = log.data();
  fd = bpf_prog_load(o.type, o.name, "GPL", insns.data(), insns.size(), &opts);
  if (fd >= 0) return fd;  // refused once, accepted now: take it
  log.resize(std::strlen(log.c_str()));
  std::string reason;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && !line.starts_with("processed ") && !line.starts_with("verification time"))
      reason = line;
  return Error::fromErrno(err, "the kernel refused " + what, reason);
}

}  // namespace vfsteer::representors::bpfasm
