#include "backend/vulkan/VramPlan.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <sstream>

#include "memory/FractalMemoryAllocator.h"
#include "common/Units.h"

namespace vk_symbiote {

namespace {

uint64 round_up(uint64 v, uint64 a) { return a <= 1 ? v : (v + a - 1) / a * a; }

// Row split of one tensor into pieces of at most max_piece_bytes.
std::vector<VramPiece> split_rows(const VramTensor& t, uint64 max_piece_bytes) {
    std::vector<VramPiece> out;
    if (t.norm) {
        out.push_back({0, t.rows, 0});
        return out;
    }
    const uint64 rpp = vram_rows_per_piece(t.row_bytes, max_piece_bytes);
    for (uint64 r = 0; r < t.rows; r += rpp) out.push_back({r, std::min(rpp, t.rows - r), 0});
    return out;
}

}  // namespace

uint64 vram_alloc_cost(uint64 bytes, uint64 block_bytes) {
    bytes = round_up(std::max<uint64>(bytes, 1), 16);  // VulkanMemory rounds sizes to 16
    return bytes > block_bytes ? bytes : next_pow2(std::max<uint64>(bytes, 256));
}

uint64 vram_rows_per_piece(uint64 row_bytes, uint64 max_piece_bytes) {
    uint64 r = std::max<uint64>(max_piece_bytes / std::max<uint64>(row_bytes, 1), 1);
    if (r >= 256) r = r / 256 * 256;
    return r;
}

std::string VramPlan::summary() const {
    std::ostringstream os;
    if (slots == 0) {
        os << "all weights resident in VRAM (" << format_gib(resident_weight_bytes) << ")";
    } else {
        os << format_gib(resident_weight_bytes) << " of weights resident in VRAM (" << resident_layers << " whole layers), "
           << format_gib(streamed_weight_bytes) << " streamed per forward pass through " << slots << " slots of " << format_gib(slot_bytes);
    }
    os << "; planned device memory " << format_gib(device_bytes);
    if (expert_places > 0)
        os << "; " << expert_places << " expert places a slot, expert cache of " << expert_cache_entries << " experts of " << format_gib(expert_place_bytes);
    if (!kv.empty()) os << "; " << kv;
    return os.str();
}

namespace {

// Per tensor: its pieces, their device cost when resident and their bytes in a slot.
struct TensorCosts {
    std::vector<uint64> cost, stream;
    uint64 norms = 0, all = 0;  // resident cost of the norms / of everything else
    uint64 place = 0;           // a mixture of experts: one expert's bytes in a slot (the largest expert)
};

// An expert matrix that goes into one of the k places of its slot (never resident on its own).
bool placed_expert(const VramPlanInput& in, size_t i) { return in.expert_places > 0 && in.tensors[i].id.expert >= 0; }

// Per (segment, expert): the expert's stream bytes (every expert of a family has one shape).
std::map<std::pair<uint32, int32>, uint64> expert_sizes(const VramPlanInput& in, const TensorCosts& tc) {
    std::map<std::pair<uint32, int32>, uint64> sum;
    for (size_t i = 0; i < in.tensors.size(); ++i)
        if (placed_expert(in, i)) sum[{in.tensors[i].segment, in.tensors[i].id.expert}] += tc.stream[i];
    return sum;
}

// Per segment: the slot bytes of what streams now: the dense pieces, then k expert places
// when the segment has experts.
std::vector<uint64> slot_needs(const VramPlanInput& in, const TensorCosts& tc, const VramPlan& p) {
    std::vector<uint64> seg(in.n_segments, 0);
    std::vector<bool> experts(in.n_segments, false);
    for (size_t i = 0; i < in.tensors.size(); ++i) {
        if (p.tensors[i].resident) continue;
        if (placed_expert(in, i)) experts[in.tensors[i].segment] = true;
        else seg[in.tensors[i].segment] += tc.stream[i];
    }
    for (uint32 s = 0; s < in.n_segments; ++s)
        if (experts[s]) seg[s] += uint64(in.expert_places) * tc.place;
    return seg;
}

Expected<TensorCosts> split_and_cost(const VramPlanInput& in, VramPlan& p) {
    const size_t n = in.tensors.size();
    TensorCosts tc;
    tc.cost.assign(n, 0);
    tc.stream.assign(n, 0);
    p.tensors.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const VramTensor& t = in.tensors[i];
        if (t.segment >= in.n_segments) return make_error(ErrorCode::InvalidArgument, "plan_vram: segment out of range");
        if (!t.norm && t.row_bytes > in.max_piece_bytes)
            return make_error(ErrorCode::Unsupported, "a row of " + std::to_string(t.row_bytes) + " bytes exceeds maxStorageBufferRange (" +
                                                          std::to_string(in.max_piece_bytes) + ")");
        p.tensors[i].pieces = split_rows(t, in.max_piece_bytes);
        for (const auto& pc : p.tensors[i].pieces) {
            tc.cost[i] += vram_alloc_cost(pc.rows * t.row_bytes, in.block_bytes);
            tc.stream[i] += round_up(pc.rows * t.row_bytes, in.align);
        }
        p.tensors[i].resident = t.norm;
        (t.norm ? tc.norms : tc.all) += tc.cost[i];
    }
    for (const auto& [key, bytes] : expert_sizes(in, tc)) tc.place = std::max(tc.place, bytes);
    return tc;
}

void finish_resident(const VramPlanInput& in, VramPlan& p) {
    p.resident_weight_bytes = p.streamed_weight_bytes = p.streamed_expert_bytes = 0;
    for (size_t i = 0; i < in.tensors.size(); ++i) {
        const uint64 b = in.tensors[i].rows * in.tensors[i].row_bytes;
        (p.tensors[i].resident ? p.resident_weight_bytes : p.streamed_weight_bytes) += b;
        if (!p.tensors[i].resident && in.tensors[i].id.expert >= 0) p.streamed_expert_bytes += b;
    }
}

// Whole layers first, evenly spaced (a streamed layer's upload then overlaps resident compute).
void place_whole_layers(const VramPlanInput& in, const TensorCosts& tc, VramPlan& p, uint64& avail) {
    const size_t n = in.tensors.size();
    std::vector<uint64> seg_cost(in.n_segments, 0);
    for (size_t i = 0; i < n; ++i)
        if (!in.tensors[i].norm && !placed_expert(in, i)) seg_cost[in.tensors[i].segment] += tc.cost[i];
    const uint32 n_layers = in.n_segments - 1;
    const uint64 layer_cost = n_layers ? *std::max_element(seg_cost.begin(), seg_cost.begin() + n_layers) : 0;
    const uint32 k = layer_cost ? uint32(std::min<uint64>(avail / layer_cost, n_layers)) : 0;
    std::vector<bool> seg_res(in.n_segments, false);
    for (uint32 j = 0; j < k; ++j) seg_res[uint32(uint64(j) * n_layers / k)] = true;
    for (size_t i = 0; i < n; ++i)
        if (!in.tensors[i].norm && !placed_expert(in, i) && seg_res[in.tensors[i].segment]) {
            p.tensors[i].resident = true;
            avail -= tc.cost[i];
        }
}

// Then the largest remaining tensors that fit (two passes: the slots may shrink).
void place_largest(const VramPlanInput& in, const TensorCosts& tc, VramPlan& p, uint64& avail, uint64 s_max) {
    const size_t n = in.tensors.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tc.cost[a] > tc.cost[b]; });
    uint64 s_prev = s_max;
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i : order)
            if (!p.tensors[i].resident && !placed_expert(in, i) && tc.cost[i] <= avail) {
                p.tensors[i].resident = true;
                avail -= tc.cost[i];
            }
        const std::vector<uint64> seg = slot_needs(in, tc, p);
        const uint64 s_now = *std::max_element(seg.begin(), seg.end());
        avail += uint64(in.slots) * (vram_alloc_cost(s_prev, in.block_bytes) - (s_now ? vram_alloc_cost(s_now, in.block_bytes) : 0));
        s_prev = s_now ? s_now : 1;
        if (s_now == 0) break;
    }
}

