// RunCommand: runs a shell command line (popen), capturing its stdout, for the CLI tests.
#pragma once

#include <string>

namespace vk_symbiote::test {

struct CommandResult {
    int status = -1;  // exit status; -1: could not run, or killed by a signal
    std::string out;  // everything the command wrote to stdout
};

CommandResult run_command(const std::string& cmd);

}  // namespace vk_symbiote::test
