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
        case TensorRole::Wdown: return PackType::MLP;
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

    ExpectedVoid add_tensor(size_t tensor_index, const TensorDesc& d, PackType type, int32 layer) {
        const uint64 rb = d.row_bytes();
        const std::string& gguf_name = d.name;
        if (rb > max_)
            return make_error(ErrorCode::InvalidArgument, "max_pack_bytes " + std::to_string(max_) + " is smaller than one row of tensor '" + d.name + "' (" +
                                                              std::to_string(rb) + " bytes)");
        uint64 row = 0;
        while (row < d.rows) {
            if (!open_) open_pack(type, layer);
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
    void open_pack(PackType type, int32 layer) {
        PackMetadata p;
        p.pack_id = plan_.packs.size();
        p.order = uint32(plan_.packs.size());
        p.type = type;
        p.layer = layer;
        plan_.packs.push_back(std::move(p));
        open_ = true;
    }

    PackPlan& plan_;
    uint64 max_;
    bool open_ = false;
};

void compute_summary(PackPlan& plan) {
    std::map<int32, uint64> per_layer;  // layer -> resident bytes; -1 collects output norm + output
    for (const auto& p : plan.packs) {
        plan.largest_pack_bytes = std::max(plan.largest_pack_bytes, p.byte_size);
        plan.total_bytes += p.byte_size;
        per_layer[p.layer] += pack_buffer_bytes(p.byte_size);
    }
    for (auto& [layer, bytes] : per_layer) {
        if (bytes > plan.working_set_bytes) {
            plan.working_set_bytes = bytes;
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

    // Groups in use order: per layer [norms][attention][mlp], then [output_norm][output].
    int32 n_layer = 0;
    for (const auto& d : ts) n_layer = std::max(n_layer, d.id.layer + 1);
    auto emit_group = [&](int32 layer, PackType type) -> ExpectedVoid {
        for (size_t i = 0; i < ts.size(); ++i) {
            const TensorDesc& d = ts[i];
            if (d.id.role == TensorRole::TokenEmbd || d.id.layer != layer || pack_type_for(d.id.role) != type) continue;
            TensorDesc src = d;
            // A tied output reads token_embd's bytes: name the tensor that owns them.
            if (d.id.role == TensorRole::Output) {
                const TensorDesc* e = reg.find({TensorRole::TokenEmbd, -1});
                if (e && e->file_offset == d.file_offset) src.name = e->name;
            }
            VKS_TRY(b.add_tensor(i, src, type, layer));
        }
        b.close();
        return {};
    };
    for (int32 l = 0; l < n_layer; ++l)
        for (PackType t : {PackType::Norm, PackType::Attention, PackType::MLP}) VKS_TRY(emit_group(l, t));
    VKS_TRY(emit_group(-1, PackType::OutputNorm));
    VKS_TRY(emit_group(-1, PackType::Output));
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
