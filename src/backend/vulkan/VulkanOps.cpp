#include "backend/vulkan/VulkanOps.h"

#include "backend/vulkan/FlashAttention.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace vk_symbiote {

namespace {

using gpu::MatmulParams;
static_assert(sizeof(MatmulParams) <= kPushConstantBytes, "MatmulParams must fit the push-constant range");

Expected<VkPipeline> pipeline(OpContext& c, Kernel k, DType t) { return op_pipeline(c, k, t); }
std::array<BufferBinding, kNumBindings> bindings(const OpContext& c) { return op_bindings(c); }

// Rows [w.row_begin, w.rows) of `w` split at every piece boundary of `w` and (optionally)
// `w2`; calls fn(row_begin, rows, piece of w, piece of w2).
template <class Fn>
ExpectedVoid for_each_segment(const DeviceWeight& w, const DeviceWeight* w2, Fn&& fn) {
    size_t i = 0, j = 0;
    uint32 r = w.row_begin;
    if (w2 && w2->row_begin != w.row_begin) return make_error(ErrorCode::Internal, "paired device weights start at different rows");
    while (r < w.rows) {
        while (i < w.pieces.size() && w.pieces[i].row_begin + w.pieces[i].rows <= r) ++i;
        if (i == w.pieces.size()) return make_error(ErrorCode::Internal, "device weight pieces do not cover the rows");
        uint32 end = w.pieces[i].row_begin + w.pieces[i].rows;
        const WeightPiece* p2 = nullptr;
        if (w2) {
            while (j < w2->pieces.size() && w2->pieces[j].row_begin + w2->pieces[j].rows <= r) ++j;
            if (j == w2->pieces.size()) return make_error(ErrorCode::Internal, "device weight pieces do not cover the rows");
            p2 = &w2->pieces[j];
            end = std::min(end, p2->row_begin + p2->rows);
        }
        VKS_TRY(fn(r, end - r, w.pieces[i], p2));
        r = end;
    }
    return {};
}

MatmulParams base_params(const DeviceWeight& w, ActView x, ActView y, uint32 n_tokens) {
    MatmulParams p{};
    p.cols = w.cols;
    p.n_tokens = n_tokens;
    p.x_offset = x.offset;
    p.x_stride = x.stride;
    p.y_stride = y.stride;
    return p;
}

// Lanes per unit of a matvec-path dispatch of `units` units (one row or small-N alike).
uint32 matvec_lanes(const OpContext& c, uint32 units) {
    const uint32 lanes = c.subgroup_size >= 4 && c.subgroup_size <= 128 ? c.subgroup_size : 32;
    return units < 8192 ? std::max(lanes, c.matvec_small_lanes) : lanes;
}

// The staged small-N kernel's x chunk (matvec.comp XCH) for workgroups of wg_x lanes and bt
// tokens: the most whole multiples of wg_x packets (8 f32 columns, 32 bytes, per token) within
// kStagedXBytes of shared memory (Vulkan's minimum maxComputeSharedMemorySize; the reductions
// need a few KiB more, which every device we know of has); 0 when not even wg_x packets fit
// (e.g. 32-row blocks at 32 lanes, or 16 at 64): such batches run the Lanes kernel.
constexpr uint32 kStagedXBytes = 16384;
uint32 staged_chunk(uint32 wg_x, uint32 bt) { return wg_x * (kStagedXBytes / (bt * wg_x * 32)); }

// The regs kernel's x chunk (matvec_regs.glsl) for a wg_x x wg_y workgroup and bt tokens: whole
// multiples of wg_x packets (32 bytes per token) within the device's shared memory (at most
// kRegsSharedBytes, less what the reductions use: row_red, red_sh, ss_sh), and at most
// kRegsPrefetch packets per invocation (the x registers it fills a chunk ahead: 8 floats each);
// 0 when not even wg_x packets fit (the batch runs the Lanes kernel).
constexpr uint32 kRegsSharedBytes = 49152;
constexpr uint32 kRegsPrefetch = 4;
uint32 regs_chunk(const OpContext& c, uint32 wg_x, uint32 wg_y, uint32 bt) {
    const uint32 device = c.rt.max_shared_memory_bytes() ? c.rt.max_shared_memory_bytes() : 16384;  // 16384: Vulkan's minimum
    const uint32 reductions = wg_x * wg_y * (16 + 8) + bt * wg_x * 4 + 64;
    const uint32 shared = std::min(device, kRegsSharedBytes);
    if (shared <= reductions) return 0;
    const uint32 by_memory = (shared - reductions) / (bt * 32 * wg_x);
    const uint32 tokens_per_thread = (bt + wg_y - 1) / wg_y;
    const uint32 by_registers = std::max<uint32>(1, kRegsPrefetch / tokens_per_thread);
    return wg_x * std::min(by_memory, by_registers);
}

// The specialization a weight kernel runs with (see OpContext::tuned_workgroups).
// units: the dispatch's units (dispatch_matmul), for the matvec shape; bt: the small-N block (1: none);
// staged: the small-N block runs the staged kernel (its x chunk is set by the caller from the
// effective workgroup).
ShaderSpecialization kernel_spec(const OpContext& c, Kernel k, uint32 units, uint32 bt, bool staged) {
    ShaderSpecialization s = c.spec;
    if (bt > 1) {  // small-N: bt tokens per workgroup, units per thread row by the accumulator count
        s.batch_tokens = bt;
        s.batch_units = bt <= 16 ? 2 : 1;
    }
    if (k == Kernel::MatmulCoop || k == Kernel::MatmulCoopSwiglu) {  // fixed: 8 subgroups of 32 (matmul_coop.comp)
        s.workgroup_size_x = VKS_COOP_THREADS;
        s.workgroup_size_y = 1;
        return s;
    }
    if (!c.tuned_workgroups) return s;
    if (k == Kernel::Matmul || k == Kernel::MatmulSwiglu) {
        s.workgroup_size_x = 16;
        s.workgroup_size_y = 16;
    } else {
        // Matvec is bound by how many weight loads are in flight: few units (a 4096-row matrix:
        // 2048) leave a large GPU's warp slots mostly empty, so below 8192 units each unit gets
        // OpContext::matvec_small_lanes lanes (several subgroups over k, summed in shared
        // memory): 64 by default, 2 units per workgroup (docs/tuning.md).
        // Small-N takes the lanes a one-row matvec of the same dispatch has: every output then sums
        // in the same order (matvec.comp), so a row's result does not depend on the pass's row
        // count (speculative decoding: verification rows give the logits of one-row passes).
        // Staged: 256 invocations, so that each staged chunk of x serves twice the weight rows.
        s.workgroup_size_x = matvec_lanes(c, units);
        s.workgroup_size_y = std::max<uint32>(1, (staged ? 256 : 128) / s.workgroup_size_x);
    }
    return s;
}

// 16-byte loads are possible when every row starts at a multiple of 8 elements (16 bytes of
// 16-bit weights, 32 of f32), x rows at multiples of 4 floats, and the bindings at 16 bytes.
bool wide_loads_ok(const MatmulParams& p, const WeightPiece& w0, const WeightPiece* w1) {
    return p.cols % 8 == 0 && p.w_offset % 8 == 0 && p.w1_offset % 8 == 0 && p.x_offset % 4 == 0 && p.x_stride % 4 == 0 &&
           p.norm_offset % 4 == 0 && w0.offset % 16 == 0 && (!w1 || w1->offset % 16 == 0);
}

// Checks a fused norm request and puts it into p; `plain` -> its NORM kernel when norm is set.
Expected<Kernel> apply_norm(const OpContext& c, const FusedNorm* norm, uint32 n_tokens, Kernel plain, MatmulParams& p) {
    if (!norm) return plain;
    if (!fused_norm_applies(c, n_tokens))
        return make_error(ErrorCode::InvalidArgument, "fused rmsnorm: only for matvec-path batches (n_tokens " + std::to_string(n_tokens) +
                                                          " runs the tiled matmul): run op_rmsnorm first");
    if (!norm->gamma) return make_error(ErrorCode::InvalidArgument, "fused rmsnorm: no gamma buffer");
    p.norm_offset = norm->offset;
    p.norm_eps = norm->eps;
    switch (plain) {
        case Kernel::Matvec: return Kernel::MatvecNorm;
        case Kernel::MatvecRope: return Kernel::MatvecRopeNorm;
        case Kernel::MatvecSwiglu: return Kernel::MatvecSwigluNorm;
        default: return make_error(ErrorCode::Internal, std::string("fused rmsnorm: no NORM variant of ") + kernel_name(plain));
    }
}

// units: matvec: units of two dot products (plain: row pairs, rope: rotated pairs, swiglu:
// rows); matmul: logical rows (plain / rope: rows, swiglu: 2 * rows).
// The tensor-core kernel replaces the tiled one for f16 weights with f16 products allowed
// (it rounds x to f16 like the FP16_ARITH variants), 16-byte aligned rows (matmul_coop.comp
// stages 8 values per load) and a device that has it; otherwise matmul.comp runs.
Kernel batch_kernel(const OpContext& c, Kernel k, DType t, const MatmulParams& p) {
    if (k != Kernel::Matmul && k != Kernel::MatmulSwiglu) return k;
    if (!c.coop_matmul || !c.rt.cooperative_matrix() || t != DType::F16 || !p.vec8 || !c.rt.effective(c.spec).use_fp16_math) return k;
    return k == Kernel::Matmul ? Kernel::MatmulCoop : Kernel::MatmulCoopSwiglu;
}

// A weight kernel's optional inputs: the rope (cos, sin) table (binding 5), a NORM kernel's f32
// norm weight (binding 4), a row bias (binding 1; p.bias_offset) and the family features
// (KernelFeature bits) it is specialized for.
struct KernelExtras {
    VkBuffer table = VK_NULL_HANDLE;
    VkBuffer gamma = VK_NULL_HANDLE;
    VkBuffer bias = VK_NULL_HANDLE;
    uint32 features = 0;
};

// A weight kernel's dispatch: direct, or from the next indirect slot (OpContext::indirect).
ExpectedVoid dispatch(OpContext& c, VkPipeline pl, VkDescriptorSet set, uint32 gx, uint32 gy, uint32 gz) {
    IndirectSlots* ind = c.indirect;
    if (!ind) {
        c.rt.dispatch_compute(pl, set, gx, gy, gz);
        return {};
    }
    if (ind->next >= ind->capacity) return make_error(ErrorCode::Internal, "indirect dispatches: all " + std::to_string(ind->capacity) + " slots used");
    const uint32 slot = ind->first + ind->next++;
    uint32* s = ind->slots + 4ull * slot;
    s[0] = gx, s[1] = gy, s[2] = gz, s[3] = ind->expert;
    c.rt.dispatch_indirect(pl, set, ind->args, uint64(slot) * 16);
    return {};
}

ExpectedVoid dispatch_matmul(OpContext& c, Kernel k, DType t, MatmulParams p, const WeightPiece& w0, const WeightPiece* w1,
                             ActView x, ActView y, uint32 units, const KernelExtras& e = {}) {
    p.vec8 = wide_loads_ok(p, w0, w1);
    k = batch_kernel(c, k, t, p);
    const bool coop = k == Kernel::MatmulCoop || k == Kernel::MatmulCoopSwiglu;
    const bool tiled = coop || k == Kernel::Matmul || k == Kernel::MatmulSwiglu;
    const uint32 bt = tiled ? 1 : smalln_block(c, p.n_tokens);
    ShaderSpecialization spec = weight_kernel_spec(c, k, units, bt, p.vec8 != 0);
    spec.features = e.features | (e.bias ? uint32(kFeatureBias) : 0u);
    VkPipeline pl = c.rt.get_pipeline(k, t, spec);
    if (!pl) return make_error(ErrorCode::Device, std::string("pipeline ") + kernel_name(k) + ": " + c.rt.last_error());
    auto b = bindings(c);
    b[0] = piece_binding(w0);
    if (w1) b[1] = piece_binding(*w1);
    if (e.bias) b[1].buffer = e.bias;
    b[2].buffer = x.buffer;
    b[3].buffer = y.buffer;
    if (e.gamma) b[4].buffer = e.gamma;
    if (e.table) b[5].buffer = e.table;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    const auto s = c.rt.effective(spec);
    if (tiled) {
        // Tile: (WG_X * TM logical rows) x (WG_Y * TN tokens), see matmul.comp; coop: BM x BN.
        const uint32 bm = coop ? VKS_COOP_BM : s.workgroup_size_x * VKS_MATMUL_TM;
        const uint32 bn = coop ? VKS_COOP_BN : s.workgroup_size_y * VKS_MATMUL_TN;
        const uint32 gx = (units + bm - 1) / bm;
        const uint32 gy = (p.n_tokens + bn - 1) / bn;
        if (gx > c.max_groups_x) return make_error(ErrorCode::Unsupported, "matmul: " + std::to_string(units) + " rows need more than " +
                                                                               std::to_string(c.max_groups_x) + " workgroups");
        p.groups_x = gx;
        c.rt.push_constants(&p, sizeof p);
        VKS_TRY(dispatch(c, pl, *set, gx, gy, 1));
    } else {  // (unit groups, token blocks of bt, unit groups beyond max_groups_x)
        const uint32 per_group = s.workgroup_size_y * s.batch_units;
        const uint32 groups = (units + per_group - 1) / per_group;
        const uint32 gx = std::min(groups, c.max_groups_x);
        p.groups_x = gx;
        c.rt.push_constants(&p, sizeof p);
        VKS_TRY(dispatch(c, pl, *set, gx, (p.n_tokens + bt - 1) / bt, (groups + gx - 1) / gx));
    }
    return {};
}

// The rmsnorm kernels' workgroup. Tuned: one workgroup of up to 1024 invocations per token (4
// elements each for a 4096 embedding instead of 16 at 16 x 16: the single workgroup's serial
// load chain is the cost).
ShaderSpecialization rmsnorm_spec(const OpContext& c) {
    ShaderSpecialization spec = c.spec;
    if (c.tuned_workgroups) {
        const uint32 lanes = c.subgroup_size >= 4 && c.subgroup_size <= 128 ? c.subgroup_size : 32;
        spec.workgroup_size_x = lanes;
        spec.workgroup_size_y = std::max<uint32>(1, std::min<uint32>(1024, c.rt.max_workgroup_invocations()) / lanes);
    }
    return spec;
}

uint32 elem_offset(const DeviceWeight& w, const WeightPiece& piece, uint32 row) {
    return (row - piece.row_begin) * w.cols;
}

}  // namespace

