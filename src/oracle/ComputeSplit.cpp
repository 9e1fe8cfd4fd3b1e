#include "oracle/ComputeSplit.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

ComputeSplit::ComputeSplit(uint32 streamed_layers, uint32 initial, ComputeSplitOptions opts) : opts_(opts), s_(streamed_layers) {
    opts_.window = std::max(1u, opts_.window);
    step_ = s_ == 0 ? 0 : std::max(1u, s_ / 8);
    set_current(std::min(initial, s_));
    best_ = cur_;
    changes_ = 0;
}

uint32 ComputeSplit::initial_cpu_layers(uint32 streamed_layers, double cpu_rate, double bus_rate) {
    if (cpu_rate <= 0 || bus_rate <= 0) return streamed_layers / 2;
    return uint32(std::llround(double(streamed_layers) * cpu_rate / (cpu_rate + bus_rate)));
}

std::vector<uint8> ComputeSplit::spread(uint32 streamed_layers, uint32 count) {
    std::vector<uint8> mask(streamed_layers, 0);
    count = std::min(count, streamed_layers);
    // The j-th CPU layer at the middle of the j-th of `count` equal runs of layers.
    for (uint32 j = 0; j < count; ++j) mask[uint32((uint64(j) * 2 + 1) * streamed_layers / (2 * uint64(count)))] = 1;
    return mask;
}

void ComputeSplit::set_current(uint32 n) {
    if (n != cur_ || mask_.size() != s_) ++changes_;
    cur_ = n;
    mask_ = spread(s_, n);
    samples_.clear();
}

bool ComputeSplit::record_token(double seconds, int64 model_guess) {
    if (s_ == 0) return false;
    if (step_ == 0) {
        // Settled: explore again (step 1 around the best) after a while.
        if (opts_.reexplore_tokens && ++settled_tokens_ >= opts_.reexplore_tokens) {
            settled_tokens_ = 0;
            step_ = 1;
            tried_other_ = false;
            have_best_ = false;
            measured_.clear();
            samples_.clear();
        }
        return false;
    }
    samples_.push_back(seconds);
    if (samples_.size() < opts_.window) return false;
    std::vector<double> s = samples_;
    std::nth_element(s.begin(), s.begin() + s.size() / 2, s.end());
    const uint32 before = cur_;
    advance(s[s.size() / 2], model_guess);
    return cur_ != before;
}

void ComputeSplit::advance(double median, int64 model_guess) {
    measured_[cur_] = median;
    if (!first_window_done_) {
        first_window_done_ = true;
        const int64 g = std::min<int64>(model_guess, s_);
        if (model_guess >= 0 && std::llabs(g - int64(cur_)) > int64(std::max(1u, step_))) {
            // Re-seed: the initial split is the baseline to beat; continue from the model's
            // guess, walking on in the direction of the jump while it improves.
            have_best_ = true;
            best_ = cur_;
            best_t_ = median;
            dir_ = g > int64(cur_) ? 1 : -1;
            tried_other_ = false;
            reseeded_ = true;
            set_current(uint32(g));
            return;
        }
    }
    if (!have_best_) {
        have_best_ = true;
        best_ = cur_;
        best_t_ = median;
    } else if (median < best_t_ * (1 - opts_.min_gain)) {
        best_ = cur_;  // keep walking the same way with the same step
        best_t_ = median;
        tried_other_ = false;
    } else {
        failed_try();
    }
    if (!next_candidate()) {
        step_ = 0;
        settled_tokens_ = 0;
        set_current(best_);
    }
}

void ComputeSplit::failed_try() {
    // The other direction at the same step, then half the step.
    if (!tried_other_) {
        tried_other_ = true;
        dir_ = -dir_;
    } else {
        step_ /= 2;
        tried_other_ = false;
    }
}

bool ComputeSplit::next_candidate() {
    while (step_ > 0) {
        const int64 c = int64(best_) + int64(dir_) * int64(step_);
        if (c >= 0 && c <= int64(s_) && uint32(c) != best_ && !measured_.count(uint32(c))) {
            set_current(uint32(c));
            return true;
        }
        failed_try();  // off the range or already measured (and not better)
    }
    return false;
}

}  // namespace vk_symbiote
