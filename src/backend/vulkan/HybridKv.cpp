#include "backend/vulkan/HybridKv.h"

#include <cstring>

#include "backend/cpu/CpuKernels.h"
#include "common/HalfFloat.h"

namespace vk_symbiote {

HybridKv::HybridKv(const ModelConfig& cfg, VulkanCompute& compute, ModelBuffers& buf, CpuBackend& cpu, uint64& sync_bytes)
    : cfg_(cfg), compute_(compute), buf_(buf), cpu_(cpu), sync_bytes_(sync_bytes) {
    cpu_valid_.assign(size_t(cfg.n_layer) * cfg.n_head_kv, 0);
    gpu_valid_.assign(size_t(cfg.n_layer) * cfg.n_head_kv, 0);
}

ExpectedVoid HybridKv::sync(uint32 l, uint32 upto, uint32 cpu_heads, uint32 gpu_from) {
    // Per KV head g the rows [0, min(cv, gv)) are valid on both sides and [min, max) on the
    // side with the larger count (every row was written by one side, the other one marked).
    const uint32 G = cfg_.n_head_kv;
    const uint32* cv = cpu_valid_.data() + size_t(l) * G;
    const uint32* gv = gpu_valid_.data() + size_t(l) * G;
    uint32 lo = upto;
    bool to_cpu = false, to_gpu = false;
    for (uint32 g = 0; g < G; ++g) {
        const bool cpu_stale = g < cpu_heads && cv[g] < upto, gpu_stale = g >= gpu_from && gv[g] < upto;
        if ((cpu_stale && gv[g] < upto) || (gpu_stale && cv[g] < upto))
            return make_error(ErrorCode::Internal, "hybrid KV sync: rows of layer " + std::to_string(l) + " head " + std::to_string(g) + " valid on neither side");
        if (cpu_stale) lo = std::min(lo, cv[g]);
        if (gpu_stale) lo = std::min(lo, gv[g]);
        to_cpu |= cpu_stale;
        to_gpu |= gpu_stale;
    }
    if (!to_cpu && !to_gpu) return {};
    // A sliding layer's device ring holds only its last rows; the window needs fewer than that
    // (the CPU's paged cache keeps every position).
    const uint32 held = buf_.kv_rows(l);
    lo = std::max(lo, upto > held ? upto - held : 0);
    // When the CPU's rows replace every column of [lo, upto) (a GPU layer after CPU layers),
    // nothing needs to come down first: one upload, no download round trip.
    bool keep_device = to_cpu;
    for (uint32 g = 0; g < G && !keep_device; ++g) keep_device = g < gpu_from || gv[g] > lo;
    const uint64 elems = uint64(upto - lo) * cfg_.kv_dim();
    tmp_.assign(elems, 0.0f);                       // K's rows, then V's
    half_.assign(buf_.kv_f16() ? elems : 0, 0);     // f16 caches: the device's words, converted on the host
    for (int v = 0; v < 2; ++v) VKS_TRY(merge(l, v, lo, upto, cpu_heads, gpu_from, keep_device, to_gpu));
    uint32* cvw = cpu_valid_.data() + size_t(l) * G;
    uint32* gvw = gpu_valid_.data() + size_t(l) * G;
    for (uint32 g = 0; g < G; ++g) {
        if (g < cpu_heads) cvw[g] = std::max(cvw[g], upto);
        if (g >= gpu_from) gvw[g] = std::max(gvw[g], upto);
    }
    return {};
}

namespace {

// Positions [pos, pos + n) stored at consecutive rows of a ring (from row pos % rows).
struct RowRun {
    uint32 pos, n;
};

// Positions [lo, hi) of a cache of `rows` rows: one run, or two where the ring wraps.
std::vector<RowRun> ring_runs(uint32 lo, uint32 hi, uint32 rows) {
    std::vector<RowRun> runs;
    for (uint32 p = lo; p < hi;) {
        const uint32 n = std::min(hi - p, rows - p % rows);
        runs.push_back({p, n});
        p += n;
    }
    return runs;
}

}  // namespace

ExpectedVoid HybridKv::merge(uint32 l, int v, uint32 lo, uint32 upto, uint32 cpu_heads, uint32 gpu_from, bool keep_device, bool to_gpu) {
    // Device rows of positions [lo, upto) come down whole; the CPU takes its heads' columns from
    // them, and the device gets them back with the CPU-valid columns of its stale heads merged
    // in. tmp_ holds them in position order; the device keeps position p at row p % its rows,
    // the CPU at its own sequence's paged row p.
    const uint32 G = cfg_.n_head_kv, hd = cfg_.head_dim, dev_rows = buf_.kv_rows(l);
    const uint64 KV = cfg_.kv_dim();
    const uint32* cv = cpu_valid_.data() + size_t(l) * G;
    const uint32* gv = gpu_valid_.data() + size_t(l) * G;
    const DeviceBuffer& dev = v ? buf_.v_cache[l] : buf_.k_cache[l];
    VKS_TRY(cpu_.reserve_kv(upto));  // the CPU's paged rows [0, upto) of its own sequence
    auto host = [&](uint64 p) { return cpu_.kv_row(l, v != 0, uint32(p)); };
    const std::vector<RowRun> runs = ring_runs(lo, upto, dev_rows);
    if (keep_device)
        for (const RowRun& r : runs) VKS_TRY(download_rows(dev, uint64(r.pos % dev_rows) * KV, uint64(r.pos - lo) * KV, uint64(r.n) * KV));
    for (uint32 g = 0; g < G; ++g) {
        if (g < cpu_heads)
            for (uint64 p = std::max(cv[g], lo); p < upto; ++p) std::memcpy(host(p) + g * hd, tmp_.data() + (p - lo) * KV + g * hd, size_t(hd) * 4);
        if (g >= gpu_from)
            for (uint64 p = std::max(gv[g], lo); p < upto; ++p) std::memcpy(tmp_.data() + (p - lo) * KV + g * hd, host(p) + g * hd, size_t(hd) * 4);
    }
    if (!to_gpu) return {};
    for (const RowRun& r : runs) VKS_TRY(upload_rows(dev, uint64(r.pos - lo) * KV, uint64(r.pos % dev_rows) * KV, uint64(r.n) * KV));
    return {};
}

ExpectedVoid HybridKv::download_rows(const DeviceBuffer& dev, uint64 dev_at, uint64 at, uint64 n) {
    const uint64 eb = buf_.kv_f16() ? 2 : 4;
    if (buf_.kv_f16()) {
        VKS_TRY(compute_.download(dev.get(), dev_at * eb, half_.data() + at, n * eb));
        cpu::convert_to_f32(DType::F16, half_.data() + at, tmp_.data() + at, n);  // vectorized: a prompt's rows at the first split step
    } else {
        VKS_TRY(compute_.download(dev.get(), dev_at * eb, tmp_.data() + at, n * eb));
    }
    sync_bytes_ += n * eb;
    return {};
}

ExpectedVoid HybridKv::upload_rows(const DeviceBuffer& dev, uint64 at, uint64 dev_at, uint64 n) {
    const uint64 eb = buf_.kv_f16() ? 2 : 4;
    if (buf_.kv_f16()) {
        for (uint64 i = at; i < at + n; ++i) half_[i] = f32_to_f16(tmp_[i]);  // exact: the CPU's values are f16-rounded
        VKS_TRY(compute_.upload(half_.data() + at, n * eb, dev.buffer(), dev_at * eb));
    } else {
        VKS_TRY(compute_.upload(tmp_.data() + at, n * eb, dev.buffer(), dev_at * eb));
    }
    sync_bytes_ += n * eb;
    return {};
}

void HybridKv::mark(uint32 l, uint32 pos, uint32 n, uint32 cpu_heads, uint32 gpu_from) {
    const uint32 G = cfg_.n_head_kv;
    uint32* cv = cpu_valid_.data() + size_t(l) * G;
    uint32* gv = gpu_valid_.data() + size_t(l) * G;
    for (uint32 g = 0; g < G; ++g) {
        if (g < cpu_heads) {
            cv[g] = pos + n;
            gv[g] = std::min(gv[g], pos);
        } else if (g >= gpu_from) {
            gv[g] = pos + n;
            cv[g] = std::min(cv[g], pos);
        }
    }
}

}  // namespace vk_symbiote