bool matvec_path(const OpContext& c, uint32 n_tokens) { return n_tokens <= kMatvecMaxTokens || smalln_block(c, n_tokens) > 1; }

uint32 smalln_block(const OpContext& c, uint32 n_tokens) {
    if (n_tokens < 2 || n_tokens > std::min(c.smalln_max_tokens, kSmallNMaxTokens)) return 1;
    const uint32 cap = std::clamp<uint32>(std::bit_floor(std::max<uint32>(c.smalln_block, 2)), 2, kSmallNMaxBlock);
    return std::min(cap, std::bit_ceil(n_tokens));
}

// Staged or regs (OpContext::smalln_kernel) for 16-byte-aligned rows (vec8) where a chunk fits,
// the Lanes kernel otherwise.
ShaderSpecialization weight_kernel_spec(const OpContext& c, Kernel k, uint32 units, uint32 bt, bool vec8) {
    const bool staged = bt > 1 && vec8 && c.smalln_kernel != SmallNKernel::Lanes;
    const bool regs = staged && c.smalln_kernel == SmallNKernel::Regs;
    ShaderSpecialization spec = kernel_spec(c, k, units, bt, staged);
    if (!staged) return spec;
    const uint32 chunk = regs ? regs_chunk(c, spec.workgroup_size_x, spec.workgroup_size_y, bt) : staged_chunk(spec.workgroup_size_x, bt);
    if (chunk == 0) return kernel_spec(c, k, units, bt, false);
    spec.batch_chunk = chunk;
    spec.batch_regs = regs ? 1 : 0;
    return spec;
}

