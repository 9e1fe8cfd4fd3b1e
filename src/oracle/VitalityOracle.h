// VitalityOracle: the decisions about packs in the RAM tier - which packs are needed
// next, which resident pack to give up, and whether a prefetch may evict at all. It
// knows the per-token use order of the packs (PackMetadata::order: the forward pass
// walks packs in that order every token, then starts again at the first) and learns from
// what it is told was used. Decisions only: no I/O, no locks, no clock. The owner
// (NomadPackManager) calls it under its own lock; it is not thread-safe by itself.
//
// Positions. A cursor is a position in the use order (0 .. cycle_packs()-1), the pack
// about to be used. distance(p, cursor) = packs until p's next use on the cyclic scan:
// 0 for the pack at the cursor, cycle_packs()-1 for the one used just before it.
// A pack may be used at more than one point of a pass: PackPlanner bundles a layer's
// attn_norm and ffn_norm into one Norm pack, used at the start of the layer and again just
// before the layer's first MLP pack. The oracle knows both uses ("use points"); distances
// count to the nearest next use, so the norm pack is not given up between its two uses
// (which would read it twice per pass), and use_position() tells where the pass really
// is when it is demanded.
// Layers ("slots" in the scan): slot L < n_layer is layer L's packs, slot n_layer is the
// head (output norm + output packs). The scan wraps from the head to layer 0 (next token).
//
// Embedding. PackPlanner never puts token_embd in packs (rows come from a row cache by
// ranged reads), so real plans have no Embedding packs. Should a plan hold some (type
// Embedding, slices of rows), they count as slot 0 and are relevant / predicted only when
// one of the given tokens has its row in them.
//
// How the engine uses it (NomadPackManager, PackScheduler, PackWeightProvider):
//  - demand loads evict choose_victim(): the furthest next use (Belady). On a cyclic scan
//    this keeps a fixed resident set and re-reads every other pack exactly once per pass;
//    least-recently-used would evict exactly the pack needed next.
//  - prefetches may evict only under should_evict_for_prefetch() (eviction_aggression).
//  - PackScheduler prefetches predict_from(cursor, effective_lookahead()) ahead of use.
//  - every demanded pack is reported with record_access(id, true, score); a prefetched
//    pack evicted before any use with record_access(id, false, score); update_model() runs
//    once per pass over the packs and widens / narrows the lookahead from the hit rate.
//  - experts (mixture of experts; Expert packs, PackMetadata::expert): a layer's experts are
//    used only when its router chooses them. record_routing() tells the oracle the choice and
//    teaches ExpertPopularity; until the router of a layer runs in a pass, the window predicts
//    its n_used most popular experts (prefetch before the router), after it exactly the chosen
//    ones. An expert pack's distance is its expected next use: its scan position when chosen
//    and still ahead, else the position plus (1 / popularity - 1) passes, so Belady keeps the
//    hot experts resident and evicts the cold ones first. stats() reports how many chosen
//    experts had been predicted before their router ran (expert_hit_rate).
//  - score_pack() ranks packs by how much keeping them resident is worth: relevance (how
//    soon it is needed) x hardware (seconds its read costs). The RAM tier decides by
//    distance alone (Belady is optimal for a known order); the score is what callers pass
//    to record_access, so stats() can say whether high-scored predictions were the used ones.
#pragma once

#include <vector>

#include "oracle/ExpertPopularity.h"
#include "oracle/HardwareTelemetry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct OracleOptions {
    uint32 prefetch_lookahead = 3;    // --prefetch-lookahead: layers (slots) prefetched ahead, 0 = none
    float eviction_aggression = 0.7f; // --eviction-aggression, 0..1 (see should_evict_for_prefetch)
    // Plans with Expert packs: experts a token uses per layer (the model's n_expert_used; 0 is
    // taken as 1) and the half life, in tokens, of the experts' popularity (--expert-half-life).
    uint32 experts_per_token = 0;
    float expert_half_life = 16.0f;
};

struct VitalityScore {
    float relevance = 0;  // 1 / (1 + distance); embedding packs: 1 if a token's row is in the pack, else 0
    float hardware = 0;   // seconds one read of the pack costs when it is not in RAM
    float score = 0;      // relevance * hardware: higher = more worth keeping / fetching early
    uint64 distance = 0;  // packs from current_layer's first pack to this pack's use
};

