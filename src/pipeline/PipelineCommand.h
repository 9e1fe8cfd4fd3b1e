// PipelineCommand: `mpirun -np N vk_symbiote generate|perplexity --pipeline ...`, one rank of it:
// joins the MPI job, opens its PipelineStage, then rank 0 generates (text streamed to stdout, or
// --json) or computes the perplexity of --prompt-file while the others serve steps. Any error is printed ("error: ..." naming rank and host) and
// ends every rank (MPI_Abort), so no peer waits for a message that will not come.
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {
class ConfigManager;
}

namespace vk_symbiote::pipeline {

// The process's exit status.
int run_pipeline_command(const ConfigManager& cfg, const Path& model, const std::string& subcommand);

}  // namespace vk_symbiote::pipeline