std::vector<float> rope_table(uint32 n_pos, uint32 n_rot, float freq_base, float freq_scale, const float* factors) {
    std::vector<float> t(size_t(n_pos) * (n_rot / 2) * 2);
    for (uint32 pos = 0; pos < n_pos; ++pos)
        for (uint32 i = 0; i < n_rot / 2; ++i) {
            double theta = double(pos) * freq_scale * std::pow(double(freq_base), -2.0 * i / double(n_rot));
            if (factors) theta /= double(factors[i]);
            t[(size_t(pos) * (n_rot / 2) + i) * 2] = float(std::cos(theta));
            t[(size_t(pos) * (n_rot / 2) + i) * 2 + 1] = float(std::sin(theta));
        }
    return t;
}

ExpectedVoid op_matmul(OpContext& c, const DeviceWeight& w, ActView x, ActView y, uint32 n_tokens, bool accumulate, bool round_f16,
                       const FusedNorm* norm, const RowBias* bias) {
    const bool matvec = matvec_path(c, n_tokens);
    MatmulParams base = base_params(w, x, y, n_tokens);
    auto k = apply_norm(c, norm, n_tokens, matvec ? Kernel::Matvec : Kernel::Matmul, base);
    if (!k) return k.error();
    KernelExtras e;
    e.gamma = norm ? norm->gamma : VK_NULL_HANDLE;
    e.bias = bias ? bias->buffer : VK_NULL_HANDLE;
    return for_each_segment(w, nullptr, [&](uint32 r, uint32 rows, const WeightPiece& p0, const WeightPiece*) -> ExpectedVoid {
        MatmulParams p = base;
        p.rows = rows;
        p.y_offset = y.offset + r;
        p.accumulate = accumulate;
        p.round_f16 = round_f16;
        p.w_offset = elem_offset(w, p0, r);
        p.bias_offset = bias ? bias->offset + r : 0;
        return dispatch_matmul(c, *k, w.dtype, p, p0, nullptr, x, y, matvec ? (rows + 1) / 2 : rows, e);
    });
}

