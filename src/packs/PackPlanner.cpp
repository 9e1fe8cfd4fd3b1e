#include "packs/PackPlanner.h"

#include <algorithm>
#include <map>

#include "packs/WeightPack.h"

namespace vk_symbiote {

PackType pack_type_for(TensorRole r) {
    switch (r) {
        case TensorRole::TokenEmbd: return PackType::Embedding;
        case TensorRole::OutputNorm: return PackType::OutputNorm;
        case TensorRole::Output: return PackType::Output;
        case TensorRole::Wq:
        case TensorRole::Wk:
        case TensorRole::Wv:
        case TensorRole::Wo: return PackType::Attention;
        case TensorRole::Wgate:
        case TensorRole::Wup:
        case TensorRole::Wdown:
        case TensorRole::Router: return PackType::MLP;  // a MoE layer's MLP packs: its router
        case TensorRole::ExpGate:
        case TensorRole::ExpUp:
        case TensorRole::ExpDown: return PackType::Expert;
        default: break;
    }
    // A layer's vectors (norms, head norms, post norms, biases) share its Norm pack.
    VKS_CHECK(tensor_role_is_vector(r), std::string("no pack type for tensor role ") + tensor_role_name(r));
    return PackType::Norm;
}

namespace {

// Builds packs for one group (same layer, same PackType) of tensors, in order.
class GroupBuilder {
public:
    GroupBuilder(PackPlan& plan, uint64 max_bytes) : plan_(plan), max_(max_bytes) {}

    ExpectedVoid add_tensor(size_t tensor_index, const TensorDesc& d, PackType type, int32 layer, int32 expert) {
        const uint64 rb = d.row_bytes();
        const std::string& gguf_name = d.name;
        if (rb > max_)
            return make_error(ErrorCode::InvalidArgument, "max_pack_bytes " + std::to_string(max_) + " is smaller than one row of tensor '" + d.name + "' (" +
                                                              std::to_string(rb) + " bytes)");
        uint64 row = 0;
        while (row < d.rows) {
            if (!open_) open_pack(type, layer, expert);
            PackMetadata& p = plan_.packs.back();
            const uint64 file_off = d.file_offset + row * rb;
            uint64 start = align_up(p.byte_size, PackPlan::kSliceAlign);
            if (!p.slices.empty()) {
                const PackSlice& prev = p.slices.back();
                const uint64 prev_end = prev.file_offset + prev.byte_size;
                if (file_off >= prev_end && file_off - prev_end <= PackPlan::kMaxMirroredGap) start = p.byte_size + (file_off - prev_end);
            } else {
                start = 0;
            }
            const uint64 avail = start < max_ ? max_ - start : 0;
            const uint64 take = std::min<uint64>(d.rows - row, avail / rb);
            if (take == 0) {  // pack full: close it (it is non-empty since rb <= max_)
                open_ = false;
                continue;
            }
            PackSlice s;
            s.tensor_name = gguf_name;
            s.row_begin = row;
            s.row_end = row + take;
            s.file_offset = file_off;
            s.byte_size = take * rb;
            s.pack_offset = start;
            p.byte_size = start + s.byte_size;
            plan_.tensor_packs[tensor_index].push_back({p.pack_id, uint32(p.slices.size())});
            p.slices.push_back(std::move(s));
            row += take;
        }
        return {};
    }

    void close() { open_ = false; }

private:
    void open_pack(PackType type, int32 layer, int32 expert) {
        PackMetadata p;
        p.pack_id = plan_.packs.size();
        p.order = uint32(plan_.packs.size());
        p.type = type;
        p.layer = layer;
        p.expert = expert;
        plan_.packs.push_back(std::move(p));
        open_ = true;
    }

