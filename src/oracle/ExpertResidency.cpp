#include "oracle/ExpertResidency.h"

#include <algorithm>

namespace vk_symbiote {

ExpertResidency::ExpertResidency(uint32 n_layer, uint32 n_expert, uint32 n_used, uint32 entries, float half_life_tokens)
    : pop_(n_layer, n_expert, n_used, half_life_tokens), n_expert_(n_expert) {
    entry_of_.assign(uint64(n_layer) * n_expert, -1);
    holder_.assign(std::min<uint64>(entries, entry_of_.size()), -1);
}

int32 ExpertResidency::entry(uint32 layer, uint32 expert) const {
    const uint64 k = uint64(layer) * n_expert_ + expert;
    return k < entry_of_.size() ? entry_of_[k] : -1;
}

int64 ExpertResidency::least_popular(uint32 layer, const std::vector<uint32>& counts) const {
    int64 best = -1;
    for (int64 key : holder_) {
        if (key < 0) continue;
        if (uint32(key / n_expert_) == layer && counts[uint32(key % n_expert_)] > 0) continue;  // read by this layer's kernels
        if (best < 0 || pop(key) < pop(best)) best = key;
    }
    return best;
}

std::vector<ExpertResidency::Admission> ExpertResidency::route(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens) {
    std::vector<Admission> out;
    if (counts.size() != n_expert_ || uint64(layer) * n_expert_ >= entry_of_.size()) return out;
    pop_.record(layer, counts, n_tokens);
    if (holder_.empty()) return out;
    std::vector<uint32> missed;
    for (uint32 e = 0; e < n_expert_; ++e)
        if (counts[e] > 0 && entry(layer, e) < 0) missed.push_back(e);
    std::stable_sort(missed.begin(), missed.end(), [&](uint32 a, uint32 b) { return pop_.popularity(layer, a) > pop_.popularity(layer, b); });
    for (uint32 e : missed) {
        const int64 key = int64(layer) * n_expert_ + e;
        auto free = std::find(holder_.begin(), holder_.end(), int64(-1));
        int32 slot = free == holder_.end() ? -1 : int32(free - holder_.begin());
        if (slot < 0) {
            const int64 victim = least_popular(layer, counts);
            if (victim < 0 || !(pop(key) > pop(victim))) break;  // the rest are no more popular than e
            slot = entry_of_[uint64(victim)];
            entry_of_[uint64(victim)] = -1;
        }
        holder_[uint32(slot)] = key;
        entry_of_[uint64(key)] = slot;
        out.push_back({e, uint32(slot)});
    }
    return out;
}

}  // namespace vk_symbiote