ExpectedVoid op_matmul_rope(OpContext& c, const DeviceWeight& w, ActView x, ActView y, uint32 n_tokens, const RopeConfig& rope,
                            const FusedNorm* norm, const RowBias* bias) {
    if (!rope.table) return make_error(ErrorCode::InvalidArgument, "rope: no cos/sin table buffer");
    if (rope.head_dim == 0 || rope.head_dim % 2 || rope.n_rot > rope.head_dim || rope.n_rot % 2 || w.rows % rope.head_dim)
        return make_error(ErrorCode::InvalidArgument, "rope: head_dim " + std::to_string(rope.head_dim) + " / n_rot " +
                                                          std::to_string(rope.n_rot) + " do not fit " + std::to_string(w.rows) + " rows");
    MatmulParams base = base_params(w, x, y, n_tokens);
    auto k = apply_norm(c, norm, n_tokens, Kernel::MatvecRope, base);
    if (!k) return k.error();
    KernelExtras e;
    e.table = rope.table;
    e.gamma = norm ? norm->gamma : VK_NULL_HANDLE;
    e.bias = bias ? bias->buffer : VK_NULL_HANDLE;
    return for_each_segment(w, nullptr, [&](uint32 r, uint32 rows, const WeightPiece& p0, const WeightPiece*) -> ExpectedVoid {
        if (r % rope.head_dim || rows % rope.head_dim)
            return make_error(ErrorCode::Unsupported, "fused matmul+rope: a weight piece boundary (row " + std::to_string(r) +
                                                          ") is not at a head boundary (head_dim " + std::to_string(rope.head_dim) + ")");
        MatmulParams p = base;
        p.rows = rows;
        p.y_offset = y.offset + r;
        p.w_offset = elem_offset(w, p0, r);
        p.pos0 = rope.pos0;
        p.head_dim = rope.head_dim;
        p.n_rot = rope.n_rot;
        p.rope_neox = rope.neox;
        p.freq_base = rope.freq_base;
        p.freq_scale = rope.freq_scale;
        p.round_f16 = rope.round_f16;
        p.bias_offset = bias ? bias->offset + r : 0;
        if (matvec_path(c, n_tokens)) return dispatch_matmul(c, *k, w.dtype, p, p0, nullptr, x, y, rows / 2, e);
        KernelExtras batch = e;  // the tiled kernel's rope epilogue (head_dim != 0); batches have no fused norm
        batch.gamma = VK_NULL_HANDLE;
        return dispatch_matmul(c, Kernel::Matmul, w.dtype, p, p0, nullptr, x, y, rows, batch);
    });
}

