// PipelineReport: what each rank did in a pipeline run, gathered on rank 0 after the stop
// message (each rank > 0 sends its own), for --stats and --json: placement, steps, time
// computing and in communication, the bubble (the share of the run's span a rank waited),
// weight bytes per token by tier (RAM: the rank's weights, read once per step; disk: what its
// provider read from the model file or pack cache).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/PipelineStage.h"

namespace vk_symbiote::pipeline {

struct RankReport {
    uint32 rank = 0;
    std::string describe;      // PipelineStage::describe()
    StageStats stats;
    // Steps from the first to the end of the last on this rank, ns (the bubble's base).
    uint64 span_ns = 0;
    // Share of the span not spent computing: waiting for the other ranks (and sending).
    double bubble() const { return span_ns ? 1.0 - double(stats.compute_ns) / double(span_ns) : 0; }
};

// Ranks > 0: send this rank's report to rank 0 (after the stop message).
ExpectedVoid send_report(PipelineStage& stage);
// Rank 0: its own report and every other rank's, by rank.
Expected<std::vector<RankReport>> gather_reports(PipelineStage& stage);

nlohmann::json reports_json(const std::vector<RankReport>& reports);
// One line per rank, for stderr.
std::string reports_text(const std::vector<RankReport>& reports);

}  // namespace vk_symbiote::pipeline