struct OracleStats {
    uint64 hits = 0;      // used packs that had been predicted since their previous use
    uint64 misses = 0;    // used packs not predicted in time + predicted packs dropped unused
    uint64 unused_predictions = 0;  // the second kind of miss, counted apart too
    double hit_rate = 0;  // hits / (hits + misses), 0 before any access
    uint32 effective_lookahead = 0;  // layers the scheduler prefetches ahead now
    uint64 updates = 0;   // update_model() calls that had accesses to judge
    double mean_score_hits = 0;    // mean predicted_score passed with hits
    double mean_score_misses = 0;  // ... with misses
    // Mixture of experts: experts a router chose that the oracle had predicted before the
    // router ran (hits) or not (misses); hit rate 0 before any routing.
    uint64 expert_hits = 0;
    uint64 expert_misses = 0;
    double expert_hit_rate = 0;
};

class VitalityOracle {
public:
    static constexpr uint64 kNoPack = ~uint64(0);
    // Disk rate assumed by score_pack() when telemetry knows none: 2 GB/s, a mid-range NVMe
    // drive's sequential read (SATA SSD ~0.5, fast NVMe 3.5-7). Only the ratio between
    // packs matters for ranking; the absolute seconds are for display.
    static constexpr double kDefaultDiskBytesPerSecond = 2e9;
    // update_model(): widen the lookahead by one layer while the hit rate of the last
    // pass is below kWidenBelow, narrow it by one (down to the option) at or above
    // kNarrowAtOrAbove. Between the two it holds, so it does not oscillate.
    static constexpr double kWidenBelow = 0.90;
    static constexpr double kNarrowAtOrAbove = 0.99;

    // packs[i].pack_id must be i and the orders a permutation of 0..N-1 (as PackPlanner
    // makes them; checked).
    VitalityOracle(const std::vector<PackMetadata>& packs, OracleOptions opts);

    uint64 cycle_packs() const { return packs_.size(); }
    uint32 slots() const { return slots_; }  // layers + head
    uint32 slot_of(uint64 pack_id) const { return packs_[pack_id].slot; }
    uint32 order_of(uint64 pack_id) const { return packs_[pack_id].order; }
    uint64 pack_bytes(uint64 pack_id) const { return packs_[pack_id].byte_size; }  // raw (buffer) bytes
    uint64 pack_at(uint64 order) const { return by_order_[order % by_order_.size()]; }
    // The order of the first pack of `layer` (slot; taken modulo slots()).
    uint64 first_order_of(uint32 layer) const { return slot_first_[layer % slots_]; }
    const OracleOptions& options() const { return opts_; }

    uint64 distance(uint64 pack_id, uint64 cursor_order) const;
    // The scan position of pack_id's next use at or after `cursor_order` (the use point
    // nearest ahead). The RAM tier moves its cursor there on each demand: the demanded
    // pack stays at distance 0 while it is in use (a pack shared by two consecutive
    // tensors is demanded twice in a row; the pack used before it becomes the furthest).
    uint64 use_position(uint64 pack_id, uint64 cursor_order) const;
    // True when the nearest use ahead is the pack's own order (not a later use point).
    bool primary_use(uint64 pack_id, uint64 cursor_order) const;

    VitalityScore score_pack(const PackMetadata& pack, const std::vector<uint32_t>& tokens, uint32_t current_layer, const HardwareTelemetry& telemetry);
    // The packs used next from current_layer's first pack, in use order, covering at most
    // `lookahead` layers (current_layer counts as the first), at most `count` ids. Recorded
    // as predicted (record_access judges them).
    std::vector<uint64> predict_next_packs(const std::vector<uint32_t>& tokens, uint32_t current_layer, uint32 lookahead = 3, uint32 count = 8);
    // The same from any scan position: packs from `cursor_order` on, covering at most
    // `lookahead` layers counting the cursor's own layer. Embedding packs are left out.
    std::vector<uint64> predict_from(uint64 cursor_order, uint32 lookahead, uint32 count);

    // was_used = true: the pack is being used now (a hit when it was predicted since its
    // previous use, else a miss: nobody asked for it ahead of time). was_used = false: a
    // predicted pack was dropped (evicted) before being used: a miss when it was predicted.
    void record_access(uint64 pack_id, bool was_used, float predicted_score);
    // Judges the accesses since the previous call (one pass, as the manager calls it):
    // hit rate < kWidenBelow -> effective lookahead + 1 (at most 2 x prefetch_lookahead);
    // >= kNarrowAtOrAbove -> - 1 (not below prefetch_lookahead). No accesses: no change.
    void update_model();
    OracleStats stats() const;
    uint32 effective_lookahead() const { return lookahead_; }
    uint64 access_count(uint64 pack_id) const { return packs_[pack_id].accesses; }