ExpectedVoid op_swiglu(OpContext& c, const DeviceWeight& gate, const DeviceWeight& up, ActView x, ActView y, uint32 n_tokens,
                       const FusedNorm* norm, FfnActivation act) {
    if (gate.rows != up.rows || gate.cols != up.cols || gate.dtype != up.dtype)
        return make_error(ErrorCode::InvalidArgument, "swiglu: gate and up differ in shape or dtype");
    const bool matvec = matvec_path(c, n_tokens);
    MatmulParams base = base_params(gate, x, y, n_tokens);
    auto k = apply_norm(c, norm, n_tokens, matvec ? Kernel::MatvecSwiglu : Kernel::MatmulSwiglu, base);
    if (!k) return k.error();
    KernelExtras e;
    e.gamma = norm ? norm->gamma : VK_NULL_HANDLE;
    e.features = act == FfnActivation::GeluTanh ? uint32(kFeatureGelu) : 0u;
    return for_each_segment(gate, &up, [&](uint32 r, uint32 rows, const WeightPiece& p0, const WeightPiece* p1) -> ExpectedVoid {
        MatmulParams p = base;
        p.rows = rows;
        p.y_offset = y.offset + r;
        p.w_offset = elem_offset(gate, p0, r);
        p.w1_offset = elem_offset(up, *p1, r);
        return dispatch_matmul(c, *k, gate.dtype, p, p0, p1, x, y, matvec ? rows : 2 * rows, e);
    });
}

