#include "oracle/VitalityOracle.h"

#include <algorithm>

namespace vk_symbiote {

namespace {

bool rows_hold_token(const std::vector<std::pair<uint64, uint64>>& rows, const std::vector<uint32_t>& tokens) {
    for (uint32_t t : tokens)
        for (const auto& [b, e] : rows)
            if (t >= b && t < e) return true;
    return false;
}

std::vector<std::pair<uint64, uint64>> slice_rows(const PackMetadata& p) {
    std::vector<std::pair<uint64, uint64>> rows;
    for (const auto& s : p.slices) rows.emplace_back(s.row_begin, s.row_end);
    return rows;
}

}  // namespace

VitalityOracle::VitalityOracle(const std::vector<PackMetadata>& packs, OracleOptions opts) : opts_(opts) {
    VKS_CHECK(!packs.empty(), "VitalityOracle: empty pack plan");
    opts_.eviction_aggression = std::clamp(opts_.eviction_aggression, 0.0f, 1.0f);
    const uint64 n = packs.size();
    int32 n_layer = 0;
    for (const auto& p : packs) n_layer = std::max(n_layer, p.layer + 1);
    packs_.resize(n);
    by_order_.assign(n, kNoPack);
    for (uint64 i = 0; i < n; ++i) {
        const PackMetadata& m = packs[i];
        VKS_CHECK(m.pack_id == i && m.order < n && by_order_[m.order] == kNoPack, "VitalityOracle: pack ids must be dense and orders a permutation");
        PackInfo& p = packs_[i];
        p.order = m.order;
        p.type = m.type;
        p.slot = m.type == PackType::Embedding ? 0 : m.layer >= 0 ? uint32(m.layer) : uint32(n_layer);
        p.byte_size = m.byte_size;
        if (m.type == PackType::Embedding) p.rows = slice_rows(m);
        p.uses.push_back({m.order, false});
        if (m.type == PackType::Expert) p.expert = std::max(0, m.expert);
        by_order_[m.order] = i;
        slots_ = std::max(slots_, p.slot + 1);
    }
    // The second use of a bundled Norm pack (attn_norm + ffn_norm): just before the first
    // MLP pack of its layer.
    for (uint64 i = 0; i < n; ++i) {
        const PackMetadata& m = packs[i];
        if (m.type != PackType::Norm || m.slices.size() < 2) continue;
        uint64 first_mlp = kNoPack;
        for (const auto& q : packs)
            if (q.type == PackType::MLP && q.layer == m.layer) first_mlp = std::min<uint64>(first_mlp, q.order);
        if (first_mlp != kNoPack && first_mlp > m.order) packs_[i].uses.push_back({first_mlp, true});
    }
    used_before_.resize(n);
    for (uint64 i = 0; i < n; ++i)
        for (const Use& u : packs_[i].uses)
            if (u.before) used_before_[u.at].push_back(i);
    // A slot's first pack = its smallest order; a slot without packs starts where the
    // next one does.
    slot_first_.assign(slots_, kNoPack);
    for (const auto& p : packs_) slot_first_[p.slot] = std::min<uint64>(slot_first_[p.slot], p.order);
    for (uint32 s = slots_; s-- > 0;)
        if (slot_first_[s] == kNoPack) slot_first_[s] = s + 1 < slots_ ? slot_first_[s + 1] : 0;
    lookahead_ = opts_.prefetch_lookahead;
    int32 n_expert = 0;
    for (const auto& p : packs_) n_expert = std::max(n_expert, p.expert + 1);
    if (n_expert > 0) init_experts(uint32(n_expert));
}

void VitalityOracle::init_experts(uint32 n_expert) {
    const uint32 layers = slots_ - 1;  // the last slot is the head
    popularity_ = ExpertPopularity(layers, n_expert, std::max(1u, opts_.experts_per_token), opts_.expert_half_life > 0 ? opts_.expert_half_life : 16.0f);
    routed_.assign(layers, 0);
    chosen_.assign(uint64(layers) * n_expert, 0);
    foreseen_.assign(uint64(layers) * n_expert, 0);
}

bool VitalityOracle::routed_ahead(uint64 id, uint64 cursor_order) const {
    const PackInfo& p = packs_[id];
    const uint64 c = cursor_order % packs_.size();
    return routed_[p.slot] && packs_[pack_at(c)].slot == p.slot && p.order >= c;
}

uint64 VitalityOracle::expert_distance(uint64 id, uint64 cursor_order, uint64 d) const {
    const PackInfo& p = packs_[id];
    const uint64 n = packs_.size();
    const bool chosen = chosen_[uint64(p.slot) * popularity_.n_expert() + uint32(p.expert)] != 0;
    if (routed_ahead(id, cursor_order)) {
        if (chosen) return d;
        d += n;  // not chosen in this pass: its next chance is the next pass
    }
    // Used at a pass's position with probability p: (1 / p - 1) passes skipped on average.
    constexpr float kMinPopularity = 1.0f / 1024;
    const float pop = std::max(kMinPopularity, popularity_.popularity(p.slot, uint32(p.expert)));
    return d + uint64(double(n) * (1.0 / double(pop) - 1.0));
}

bool VitalityOracle::expect_expert(uint64 id, uint64 cursor_order) {
    const PackInfo& p = packs_[id];
    const uint64 at = uint64(p.slot) * popularity_.n_expert() + uint32(p.expert);
    if (routed_ahead(id, cursor_order)) return chosen_[at] != 0;
    if (!popularity_.hot(p.slot, uint32(p.expert))) return false;
    foreseen_[at] = 1;
    return true;
}

void VitalityOracle::record_routing(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens) {
    const uint32 X = popularity_.n_expert();
    if (popularity_.empty() || layer >= routed_.size() || counts.size() != X) return;
    for (uint32 e = 0; e < X; ++e) {
        const uint64 at = uint64(layer) * X + e;
        chosen_[at] = counts[e] > 0;
        if (chosen_[at]) foreseen_[at] ? expert_hits_++ : expert_misses_++;
        foreseen_[at] = 0;
    }
    popularity_.record(layer, counts, n_tokens);
    routed_[layer] = 1;
}

const VitalityOracle::Use& VitalityOracle::next_use(uint64 pack_id, uint64 cursor_order) const {
    const uint64 n = packs_.size();
    const auto& uses = packs_[pack_id].uses;
    size_t best = 0;
    uint64 best_d = n;
    for (size_t k = 0; k < uses.size(); ++k) {
        const uint64 d = (uses[k].at + n - cursor_order % n) % n;
        if (d < best_d) best = k, best_d = d;
    }
    return uses[best];
}

uint64 VitalityOracle::distance(uint64 pack_id, uint64 cursor_order) const {
    const uint64 n = packs_.size();
    if (packs_[pack_id].retired) return n;
    const uint64 d = (next_use(pack_id, cursor_order).at + n - cursor_order % n) % n;
    return packs_[pack_id].expert < 0 ? d : expert_distance(pack_id, cursor_order, d);
}

uint64 VitalityOracle::use_position(uint64 pack_id, uint64 cursor_order) const { return next_use(pack_id, cursor_order).at; }

bool VitalityOracle::primary_use(uint64 pack_id, uint64 cursor_order) const { return !next_use(pack_id, cursor_order).before; }

bool VitalityOracle::holds_token_row(const PackInfo& p, const std::vector<uint32_t>& tokens) const { return rows_hold_token(p.rows, tokens); }

VitalityScore VitalityOracle::score_pack(const PackMetadata& pack, const std::vector<uint32_t>& tokens, uint32_t current_layer, const HardwareTelemetry& telemetry) {
    const uint64 n = packs_.size();
    VitalityScore s;
    s.distance = (uint64(pack.order) + n - first_order_of(current_layer) % n) % n;
    if (pack.type == PackType::Expert && pack.pack_id < n && packs_[pack.pack_id].expert >= 0)
        s.distance = expert_distance(pack.pack_id, first_order_of(current_layer), s.distance);
    if (pack.type == PackType::Embedding)
        s.relevance = rows_hold_token(slice_rows(pack), tokens) ? 1.0f : 0.0f;
    else
        s.relevance = 1.0f / float(1 + s.distance);
    const double rate = telemetry.disk_bps() > 0 ? telemetry.disk_bps() : kDefaultDiskBytesPerSecond;
    s.hardware = float(double(pack.compressed_size ? pack.compressed_size : pack.byte_size) / rate);
    s.score = s.relevance * s.hardware;
    return s;
}

std::vector<uint64> VitalityOracle::predict(uint64 cursor_order, uint32 lookahead, uint32 count, const std::vector<uint32_t>* tokens) {
    std::vector<uint64> out;
    const uint64 n = packs_.size();
    if (lookahead == 0 || count == 0) return out;
    uint32 layers = 1;
    uint32 prev = packs_[pack_at(cursor_order)].slot;
    std::vector<uint8> taken(n, 0);  // a pack with two use points is listed once
    for (uint64 k = 0; k < n && out.size() < count; ++k) {
        const uint64 id = pack_at(cursor_order + k);
        PackInfo& p = packs_[id];
        if (p.slot != prev) {
            prev = p.slot;
            if (++layers > lookahead) break;
        }
        // Packs whose later use point comes just before this one (a norm pack's ffn_norm).
        for (uint64 b : used_before_[(cursor_order + k) % n]) {
            if (out.size() >= count) break;
            if (taken[b] || packs_[b].retired) continue;
            taken[b] = 1;
            packs_[b].predicted = true;
            out.push_back(b);
        }
        if (out.size() >= count) break;
        if (p.retired || taken[id]) continue;
        if (p.type == PackType::Embedding && !(tokens && holds_token_row(p, *tokens))) continue;
        if (p.expert >= 0 && !expect_expert(id, cursor_order)) continue;
        taken[id] = 1;
        p.predicted = true;
        out.push_back(id);
    }
    return out;
}

std::vector<uint64> VitalityOracle::predict_next_packs(const std::vector<uint32_t>& tokens, uint32_t current_layer, uint32 lookahead, uint32 count) {
    return predict(first_order_of(current_layer), lookahead, count, &tokens);
}

std::vector<uint64> VitalityOracle::predict_from(uint64 cursor_order, uint32 lookahead, uint32 count) { return predict(cursor_order, lookahead, count, nullptr); }

void VitalityOracle::record_access(uint64 pack_id, bool was_used, float predicted_score) {
    PackInfo& p = packs_[pack_id];
    // The lookahead adapts to the dense packs' timing; expert predictions are judged per routing.
    const uint64 window = p.expert < 0 ? 1 : 0;
    if (was_used) {
        p.accesses++;
        if (p.expert < 0 && p.slot < routed_.size()) routed_[p.slot] = 0;  // the layer's next pass began
        if (p.predicted) {
            hits_++, window_hits_ += window;
            score_hits_ += predicted_score;
        } else {
            misses_++, window_misses_ += window;
            score_misses_ += predicted_score;
        }
    } else if (p.predicted) {
        misses_++, window_misses_ += window, unused_++;
        score_misses_ += predicted_score;
    }
    p.predicted = false;
}

void VitalityOracle::update_model() {
    const uint64 total = window_hits_ + window_misses_;
    if (total == 0) return;
    const double rate = double(window_hits_) / double(total);
    const uint32 widest = 2 * opts_.prefetch_lookahead;
    if (rate < kWidenBelow)
        lookahead_ = std::min(lookahead_ + 1, widest);
    else if (rate >= kNarrowAtOrAbove && lookahead_ > opts_.prefetch_lookahead)
        lookahead_--;
    window_hits_ = window_misses_ = 0;
    updates_++;
}

OracleStats VitalityOracle::stats() const {
    OracleStats s;
    s.hits = hits_;
    s.misses = misses_;
    s.unused_predictions = unused_;
    s.hit_rate = hits_ + misses_ ? double(hits_) / double(hits_ + misses_) : 0.0;
    s.effective_lookahead = lookahead_;
    s.updates = updates_;
    s.mean_score_hits = hits_ ? score_hits_ / double(hits_) : 0.0;
    s.mean_score_misses = misses_ ? score_misses_ / double(misses_) : 0.0;
    s.expert_hits = expert_hits_;
    s.expert_misses = expert_misses_;
    s.expert_hit_rate = expert_hits_ + expert_misses_ ? double(expert_hits_) / double(expert_hits_ + expert_misses_) : 0.0;
    return s;
}

bool VitalityOracle::should_evict_for_prefetch(uint64 victim_id, uint64 incoming_id, uint64 cursor_order) const {
    if (packs_[victim_id].retired) return !packs_[incoming_id].retired;
    const double margin = (1.0 - double(opts_.eviction_aggression)) * double(packs_.size());
    return double(distance(victim_id, cursor_order)) > double(distance(incoming_id, cursor_order)) + margin;
}

uint64 VitalityOracle::choose_victim(const std::vector<uint64>& candidates, uint64 cursor_order) const {
    uint64 best = kNoPack, best_d = 0;
    for (uint64 id : candidates) {
        const uint64 d = distance(id, cursor_order);
        if (best == kNoPack || d > best_d) best = id, best_d = d;
    }
    return best;
}

void VitalityOracle::set_retired(const std::vector<uint64>& pack_ids) {
    for (auto& p : packs_) p.retired = false;
    for (uint64 id : pack_ids)
        if (id < packs_.size()) packs_[id].retired = true;
}

}  // namespace vk_symbiote
