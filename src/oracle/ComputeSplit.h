// ComputeSplit: the oracle's decode-time split of the streamed layers (or KV heads) between
// the CPU (from RAM) and the GPU (streamed), so both finish together. Decisions only: the
// backend reports each decode token's wall time and applies cpu_mask().
// Measured, not computed, because both sides read the same host DRAM: a pattern search over
// medians of `window` tokens (step max(1, S/8), then the other way, then half the step),
// re-seeded once from the caller's guess on measured rates, re-explored every
// `reexplore_tokens`. The measurements behind it: docs/tuning.md ("CPU share").
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