// Slot offsets of the streamed pieces: the dense ones in use order from the slot's start, then
// (a mixture of experts) the segment's k expert places, each expert's pieces relative to its place.
void layout_pieces(const VramPlanInput& in, const TensorCosts& tc, VramPlan& p) {
    const size_t n = in.tensors.size();
    p.segment_stream_bytes.assign(in.n_segments, 0);
    std::map<std::pair<uint32, int32>, uint64> in_place;  // (segment, expert) -> bytes laid out in its place so far
    for (size_t i = 0; i < n; ++i) {
        if (p.tensors[i].resident) continue;
        uint64& off = placed_expert(in, i) ? in_place[{in.tensors[i].segment, in.tensors[i].id.expert}] : p.segment_stream_bytes[in.tensors[i].segment];
        for (auto& pc : p.tensors[i].pieces) {
            pc.slot_offset = off;
            off += round_up(pc.rows * in.tensors[i].row_bytes, in.align);
        }
    }
    p.expert_base = p.segment_stream_bytes;
    const std::vector<uint64> need = slot_needs(in, tc, p);
    for (uint32 s = 0; s < in.n_segments; ++s) p.segment_stream_bytes[s] = need[s];
    p.expert_places = in_place.empty() ? 0 : in.expert_places;
    p.expert_place_bytes = in_place.empty() ? 0 : tc.place;
    if (in_place.empty()) p.expert_base.clear();
}