    // eviction_aggression a: a prefetch of `incoming` (next use at distance dQ) may evict
    // the unpinned `victim` only when distance(victim) > dQ + (1 - a) * cycle_packs().
    // a = 1: pure Belady (anything needed later than the incoming pack); a = 0: never
    // (prefetches use free space only); in between, the victim must be needed a margin of
    // (1 - a) of a pass later, so RAM is not churned for reads that are far ahead anyway.
    bool should_evict_for_prefetch(uint64 victim_id, uint64 incoming_id, uint64 cursor_order) const;
    // The candidate used furthest in the future (Belady); kNoPack when there is none.
    uint64 choose_victim(const std::vector<uint64>& candidates, uint64 cursor_order) const;
    // Packs that leave the per-token scan (replaces the previous set): their tensors live
    // elsewhere now (e.g. VRAM-resident on the device) and will not be demanded again.
    // A retired pack is at distance cycle_packs() (beyond any real next use): the first
    // victim, evictable by any prefetch, never predicted - its RAM goes to packs that will
    // be used, instead of holding a copy nobody reads.
    void set_retired(const std::vector<uint64>& pack_ids);
    bool retired(uint64 pack_id) const { return packs_[pack_id].retired; }

    // Layer `layer`'s router ran for a batch of n_tokens tokens: counts[e] of them chose
    // expert e (n_expert entries). Its chosen experts' packs are used next in this pass, no
    // other expert of the layer; the popularity learns the choice, and the choice is judged
    // against the experts predicted for the layer since its previous routing.
    void record_routing(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens);
    const ExpertPopularity& popularity() const { return popularity_; }
    bool has_experts() const { return !popularity_.empty(); }

private:
    // A use of a pack: at position `at` (the scan reaches it when the pack of order `at`
    // is next); `before`: the use comes just before that pack, not as that pack.
    struct Use {
        uint64 at = 0;
        bool before = false;
    };
    struct PackInfo {
        uint32 order = 0;
        std::vector<Use> uses;  // uses[0] = {order, false}
        uint32 slot = 0;
        PackType type = PackType::Attention;
        uint64 byte_size = 0;
        std::vector<std::pair<uint64, uint64>> rows;  // Embedding packs: [row_begin, row_end) per slice
        bool predicted = false;  // predicted since its previous use
        bool retired = false;    // set_retired()
        uint64 accesses = 0;
        int32 expert = -1;       // Expert packs: the expert of layer `slot`
    };
    const Use& next_use(uint64 pack_id, uint64 cursor_order) const;
    bool holds_token_row(const PackInfo& p, const std::vector<uint32_t>& tokens) const;
    std::vector<uint64> predict(uint64 cursor_order, uint32 lookahead, uint32 count, const std::vector<uint32_t>* tokens);
    void init_experts(uint32 n_expert);
    // True when expert pack `id` is ahead of `cursor_order` in the pass its layer's router
    // chose for (the cursor inside that layer, after the routing).
    bool routed_ahead(uint64 id, uint64 cursor_order) const;
    // Expert pack `id`'s expected distance, `d` its scan distance (see the header comment).
    uint64 expert_distance(uint64 id, uint64 cursor_order, uint64 d) const;
    // Whether a window starting at `cursor_order` should hold expert pack `id`: chosen, or
    // before its router runs, among the layer's most popular (then remembered as foreseen).
    bool expect_expert(uint64 id, uint64 cursor_order);

    OracleOptions opts_;
    std::vector<PackInfo> packs_;      // by pack id
    std::vector<uint64> by_order_;     // order -> pack id
    std::vector<std::vector<uint64>> used_before_;  // order -> packs with a later use point just before it
    std::vector<uint64> slot_first_;   // slot -> order of its first pack
    uint32 slots_ = 1;
    uint32 lookahead_ = 0;             // effective lookahead (layers)
    uint64 hits_ = 0, misses_ = 0, unused_ = 0, updates_ = 0;
    uint64 window_hits_ = 0, window_misses_ = 0;  // since the last update_model(); dense packs only
    double score_hits_ = 0, score_misses_ = 0;
    // Experts (empty without Expert packs):
    ExpertPopularity popularity_;
    std::vector<uint8> routed_;    // (layers) 1: routed, no dense pack of the layer used since
    std::vector<uint8> chosen_;    // (layers, n_expert) the last routing's choice
    std::vector<uint8> foreseen_;  // (layers, n_expert) predicted since the layer's last routing
    uint64 expert_hits_ = 0, expert_misses_ = 0;
};

}  // namespace vk_symbiote