ExpectedVoid op_rmsnorm(OpContext& c, const DeviceWeight& w, ActView x, ActView y, uint32 n, uint32 n_tokens, float eps) {
    if (w.pieces.size() != 1 || uint64(w.rows) * w.cols != n)
        return make_error(ErrorCode::InvalidArgument, "rmsnorm: weight must be one piece of " + std::to_string(n) + " elements");
    VkPipeline pl = c.rt.get_pipeline(Kernel::RmsNorm, w.dtype, rmsnorm_spec(c));
    if (!pl) return make_error(ErrorCode::Device, std::string("pipeline rmsnorm: ") + c.rt.last_error());
    auto b = bindings(c);
    b[0] = piece_binding(w.pieces[0]);
    b[2].buffer = x.buffer;
    b[3].buffer = y.buffer;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::RmsNormParams p{n, n_tokens, x.offset, x.stride, y.offset, y.stride, eps};
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(pl, *set, n_tokens);
    return {};
}

ExpectedVoid op_rmsnorm_add(OpContext& c, const FusedNorm& gamma, ActView x, ActView y, uint32 n, uint32 n_tokens) {
    if (!gamma.gamma) return make_error(ErrorCode::InvalidArgument, "rmsnorm_add: no gamma buffer");
    VkPipeline pl = c.rt.get_pipeline(Kernel::RmsNormAdd, DType::F32, rmsnorm_spec(c));
    if (!pl) return make_error(ErrorCode::Device, std::string("pipeline rmsnorm_add: ") + c.rt.last_error());
    auto b = bindings(c);
    b[0].buffer = gamma.gamma;
    b[2].buffer = x.buffer;
    b[3].buffer = y.buffer;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::RmsNormParams p{n, n_tokens, x.offset, x.stride, y.offset, y.stride, gamma.eps, gamma.offset};
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(pl, *set, n_tokens);
    return {};
}

ExpectedVoid op_head_norm_rope(OpContext& c, const FusedNorm& gamma, ActView y, uint32 n_heads, uint32 n_tokens, const RopeConfig& rope) {
    if (!gamma.gamma || !rope.table) return make_error(ErrorCode::InvalidArgument, "head norm: no gamma or rope table buffer");
    if (rope.head_dim == 0 || rope.head_dim % 2 || rope.head_dim > 1024 || rope.n_rot > rope.head_dim || rope.n_rot % 2)
        return make_error(ErrorCode::InvalidArgument, "head norm: head_dim " + std::to_string(rope.head_dim) + " / n_rot " + std::to_string(rope.n_rot) +
                                                          " not supported (even, n_rot <= head_dim <= 1024)");
    if (n_heads == 0 || n_tokens == 0) return {};
    auto pl = pipeline(c, Kernel::HeadNorm, DType::F32);
    if (!pl) return pl.error();
    auto b = bindings(c);
    b[3].buffer = y.buffer;
    b[4].buffer = gamma.gamma;
    b[5].buffer = rope.table;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::HeadNormParams p{n_heads, n_tokens, y.offset, y.stride, rope.head_dim, rope.n_rot, rope.neox, rope.pos0, gamma.offset, gamma.eps,
                          rope.round_f16};
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, n_heads, n_tokens);
    return {};
}

ExpectedVoid op_softcap(OpContext& c, ActView y, uint32 n, float cap) {
    if (!(cap > 0.0f)) return make_error(ErrorCode::InvalidArgument, "softcap: the cap must be > 0");
    auto pl = pipeline(c, Kernel::Softcap, DType::F32);
    if (!pl) return pl.error();
    auto b = bindings(c);
    b[3].buffer = y.buffer;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::SoftcapParams p{n, y.offset, cap};
    c.rt.push_constants(&p, sizeof p);
    const auto s = c.rt.effective(c.spec);
    const uint32 groups = (n + s.workgroup_size_x * s.workgroup_size_y - 1) / (s.workgroup_size_x * s.workgroup_size_y);
    const uint32 gx = std::min(groups, c.max_groups_x);
    c.rt.dispatch_compute(*pl, *set, gx, (groups + gx - 1) / gx);
    return {};
}

