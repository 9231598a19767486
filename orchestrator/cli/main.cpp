// vfsteer: VF representor and hardware demux orchestrator.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  // Output to a file or pipe is written in 256 KiB pieces: most of it then
  // reaches its file at the final flush below, where a failure's errno can
  // still be read (glibc ignores the size unless it is given the buffer). A
  // terminal keeps its line buffering.
  static char outputBuffer[256 * 1024];
  if (!::isatty(STDOUT_FILENO)) std::setvbuf(stdout, outputBuffer, _IOFBF, sizeof outputBuffer);
  CLI::App app{
      "vfsteer: split each steering chain into the part the NIC can run and the part the host\n"
      "runs, program both, and report exactly what runs where and why.",
      "vfsteer"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vfsteer ") + VFSTEER_VERSION);
  app.footer(
      "Exit status: 0 success; 1 bad input or usage (nothing was changed); 2 the plan was\n"
      "refused (a skip-sw chain cannot run in the NIC); 3 the kernel refused a change (it was\n"
      "rolled back).\n"
      "Run 'vfsteer COMMAND --help' for a command's options. Documentation: docs/.");
  // CLI11's usage errors (a missing file, a bad value) carry the same
  // "vfsteer: " prefix as vfsteer's own.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    return "vfsteer: " + CLI::FailureMessage::simple(a, e);
  });
  int exitCode = vfsteer::cli::kExitOk;
  vfsteer::cli::addCommands(app, exitCode);
  // CLI11 reports an unknown command only as "a subcommand is required".
  std::string names;
  bool known = false;
  for (const auto* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    vfsteer::cli::printError(std::string("unknown command \"") + argv[1] +
                                      "\" (commands: " + names + "; see vfsteer --help)");
    return vfsteer::cli::kExitBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exitCode = app.exit(e) == 0 ? vfsteer::cli::kExitOk : vfsteer::cli::kExitBadInput;
  }
  // Output that did not reach its file (a full disk, a closed pipe) is a
  // failure, not a silent success: whoever reads it would act on half a plan.
  errno = 0;
  std::cout.flush();
  if (!std::cout) {
    const int err = errno;
    vfsteer::cli::printError(std::string("cannot write the output") +
                             (err ? std::string(": ") + std::strerror(err) : ""));
    if (exitCode == vfsteer::cli::kExitOk) exitCode = vfsteer::cli::kExitBadInput;
  }
  return exitCode;
}
