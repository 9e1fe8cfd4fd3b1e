// MpiRun: the command lines the pipeline tests start: `mpirun` on this machine only (no ssh:
// plm isolated; TCP over loopback, no shared-memory transport that containers may lack),
// oversubscribed (CI has 2 cores), as root where CI runs as root.
#pragma once

#include <string>

#include "support/RunCommand.h"

namespace vk_symbiote::test {

// False (the tests skip) when there is no mpirun on PATH.
bool have_mpirun();
// "env ... mpirun ... -np N" ready for a program and its arguments.
std::string mpirun(uint32_t ranks);
// A program of the build tree (vk_symbiote, vks_pipeline_logits).
std::string build_program(const char* name);
// Runs `cmd` with stderr folded into stdout; seconds it took in `seconds`.
CommandResult run_timed(const std::string& cmd, double& seconds);

}  // namespace vk_symbiote::test
