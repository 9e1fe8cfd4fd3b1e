#include "oracle/PackScheduler.h"

#include <algorithm>

namespace vk_symbiote {

ScheduleOrders PackScheduler::schedule(VitalityOracle& oracle, const ScheduleRequest& req, const ResidencyView& view) {
    ScheduleOrders out;
    const uint64 n = oracle.cycle_packs();
    VKS_CHECK(view.residency.size() == n && view.pinned.size() == n && view.bytes.size() == n, "PackScheduler: residency view does not match the pack plan");
    if (req.skip >= n) return out;
    const std::vector<uint64> window = oracle.predict_from(req.cursor + req.skip, req.lookahead, req.count);

    std::vector<uint8> in_window(n, 0);
    for (uint64 i = 0; i < req.skip; ++i) in_window[oracle.pack_at(req.cursor + i)] = 1;  // in use now
    for (uint64 id : window) in_window[id] = 1;
    std::vector<uint64> candidates;  // evictable: resident, unpinned, outside the window
    for (uint64 id = 0; id < n; ++id)
        if (view.residency[id] == Residency::InRam && !view.pinned[id] && !in_window[id]) candidates.push_back(id);

    // The packs demanded now come first: the room they need on disk is not the window's.
    uint64 free = view.free_bytes;
    for (uint64 i = 0; i < req.skip; ++i) {
        const uint64 id = oracle.pack_at(req.cursor + i);
        if (view.residency[id] == Residency::OnDisk) free -= std::min(free, view.bytes[id]);
    }
    uint64 ahead = 0;  // bytes of window packs still to arrive (Loading, or read from here)
    for (size_t k = 0; k < window.size(); ++k) {
        const uint64 q = window[k];
        if (view.residency[q] == Residency::Loading) ahead += view.bytes[q];
        if (view.residency[q] != Residency::OnDisk) continue;
        const uint64 need = view.bytes[q];
        if (req.max_bytes > 0 && ahead > 0 && ahead + need > req.max_bytes) {
            for (size_t j = k; j < window.size(); ++j) out.capped += view.residency[window[j]] == Residency::OnDisk;
            break;
        }
        std::vector<uint64> victims;  // committed only when they make enough room
        uint64 room = free;
        while (room < need) {
            const uint64 v = oracle.choose_victim(candidates, req.cursor);
            if (v == VitalityOracle::kNoPack || !oracle.should_evict_for_prefetch(v, q, req.cursor)) break;
            candidates.erase(std::find(candidates.begin(), candidates.end(), v));
            victims.push_back(v);
            room += view.bytes[v];
        }
        if (room < need) {
            for (size_t j = k; j < window.size(); ++j) out.skipped += view.residency[window[j]] == Residency::OnDisk;
            break;
        }
        out.unload.insert(out.unload.end(), victims.begin(), victims.end());
        free = room;
        free -= need;
        ahead += need;
        out.prefetch.push_back(q);
    }
    return out;
}

}  // namespace vk_symbiote
