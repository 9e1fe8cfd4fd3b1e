// PackScheduler: turns the VitalityOracle's predictions into orders for the RAM tier -
// which packs to start reading now and which resident packs to drop to make room.
// Pure: it reads a snapshot of the tier (ResidencyView) and returns orders; the
// NomadPackManager takes the snapshot and carries the orders out under one lock, so the
// snapshot cannot go stale in between.
//
// Keeping the disk busy: the orders cover the whole lookahead window at once, earliest
// use first, so the I/O threads always have the next reads queued (they run reads in
// submission order) and a later read never delays an earlier one.
//
// Rules (the oracle's): the packs the caller demands now (`skip`) keep the room they
// need; otherwise a demand load would evict the furthest pack - a window pack read ahead
// and not used yet, read twice in one pass. A prefetch first uses free budget; only then it evicts, each
// time the oracle's choose_victim() among the unpinned resident packs outside the
// window, and only when should_evict_for_prefetch() allows it (eviction_aggression).
// Never a pinned or loading pack, never a pack of the window (so never one predicted
// sooner than the pack it makes room for). When the next pack cannot get room, the
// window stops there: later packs are needed later, so they would have even less right
// to evict, and reading them first would reorder the disk queue.
// Read-ahead bytes (max_bytes): every window pack read ahead holds RAM the resident set
// would otherwise keep, so on a model larger than RAM each such byte is one more byte read
// per pass; the window counts the bytes of its packs still to arrive and stops at the cap.
#pragma once

#include <vector>

#include "oracle/VitalityOracle.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

enum class Residency : uint8 { OnDisk, Loading, InRam };

// The RAM tier at one instant, indexed by pack id.
struct ResidencyView {
    std::vector<Residency> residency;
    std::vector<uint8> pinned;  // 1: pinned (in use by a kernel), never evicted
    std::vector<uint64> bytes;  // budget bytes the pack takes when resident (its buffer)
    uint64 free_bytes = 0;      // pack budget - bytes of InRam and Loading buffers
};

struct ScheduleOrders {
    std::vector<uint64> prefetch;  // packs to read now, in use order
    std::vector<uint64> unload;    // packs to evict first, to make room for `prefetch`
    uint32 skipped = 0;            // window packs on disk left unread: no room under the rules
    uint32 capped = 0;             // window packs on disk left unread: past max_bytes
};

struct ScheduleRequest {
    uint64 cursor = 0;   // order of the next pack to be used (distances are counted from it)
    uint64 skip = 0;     // packs from the cursor that the caller is demanding right now (not predictions)
    uint32 lookahead = 3;  // layers of the window (the oracle's effective_lookahead())
    uint32 count = ~uint32(0);  // at most this many packs in the window
    // At most this many bytes of window packs that are not in RAM yet (Loading or read
    // now); 0: no limit. The window stops before the pack that would pass it (the first
    // pack to read is always allowed). See NomadPackManager::read_ahead_bytes().
    uint64 max_bytes = 0;
};

class PackScheduler {
public:
    // Records the window as predicted in `oracle` (predict_from) and returns the orders.
    static ScheduleOrders schedule(VitalityOracle& oracle, const ScheduleRequest& req, const ResidencyView& view);
};

}  // namespace vk_symbiote
