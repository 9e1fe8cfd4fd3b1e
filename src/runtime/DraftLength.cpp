#include "runtime/DraftLength.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

void PassCost::record(uint32 rows, double seconds) {
    const double x = rows, y = seconds;
    sw_ = sw_ * kDecay + 1;
    sx_ = sx_ * kDecay + x;
    sy_ = sy_ * kDecay + y;
    sxx_ = sxx_ * kDecay + x * x;
    sxy_ = sxy_ * kDecay + x * y;
    ++passes_;
}

double PassCost::predict(uint32 rows) const {
    if (passes_ == 0) return 1.0;
    const double mx = sx_ / sw_, my = sy_ / sw_;
    const double var = sxx_ / sw_ - mx * mx;
    // Rows that barely varied say nothing about the slope: a flat cost.
    const double slope = var > 0.25 ? std::max(0.0, (sxy_ / sw_ - mx * my) / var) : 0.0;
    const double t = my + slope * (double(rows) - mx);
    return std::max(t, my * 1e-3 + 1e-12);  // a line through noisy points may dip below 0
}

void DraftLength::record(uint32 drafted, uint32 accepted) {
    if (drafted == 0) return;
    const uint32 tried = accepted + (accepted < drafted ? 1 : 0);  // the first rejected one was tried too
    accepted_ = accepted_ * kDecay + accepted;
    tried_ = tried_ * kDecay + tried;
}

double DraftLength::acceptance() const { return accepted_ / tried_; }

double DraftLength::expected_tokens(double a, uint32 k) {
    if (a >= 1.0) return double(k) + 1;
    return (1.0 - std::pow(a, double(k) + 1)) / (1.0 - a);
}

uint32 DraftLength::choose(const PassCost& cost) const {
    if (!adaptive_ || max_ <= min_) return max_;
    const double a = acceptance();
    uint32 best = max_;
    double best_rate = 0;
    for (uint32 k = std::max(1u, min_); k <= max_; ++k) {
        const double rate = expected_tokens(a, k) / cost.predict(k + 1);
        if (rate > best_rate * (1 + 1e-9)) {  // ties go to the shorter draft
            best_rate = rate;
            best = k;
        }
    }
    return best;
}

}  // namespace vk_symbiote
