#include "model/CopyCycle.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "model/ModelGenerator.h"

namespace vk_symbiote {

namespace {

// Regular tokens of a generated vocabulary: after the 3 specials and 256 byte tokens, before the
// family's chat tokens (the vocabulary's last ids). [first, end).
struct RegularRange {
    uint32 first = 259;
    uint32 end = 0;
};

RegularRange regular_range(const ModelShape& s) {
    const uint32 chat = uint32(chat_special_tokens(s.chat).size());
    return {259, s.n_vocab > 259 + chat ? s.n_vocab - chat : 259};
}

uint64 mix(uint64 z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

}  // namespace

ExpectedVoid validate_copy_cycle(const ModelShape& s) {
    if (s.copy_cycle == 0) return {};
    auto bad = [&](const std::string& what) { return make_error(ErrorCode::InvalidArgument, "model shape '" + s.name + "': copy_cycle: " + what); };
    const RegularRange r = regular_range(s);
    if (s.copy_cycle < 2 || s.copy_cycle > r.end - r.first)
        return bad(std::to_string(s.copy_cycle) + " must be in 2.." + std::to_string(r.end - r.first) + " (the regular tokens of a " +
                   std::to_string(s.n_vocab) + "-token vocabulary)");
    if (s.tied_output) return bad("needs an output matrix of its own (this shape ties the head to the embedding)");
    if (s.router_skew != 0.0f) return bad("cannot be combined with router_skew (both rewrite the embedding's role)");
    if (model_config_for_shape(s).has_post_norms) return bad(s.architecture + "'s post-norms would undo the scaled layer inputs");
    return {};
}

std::vector<uint32> copy_cycle_tokens(const ModelShape& s, uint64 seed) {
    const RegularRange r = regular_range(s);
    if (s.copy_cycle == 0 || s.copy_cycle > r.end - r.first) return {};
    // A partial Fisher-Yates shuffle of the regular ids: the first copy_cycle are the cycle.
    std::vector<uint32> ids(r.end - r.first);
    std::iota(ids.begin(), ids.end(), r.first);
    uint64 state = mix(seed ^ 0xc0c1e5ull);
    for (uint32 i = 0; i < s.copy_cycle; ++i) {
        state = mix(state);
        const uint32 j = i + uint32(state % uint64(ids.size() - i));
        std::swap(ids[i], ids[j]);
    }
    ids.resize(s.copy_cycle);
    return ids;
}

std::vector<uint32> copy_cycle_head_rows(uint32 n_vocab, const std::vector<uint32>& cycle) {
    std::vector<uint32> rows(n_vocab);
    std::iota(rows.begin(), rows.end(), 0u);  // pi fixes every token outside the cycle
    for (size_t i = 0; i < cycle.size(); ++i) rows[cycle[(i + 1) % cycle.size()]] = cycle[i];  // pi(c_i) = c_{i+1}
    return rows;
}

float copy_cycle_layer_scale(const ModelConfig& c, float weight_std) {
    const double per_layer = double(c.n_embd) * double(weight_std);  // attention output / embedding, per unit of scale
    return float(0.05 / (std::sqrt(double(c.n_layer)) * per_layer));
}

bool copy_cycle_scales_role(TensorRole role) {
    switch (role) {
        case TensorRole::AttnNorm:
        case TensorRole::FfnNorm:
        case TensorRole::BiasQ:
        case TensorRole::BiasK:
        case TensorRole::BiasV: return true;
        default: return false;
    }
}

TensorFillFn permuted_rows_fill(TensorFillFn source, std::vector<uint32> rows_from, uint64 row_bytes) {
    return [source = std::move(source), rows = std::move(rows_from), row_bytes](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
        // Each destination row's part of [off, off + n) comes from the same part of its source row.
        for (uint64 at = off; at < off + n;) {
            const uint64 r = at / row_bytes, in_row = at % row_bytes;
            const uint64 take = std::min(row_bytes - in_row, off + n - at);
            if (r >= rows.size()) return make_error(ErrorCode::Internal, "permuted_rows_fill: row " + std::to_string(r) + " past the table");
            VKS_TRY(source(uint64(rows[r]) * row_bytes + in_row, dst + (at - off), take));
            at += take;
        }
        return {};
    };
}

Expected<std::vector<uint32>> read_copy_cycle(const ModelSource& source, uint32 n_vocab) {
    const GGUFValue* v = source.find(kCopyCycleKey);
    if (!v) return std::vector<uint32>{};
    auto bad = [&](const std::string& what) {
        return make_error(ErrorCode::InvalidArgument, source.path().string() + ": " + kCopyCycleKey + ": " + what);
    };
    const GGUFType e = v->elem_type;
    const bool integers = e != GGUFType::BOOL && e != GGUFType::F32 && e != GGUFType::F64 && e != GGUFType::STRING && e != GGUFType::ARRAY;
    if (v->type != GGUFType::ARRAY || !integers || v->arr_i.size() != v->arr_len) return bad("is not an array of integer token ids");
    if (v->arr_i.size() < 2) return bad("a cycle needs at least 2 tokens");
    std::vector<uint32> out;
    for (int64 t : v->arr_i) {
        if (t < 0 || uint64(t) >= n_vocab) return bad("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(n_vocab));
        out.push_back(uint32(t));
    }
    return out;
}

}  // namespace vk_symbiote