    PackPlan& plan_;
    uint64 max_;
    bool open_ = false;
};

// The largest set of packs pinned together: a layer's packs, or the head's. Of a layer with
// experts only one expert's packs count (the forward pass computes one expert at a time).
void compute_summary(PackPlan& plan) {
    std::map<int32, uint64> dense;                       // layer -> resident bytes; -1 collects output norm + output
    std::map<std::pair<int32, int32>, uint64> experts;   // (layer, expert) -> resident bytes
    for (const auto& p : plan.packs) {
        plan.largest_pack_bytes = std::max(plan.largest_pack_bytes, p.byte_size);
        plan.total_bytes += p.byte_size;
        if (p.type == PackType::Expert) experts[{p.layer, p.expert}] += pack_buffer_bytes(p.byte_size);
        else dense[p.layer] += pack_buffer_bytes(p.byte_size);
    }
    std::map<int32, uint64> largest_expert;  // layer -> bytes of its largest expert
    for (const auto& [key, bytes] : experts) largest_expert[key.first] = std::max(largest_expert[key.first], bytes);
    for (auto& [layer, bytes] : dense) {
        const uint64 set = bytes + largest_expert[layer];
        if (set > plan.working_set_bytes) {
            plan.working_set_bytes = set;
            plan.working_set_what = layer < 0 ? "output" : "layer " + std::to_string(layer);
        }
    }
}

}  // namespace

Expected<PackPlan> plan_packs(const TensorRegistry& reg, const PackPlanOptions& opts) {
    if (opts.max_pack_bytes < PackPlan::kSliceAlign)
        return make_error(ErrorCode::InvalidArgument, "max_pack_bytes " + std::to_string(opts.max_pack_bytes) + " is below the minimum of " +
                                                          std::to_string(PackPlan::kSliceAlign) + " bytes");
    PackPlan plan;
    plan.max_pack_bytes = opts.max_pack_bytes;
    const auto& ts = reg.tensors();
    plan.tensor_packs.resize(ts.size());
    GroupBuilder b(plan, opts.max_pack_bytes);

    // Groups in use order: per layer [norms][attention][mlp][expert 0]...[expert n-1], then
    // [output_norm][output].
    int32 n_layer = 0, n_expert = 0;
    for (const auto& d : ts) n_layer = std::max(n_layer, d.id.layer + 1), n_expert = std::max(n_expert, d.id.expert + 1);
    // One group: the tensors of `layer` of pack type `type` (and of expert `expert` for Expert
    // packs), each group in packs of its own.
    std::vector<std::vector<size_t>> by_layer(size_t(n_layer) + 1);  // layer + 1 -> tensor indices (0: the head's)
    for (size_t i = 0; i < ts.size(); ++i)
        if (ts[i].id.role != TensorRole::TokenEmbd) by_layer[size_t(ts[i].id.layer + 1)].push_back(i);
    auto emit_group = [&](int32 layer, PackType type, int32 expert) -> ExpectedVoid {
        for (size_t i : by_layer[size_t(layer + 1)]) {
            const TensorDesc& d = ts[i];
            if (pack_type_for(d.id.role) != type || d.id.expert != expert) continue;
            TensorDesc src = d;
            // A tied output reads token_embd's bytes: name the tensor that owns them.
            if (d.id.role == TensorRole::Output) {
                const TensorDesc* e = reg.find({TensorRole::TokenEmbd, -1});
                if (e && e->file_offset == d.file_offset) src.name = e->name;
            }
            VKS_TRY(b.add_tensor(i, src, type, layer, expert));
        }
        b.close();
        return {};
    };
    for (int32 l = 0; l < n_layer; ++l) {
        for (PackType t : {PackType::Norm, PackType::Attention, PackType::MLP}) VKS_TRY(emit_group(l, t, -1));
        for (int32 e = 0; e < n_expert; ++e) VKS_TRY(emit_group(l, PackType::Expert, e));
    }
    VKS_TRY(emit_group(-1, PackType::OutputNorm, -1));
    VKS_TRY(emit_group(-1, PackType::Output, -1));
    compute_summary(plan);
    return plan;
}

std::vector<PackPlan::Extent> PackPlan::extents(const PackMetadata& p) {
    std::vector<Extent> out;
    for (const auto& s : p.slices) {
        if (!out.empty()) {
            Extent& e = out.back();
            // Continue the extent when the buffer mirrors the file across the gap.
            if (s.file_offset >= e.file_offset + e.size && s.pack_offset >= e.pack_offset + e.size &&
                s.file_offset - e.file_offset == s.pack_offset - e.pack_offset) {
                e.size = s.file_offset + s.byte_size - e.file_offset;
                continue;
            }
        }
        out.push_back({s.file_offset, s.byte_size, s.pack_offset});
    }
    return out;
}

}  // namespace vk_symbiote