// The slots, the device bytes, the expert cache (what the budget leaves, in whole experts; none
// under forced streaming) and the resident layers.
ExpectedVoid layout_slots(const VramPlanInput& in, const TensorCosts& tc, VramPlan& p) {
    const size_t n = in.tensors.size();
    layout_pieces(in, tc, p);
    p.slot_bytes = *std::max_element(p.segment_stream_bytes.begin(), p.segment_stream_bytes.end());
    p.slots = p.slot_bytes ? in.slots : 0;
    uint64 resident_cost = tc.norms;
    for (size_t i = 0; i < n; ++i)
        if (p.tensors[i].resident && !in.tensors[i].norm) resident_cost += tc.cost[i];
    p.device_bytes = in.fixed_bytes + resident_cost + uint64(p.slots) * (p.slot_bytes ? vram_alloc_cost(p.slot_bytes, in.block_bytes) : 0) + in.block_bytes;
    if (p.device_bytes > in.budget_bytes)
        return make_error(ErrorCode::Internal, "plan_vram: planned " + std::to_string(p.device_bytes) + " bytes > budget " + std::to_string(in.budget_bytes));
    if (p.expert_places > 0 && !in.force_streaming) {
        const uint64 entry = vram_alloc_cost(p.expert_place_bytes, in.block_bytes);
        p.expert_cache_entries = uint32(std::min<uint64>((in.budget_bytes - p.device_bytes) / entry, expert_sizes(in, tc).size()));
        p.device_bytes += uint64(p.expert_cache_entries) * entry;
    }
    std::vector<bool> seg_all_res(in.n_segments, true);
    for (size_t i = 0; i < n; ++i)
        if (!p.tensors[i].resident) seg_all_res[in.tensors[i].segment] = false;
    for (uint32 s = 0; s + 1 < in.n_segments; ++s) p.resident_layers += seg_all_res[s];
    return {};
}

}  // namespace

Expected<VramPlan> plan_vram(const VramPlanInput& in) {
    if (in.slots == 0 || in.max_piece_bytes == 0 || in.n_segments == 0)
        return make_error(ErrorCode::InvalidArgument, "plan_vram: slots, max_piece_bytes and n_segments must be > 0");
    const uint64 slack = in.block_bytes;  // the allocator's last, partly used block
    VramPlan p;
    auto tc = split_and_cost(in, p);
    if (!tc) return tc.error();
    const uint64 everything = in.fixed_bytes + tc->norms + tc->all + slack;
    p.segment_stream_bytes = slot_needs(in, *tc, p);  // nothing resident but the norms yet
    const uint64 s_max = *std::max_element(p.segment_stream_bytes.begin(), p.segment_stream_bytes.end());
    // Forced streaming (a test knob) streams even a model that fits whole: its minimum is the slots'.
    const uint64 streaming = in.fixed_bytes + tc->norms + uint64(in.slots) * vram_alloc_cost(s_max, in.block_bytes) + slack;
    p.minimum_budget_bytes = in.force_streaming ? streaming : std::min(everything, streaming);
    if (!in.force_streaming && everything <= in.budget_bytes) {
        for (auto& t : p.tensors) t.resident = true;
        p.segment_stream_bytes.assign(in.n_segments, 0);
        p.device_bytes = everything;
        p.resident_layers = in.n_segments - 1;
        finish_resident(in, p);
        return p;
    }
    const uint64 stated = in.stated_minimum ? in.stated_minimum : p.minimum_budget_bytes;
    if (in.budget_bytes < p.minimum_budget_bytes)
        return make_error(ErrorCode::BudgetTooSmall,
                          "VRAM budget " + format_gib(in.budget_bytes) + " is below the minimum of " + format_gib_up(stated) + " (" + std::to_string(stated) +
                              " bytes: activations and the KV cache kept in VRAM " + format_gib(in.fixed_bytes) + ", norms, and " + std::to_string(in.slots) +
                              " streaming slots of " + format_gib(s_max) + ", the largest layer); raise --vram-gb or lower --ctx-size");
    // The resident set under what is left once the slots are sized for the largest segment.
    uint64 avail = in.budget_bytes - p.minimum_budget_bytes;
    if (!in.force_streaming) {
        place_whole_layers(in, *tc, p, avail);
        place_largest(in, *tc, p, avail, s_max);
    }
    VKS_TRY(layout_slots(in, *tc, p));
    finish_resident(in, p);
    return p;
}

}  // namespace vk_symbiote