Expected<VkPipeline> op_pipeline(OpContext& c, Kernel k, DType t) {
    VkPipeline p = c.rt.get_pipeline(k, t, c.spec);
    if (!p) return make_error(ErrorCode::Device, std::string("pipeline ") + kernel_name(k) + ": " + c.rt.last_error());
    return p;
}

std::array<BufferBinding, kNumBindings> op_bindings(const OpContext& c) {
    std::array<BufferBinding, kNumBindings> b;
    for (auto& x : b) x = {c.dummy, 0, VK_WHOLE_SIZE};
    return b;
}

std::array<BufferBinding, kNumBindings> attention_bindings(const OpContext& c, VkBuffer q, VkBuffer out, VkBuffer k_cache, VkBuffer v_cache,
                                                           VkBuffer k_new, VkBuffer v_new, const PagedKv* paged) {
    auto b = op_bindings(c);
    if (k_new != VK_NULL_HANDLE && v_new != VK_NULL_HANDLE) {
        b[0] = {k_new, 0, VK_WHOLE_SIZE};
        b[1] = {v_new, 0, VK_WHOLE_SIZE};
    }
    b[2] = {q, 0, VK_WHOLE_SIZE};
    b[3] = {out, 0, VK_WHOLE_SIZE};
    b[4] = {k_cache, 0, VK_WHOLE_SIZE};
    b[5] = {v_cache, 0, VK_WHOLE_SIZE};
    if (paged) b[6] = paged->rows;
    return b;
}

ExpectedVoid attention_check(const OpContext& c, const AttentionShape& s, VkBuffer k_new, VkBuffer v_new, const PagedKv* paged) {
    const auto sp = c.rt.effective(c.spec);
    const bool f16 = k_new != VK_NULL_HANDLE;
    if (paged && (!f16 || !paged->rows.buffer || paged->block_positions == 0))
        return make_error(ErrorCode::InvalidArgument, "paged attention: needs f16 caches with new-row buffers, a row table and a block size");
    if (s.n_head_kv == 0 || s.n_head % s.n_head_kv || s.head_begin >= s.n_head || s.head_begin % (s.n_head / s.n_head_kv) ||
        s.head_dim > 4 * sp.workgroup_size_x * sp.workgroup_size_y || s.head_dim > 1024 || (f16 && (s.head_dim % 2 || v_new == VK_NULL_HANDLE)))
        return make_error(ErrorCode::Unsupported, "attention: n_head " + std::to_string(s.n_head) + " / n_head_kv " +
                                                      std::to_string(s.n_head_kv) + " / head_dim " + std::to_string(s.head_dim) +
                                                      (f16 ? " (f16 KV cache)" : "") + " not supported with this workgroup size");
    if (!paged && s.window > 0 && s.kv_rows < std::min(s.pos0 + s.n_tokens, s.window - 1 + s.n_tokens))
        return make_error(ErrorCode::InvalidArgument, "attention: a ring of " + std::to_string(s.kv_rows) + " KV rows cannot hold a window of " +
                                                          std::to_string(s.window) + " for " + std::to_string(s.n_tokens) + " tokens");
    return {};
}

gpu::AttentionParams attention_params(const AttentionShape& s, uint32 q_stride, uint32 out_stride, uint32 block_positions) {
    // With a soft-cap q is scaled by scale / cap and the kernel takes cap * tanh(q.k), as the CPU does.
    const float scale = s.scale > 0.0f ? s.scale : 1.0f / std::sqrt(float(s.head_dim));
    return gpu::AttentionParams{s.n_tokens, s.pos0, s.n_head, s.n_head_kv, s.head_dim, q_stride, s.n_head_kv * s.head_dim, out_stride,
                                s.softcap > 0.0f ? scale / s.softcap : scale, s.head_begin, s.softcap, s.window, s.kv_rows,
                                block_positions, 0u};
}

