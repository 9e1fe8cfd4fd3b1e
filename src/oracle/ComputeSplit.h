// ComputeSplit: the VitalityOracle's decode-time split of the streamed (non-resident)
// layers between "computed on the CPU from RAM" and "streamed to the GPU", so that both
// sides finish together: time per token ~= non-resident bytes / (CPU + bus bandwidth).
// Decisions only (no clocks, no I/O): the backend reports each decode token's wall time
// and applies cpu_mask().
//
// Why measured search and not only a formula: the two sides share the host's DRAM (the
// DMA engine reads the same memory the CPU computes from), the copy engine can run only
// `slots` layers ahead, and KV rows cross the bus when a layer changes sides, so
// bytes / probed-rate predictions are off by tens of percent. The split starts from the
// bandwidth model (initial_cpu_layers) and then walks towards the fastest measured split:
//   - every split is measured over `window` tokens (median, robust to one slow token);
//   - a pattern search: step s (initially max(1, S/8)) in one direction while the median
//     improves by more than min_gain, then the other direction, then half the step; at
//     step 0 the best split is kept ("settled");
//   - after `reexplore_tokens` settled tokens (the context grew, another process took the
//     CPU) it explores again with step 1 around the best split;
//   - re-seed (once): the first guess comes from probed peaks, which are not the rates the
//     two sides reach in the pass (H100 box: host memory probed 71 GB/s, the CPU's matvecs
//     read 90; the bus probed 51, its copies in the rows split average 38-42). The caller
//     passes the model's guess from the rates measured so far with every token; when the
//     first window ends and that guess is more than one step away, the search continues
//     from it instead of walking there one step per window (and maybe stopping on the way
//     at a noisy window). Measured, H100 box, 7B, --vram-gb 4, tg64 (14:00 UTC): 16 / 18 /
//     20 / 22 / 24 CPU heads 8.29 / 9.28 / 10.69 / 10.93 / 10.54 tokens/s; too few CPU heads
//     falls off steeply (the bus saturates), too many slowly.
// A slow CPU makes CPU layers expensive, so the search moves layers to the GPU; a slow
// bus moves them to the CPU (tests/oracle/test_compute_split.cpp).
#pragma once

#include <map>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct ComputeSplitOptions {
    uint32 window = 3;              // tokens measured per split (median)
    double min_gain = 0.01;         // a split must be this much faster (fraction) to win
    uint32 reexplore_tokens = 128;  // settled tokens before exploring again (0: never)
};

class ComputeSplit {
public:
    // streamed_layers: S, the layers that are not VRAM-resident (candidates for the CPU).
    // initial: CPU layers to start with (clamped to S).
    ComputeSplit(uint32 streamed_layers, uint32 initial, ComputeSplitOptions opts = {});

    // The bandwidth model's first guess: both sides finish together when
    // cpu_bytes / cpu_rate == gpu_bytes / bus_rate, i.e. S * cpu_rate / (cpu_rate + bus_rate)
    // layers of equal size on the CPU. Unknown rates (<= 0): S / 2.
    static uint32 initial_cpu_layers(uint32 streamed_layers, double cpu_rate, double bus_rate);

    // Which of the S streamed layers (index in use order) the CPU computes: `count` spread
    // evenly, so that each CPU layer sits between GPU layers whose uploads run meanwhile.
    static std::vector<uint8> spread(uint32 streamed_layers, uint32 count);

    uint32 streamed_layers() const { return s_; }
    uint32 cpu_layers() const { return cur_; }
    const std::vector<uint8>& cpu_mask() const { return mask_; }
    bool settled() const { return step_ == 0; }
    // Best measured split and its median token time (seconds; 0 before the first window).
    uint32 best_cpu_layers() const { return best_; }
    double best_token_seconds() const { return best_t_; }
    uint64 changes() const { return changes_; }

    // One decode token's wall time at the current split (the update_model feed);
    // model_guess: the bandwidth model's split from the rates measured so far (< 0: none),
    // used once, at the end of the first window (see re-seed above). Returns true when the
    // split changed (the caller re-reads cpu_mask()).
    bool record_token(double seconds, int64 model_guess = -1);
    bool reseeded() const { return reseeded_; }

private:
    void set_current(uint32 n);
    void advance(double median, int64 model_guess);  // a window at cur_ finished with this median
    bool next_candidate();        // sets cur_ to the next split to try; false: settle at best
    void failed_try();            // the candidate was not better: next direction / step

    ComputeSplitOptions opts_;
    uint32 s_ = 0;
    uint32 cur_ = 0;
    std::vector<uint8> mask_;
    std::vector<double> samples_;  // token times at cur_
    std::map<uint32, double> measured_;  // this exploration round: split -> median seconds
    uint32 best_ = 0;
    double best_t_ = 0;
    int32 dir_ = 1;
    uint32 step_ = 1;
    bool tried_other_ = false;     // the other direction was tried at this step
    bool have_best_ = false;
    bool first_window_done_ = false;
    bool reseeded_ = false;
    uint32 settled_tokens_ = 0;
    uint64 changes_ = 0;
};

}  // namespace vk_symbiote
