// DecodeRecording: how the Vulkan path recorded a decode token, reported by the backend
// (BackendStats) and the engine (PerformanceMetrics), printed under --stats and by the benchmark.
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// The last one-row forward pass (a decode token) on the GPU; all 0 on the CPU path or before
// one ran: kernel dispatches, barriers between them (ShaderRuntime::barrier, not the copies'
// own), compute submissions, and uploads the host waited for before the pass's first
// submission (0: none on the token's critical path).
struct DecodeRecording {
    uint64 dispatches = 0;
    uint64 barriers = 0;
    uint64 submissions = 0;
    uint64 waited_uploads = 0;
    // --decode-pipeline on (greedy, all resident): decode passes since the backend's prepare()
    // that were queued ahead (submitted before the previous token's pass ended) and used, and
    // those queued but dropped (the next token was not the device's argmax, or generation stopped).
    uint64 queued_ahead = 0;
    uint64 dropped_ahead = 0;
};

}  // namespace vk_symbiote