ExpectedVoid op_attention(OpContext& c, const AttentionShape& s, ActView q, VkBuffer k_cache, VkBuffer v_cache, ActView out,
                          VkBuffer k_new, VkBuffer v_new, const PagedKv* paged) {
    if (const auto fk = flash_kernel(c, s, k_new != VK_NULL_HANDLE, paged); fk != FlashKernel::None)
        return op_attention_flash(c, fk, s, q, k_cache, v_cache, out, k_new, v_new, paged);
    VKS_TRY(attention_check(c, s, k_new, v_new, paged));
    const bool f16 = k_new != VK_NULL_HANDLE;
    OpContext fc = c;  // the family features this dispatch is specialized for
    fc.spec.features = attention_features(s);
    auto pl = pipeline(fc, paged ? Kernel::AttentionPaged : Kernel::Attention, f16 ? DType::F16 : DType::F32);
    if (!pl) return pl.error();
    auto set = c.rt.make_descriptor_set(attention_bindings(c, q.buffer, out.buffer, k_cache, v_cache, k_new, v_new, paged));
    if (!set) return set.error();
    if (q.offset != 0 || out.offset != 0)
        return make_error(ErrorCode::InvalidArgument, "attention: q and out views must start at element 0");
    const gpu::AttentionParams p = attention_params(s, q.stride, out.stride, paged ? paged->block_positions : 0u);
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, s.n_head - s.head_begin, s.n_tokens);
    return {};
}

ExpectedVoid op_copy(OpContext& c, VkBuffer src, uint64 src_offset, VkBuffer dst, uint64 dst_offset, uint64 bytes, uint32 groups) {
    if (bytes == 0) return {};
    if (bytes % 16 != 0 || bytes / 16 > 0xffffffffull || groups == 0)
        return make_error(ErrorCode::InvalidArgument, "op_copy: " + std::to_string(bytes) + " bytes by " + std::to_string(groups) +
                                                          " workgroups (needs a multiple of 16 bytes and at least one workgroup)");
    auto pl = pipeline(c, Kernel::Copy, DType::F16);
    if (!pl) return pl.error();
    auto b = bindings(c);
    b[0] = {src, src_offset, bytes};
    b[3] = {dst, dst_offset, bytes};
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::CopyParams p{uint32(bytes / 16), std::min(groups, c.max_groups_x)};
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, p.groups, 1);
    return {};
}

ExpectedVoid op_add(OpContext& c, ActView x, ActView y, uint32 n) {
    auto pl = pipeline(c, Kernel::Add, DType::F32);
    if (!pl) return pl.error();
    auto b = bindings(c);
    b[2].buffer = x.buffer;
    b[3].buffer = y.buffer;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::AddParams p{n, x.offset, y.offset};
    c.rt.push_constants(&p, sizeof p);
    const auto s = c.rt.effective(c.spec);
    const uint32 groups = (n + s.workgroup_size_x * s.workgroup_size_y - 1) / (s.workgroup_size_x * s.workgroup_size_y);
    const uint32 gx = std::min(groups, c.max_groups_x);
    c.rt.dispatch_compute(*pl, *set, gx, (groups + gx - 1) / gx);
    return {};
}

namespace {

// One moe.comp dispatch over rows x n elements. x / y: activations bound from their offsets.
ExpectedVoid moe_rows(OpContext& c, const gpu::MoeParams& p, ActView x, ActView y, VkBuffer table) {
    if (x.stride != p.n || y.stride != p.n) return make_error(ErrorCode::InvalidArgument, "moe rows: x and y must be contiguous rows of n elements");
    auto pl = pipeline(c, Kernel::Moe, DType::F32);
    if (!pl) return pl.error();
    auto b = bindings(c);
    b[2].buffer = x.buffer;
    b[3].buffer = y.buffer;
    b[6].buffer = table;
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::MoeParams q = p;
    q.x_offset = x.offset;
    q.y_offset = y.offset;
    c.rt.push_constants(&q, sizeof q);
    const auto s = c.rt.effective(c.spec);
    const uint64 wg = uint64(s.workgroup_size_x) * s.workgroup_size_y, groups = (uint64(p.rows) * p.n + wg - 1) / wg;
    const uint32 gx = uint32(std::min<uint64>(groups, c.max_groups_x));
    c.rt.dispatch_compute(*pl, *set, gx, uint32((groups + gx - 1) / gx));
    return {};
}

}  // namespace

ExpectedVoid op_moe_gather(OpContext& c, ActView x, ActView y, uint32 n, uint32 rows, VkBuffer table, uint32 table_offset) {
    return moe_rows(c, gpu::MoeParams{0, rows, n, 0, table_offset, 0, 0}, x, y, table);
}

ExpectedVoid op_moe_combine(OpContext& c, ActView x, ActView y, uint32 n, uint32 rows, uint32 k, VkBuffer table, uint32 table_offset) {
    return moe_rows(c, gpu::MoeParams{1, rows, n, k, table_offset, 0, 0}, x, y, table);
}

}  // namespace vk_symbiote
