// StageHandshake: the start of a pipeline run, before any weight is read. Every rank tells
// rank 0 its model file's identity (size and a hash of the header and tensor table:
// ModelSource::header_bytes, as the pack cache hashes it), its host and its budgets; rank 0
// refuses a mismatching file by naming the rank and host, plans the layer ranges (StagePlan)
// and tells every rank its range, its budgets and every rank's host. A refusal reaches every
// rank, so each one ends with the same message.
#pragma once

#include <string>
#include <vector>

#include "model/LoadedModel.h"
#include "pipeline/PipelineLink.h"
#include "pipeline/StagePlan.h"

namespace vk_symbiote::pipeline {

struct StageAssignment {
    LayerRange layers;                // this rank's
    RankBudget budget;                // this rank's (from --budgets, else its own options)
    std::vector<LayerRange> ranges;   // every rank's, by rank
    std::vector<std::string> hosts;   // every rank's host, by rank
};

// own: this rank's --vram-gb / --ram-gb; budgets_text: --budgets as rank 0 was given it
// (empty: every rank's own). Errors: Corrupt for a mismatching model, InvalidArgument for bad
// --budgets or too many ranks, Io for a rank that does not answer (the link's timeout).
Expected<StageAssignment> handshake(PipelineLink& link, const LoadedModel& model, const RankBudget& own, const std::string& budgets_text);

}  // namespace vk_symbiote::pipeline
