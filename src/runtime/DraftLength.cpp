#include "runtime/DraftLength.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

void PassCost::record(uint32 rows, double seconds) {
    ++passes_;
    if (rows <= 1) {
        single_ = passes_single_++ == 0 ? seconds : single_ * kDecay + seconds * (1 - kDecay);
        return;
    }
    const double x = rows, y = seconds;
    sw_ = sw_ * kDecay + 1;
    sx_ = sx_ * kDecay + x;
    sy_ = sy_ * kDecay + y;
    sxx_ = sxx_ * kDecay + x * x;
    sxy_ = sxy_ * kDecay + x * y;
    ++passes_multi_;
}

void PassCost::record_draft(uint32 tokens, double seconds) {
    if (tokens == 0) return;
    const double per = seconds / double(tokens);
    draft_per_token_ = drafts_++ == 0 ? per : draft_per_token_ * kDecay + per * (1 - kDecay);
}

double PassCost::predict_multi(uint32 rows) const {
    const double mx = sx_ / sw_, my = sy_ / sw_;
    const double var = sxx_ / sw_ - mx * mx;
    // Rows that barely varied say nothing about the slope: a flat cost.
    const double slope = var > 0.25 ? std::max(0.0, (sxy_ / sw_ - mx * my) / var) : 0.0;
    const double t = my + slope * (double(rows) - mx);
    return std::max(t, my * 1e-3 + 1e-12);  // a line through noisy points may dip below 0
}

double PassCost::predict(uint32 rows) const {
    if (passes_ == 0) return 1.0;
    if (rows <= 1) return passes_single_ > 0 ? single_ : predict_multi(2);
    return passes_multi_ > 0 ? predict_multi(rows) : single_;
}

void DraftLength::record(uint32 drafted, uint32 accepted) {
    if (drafted == 0) return;
    plain_steps_ = 0;
    const uint32 tried = accepted + (accepted < drafted ? 1 : 0);  // the first rejected one was tried too
    accepted_ = accepted_ * kDecay + accepted;
    tried_ = tried_ * kDecay + tried;
}

double DraftLength::acceptance() const { return accepted_ / tried_; }

double DraftLength::expected_tokens(double a, uint32 k) {
    if (a >= 1.0) return double(k) + 1;
    return (1.0 - std::pow(a, double(k) + 1)) / (1.0 - a);
}

uint32 DraftLength::best_draft(const PassCost& cost) const {
    if (!adaptive_ || max_ <= std::max(1u, min_)) return max_;
    const double a = acceptance();
    uint32 best = max_;
    double best_rate = 0;
    for (uint32 k = std::max(1u, min_); k <= max_; ++k) {
        const double rate = expected_tokens(a, k) / cost.predict_draft(k);
        if (rate > best_rate * (1 + 1e-9)) {  // ties go to the shorter draft
            best_rate = rate;
            best = k;
        }
    }
    return best;
}

uint32 DraftLength::choose(const PassCost& cost) const {
    const uint32 k = best_draft(cost);
    if (!adaptive_ || cost.passes() == 0) return k;
    const double draft_rate = expected_tokens(acceptance(), k) / cost.predict_draft(k);
    return 1.0 / cost.predict(1) > draft_rate ? 0 : k;
}

uint32 DraftLength::next(const PassCost& cost) {
    const uint32 k = choose(cost);
    if (k > 0) return k;
    if (plain_steps_ >= kProbeEvery) return best_draft(cost);
    ++plain_steps_;
    return 0;
}

}  // namespace vk_symbiote
