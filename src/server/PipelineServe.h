// PipelineServe: `mpirun -np N vk_symbiote serve --pipeline ...`, one rank of it. Rank 0 serves
// HTTP as `serve` does (OpenAiServer, EngineDriver), its engine the PipelineScheduler: the
// requests' steps go through the stages as micro-batches, several in flight at once. The other
// ranks run PipelineStage::serve until rank 0 ends (SIGINT / SIGTERM to rank 0's process: it
// stops the server, collects what is in flight and sends the stop down the chain). While no
// request runs, rank 0 sends an idle message every --pipeline-timeout / 4 seconds, so that
// every receive keeps its deadline and a rank that hangs is named even on an idle server. Any
// error ends every rank (MPI_Abort) with a message naming the rank and host, never a hang.
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {
class ConfigManager;
}

namespace vk_symbiote::server {

// The process's exit status.
int run_pipeline_serve(const ConfigManager& cfg, const Path& model);

}  // namespace vk_symbiote::server
