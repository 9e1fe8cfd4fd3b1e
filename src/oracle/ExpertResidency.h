// ExpertResidency: which experts of a mixture-of-experts model a VRAM expert cache of
// `entries` whole experts holds, chosen by popularity (ExpertPopularity: the share of recent
// tokens that chose each expert). An expert's expected next use is 1 / popularity tokens away,
// so keeping the most popular experts is Belady's choice for this cache: a chosen expert that
// missed is kept when an entry is free or when it is more popular than the least popular
// cached expert (which it then replaces). The experts chosen in the layer being routed are
// never evicted (their kernels read them). Every layer is visited once a token, so the
// popularities of different layers compare as expected uses a token.
// Decisions only: no device, no clock, no locks.
#pragma once

#include <vector>

#include "oracle/ExpertPopularity.h"

namespace vk_symbiote {

class ExpertResidency {
public:
    ExpertResidency() = default;
    // half_life_tokens > 0 (--expert-half-life); entries: the cache's capacity in experts.
    ExpertResidency(uint32 n_layer, uint32 n_expert, uint32 n_used, uint32 entries, float half_life_tokens);

    uint32 entries() const { return uint32(holder_.size()); }
    // The entry that holds expert `expert` of `layer`; -1: not cached.
    int32 entry(uint32 layer, uint32 expert) const;
    // An expert that missed and is kept: its matrices go into `entry` once its kernels ran.
    struct Admission {
        uint32 expert = 0, entry = 0;
    };
    // Layer `layer`'s router chose counts[e] (n_expert entries) of n_tokens tokens: the
    // popularity learns, then the chosen experts that were not cached are admitted (most
    // popular first) into free entries or in place of less popular cached experts.
    std::vector<Admission> route(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens);
    const ExpertPopularity& popularity() const { return pop_; }

private:
    // The cached expert (index layer * n_expert + e) of the lowest popularity that is not
    // chosen now in `layer` (chosen: counts), or -1 when every entry holds a chosen one.
    int64 least_popular(uint32 layer, const std::vector<uint32>& counts) const;
    float pop(int64 key) const { return pop_.popularity(uint32(key / n_expert_), uint32(key % n_expert_)); }

    ExpertPopularity pop_;
    uint32 n_expert_ = 0;
    std::vector<int32> entry_of_;  // (n_layer * n_expert) entry index, -1: not cached
    std::vector<int64> holder_;    // (entries) layer * n_expert + expert held, -1: free
};

}  // namespace vk_symbiote
