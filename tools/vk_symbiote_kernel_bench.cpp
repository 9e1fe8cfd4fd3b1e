// vk_symbiote_kernel_bench: GPU time of the weight kernels (op_matmul, op_matmul_rope,
// op_swiglu) on Llama-2-7B shapes, against the device's memory bandwidth (n_tokens 1:
// weight GB/s) and arithmetic (n_tokens > 1: TFLOPS = 2 * rows * cols * n_tokens / s).
//
//   vk_symbiote_kernel_bench [--dtype f16|bf16|f32] [--tokens 1,512] [--reps 20] [--wg X Y] [--small] [--small-lanes N]
//                            [--kernels both|coop|tiled] [--smalln N] [--smalln-block N] [--smalln-kernel staged|lanes|regs]
//
// --kernels: batches of f16 weights run the tensor-core kernel (matmul_coop.comp, where the
// device has VK_NV_cooperative_matrix), the tiled matmul.comp (OpContext::coop_matmul off), or
// both, case by case (default: both when the device has it). Every line names the shader
// variant(s) that ran (from one extra profiled pass).
// --small: dim 512 / ff 1376 instead of 4096 / 11008 (a quick run on a CPU implementation).
// --small-lanes N: lanes per unit of matvecs of fewer than 8192 units (OpContext::matvec_small_lanes,
// the engine's VK_SYMBIOTE_MATVEC_LANES). --smalln N / --smalln-block N: OpContext::smalln_max_tokens /
// smalln_block (the engine's --smalln-tokens / --smalln-block; --smalln 0: batches of 2 .. 64 rows
// on the old path, per-token matvecs then the tiled matmul); --smalln-kernel: OpContext::smalln_kernel
// (the engine's --smalln-kernel: x staged in shared memory, the same a chunk ahead in registers,
// or read per lane from global memory). Cases: matmul (q-shaped, gate-shaped, down-shaped), rope,
// swiglu, and qkv (the forward's Q / K / V group: three dispatches side by side, then a barrier).
// --shader-dir D: shaders hot-reloaded from D (a copy of shaders/); each --alt TARGET=FILE
// then copies FILE over D/TARGET (e.g. matmul.comp=alt/bk64.comp; the matmul tile TM / TN must
// stay those of PushConstants.h, the host sizes the grid with them) and runs every case again
// with the recompiled variants (tile-shape tuning without a rebuild).
// Each case records `reps` dispatches (with barriers, like the forward pass) in one command
// buffer and divides the GPU timestamp time by reps. Output: one line per case on stdout.
//
// --overlap: can weight uploads run under prompt compute at full speed (what a streamed
// prompt pass needs: upload of layer i+1 beside the compute of layer i)? Three timings,
// medians of 3, wall clock from submission to fence:
//   copy     4 x 384 MiB (a Llama-7B f16 layer) into a device buffer on the transfer queue
//   compute  8 layers of the 512-token weight kernels (q/k rope, v, o, swiglu, down)
//   both     the copy submitted first, the compute right after it
// for each copy source: host-visible staging memory, imported malloc'd memory (the zero-copy
// streaming path), device-local memory (VRAM -> VRAM: isolates the copy engine from the bus).
// Output: per source, each side's time alone and beside the other, and the sum / max.
//
// --contention: host->device DMA beside CPU f16 matvecs with 16/8/4 threads (see contention()).
#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/cpu/CpuKernels.h"
#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanOps.h"
#include "common/HalfFloat.h"
#include "packs/WeightPack.h"

using namespace vk_symbiote;

namespace {

struct Args {
    DType dtype = DType::F16;
    std::vector<uint32> tokens = {1, 512};
    uint32 reps = 20;
    ShaderSpecialization spec;
    uint32 dim = 4096, ff = 11008;
    std::string shader_dir;
    std::vector<std::pair<std::string, std::string>> alts;  // (target file in shader_dir, replacement)
    std::vector<bool> coop = {true, false};  // OpContext::coop_matmul values to run
    uint32 small_lanes = 0;                  // --small-lanes: OpContext::matvec_small_lanes (0: its default)
    uint32 smalln = 64, smalln_block = 16;   // --smalln, --smalln-block: OpContext::smalln_max_tokens, smalln_block
    SmallNKernel smalln_kernel = SmallNKernel::Regs;  // --smalln-kernel: OpContext::smalln_kernel
    bool overlap = false;                    // --overlap: copy under compute instead of the kernel cases
    bool contention = false;                 // --contention: DMA beside CPU matvecs instead of the kernel cases
};

bool parse(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (s == "--dtype") {
            const char* v = next();
            if (!v) return false;
            std::string d = v;
            if (d == "f16") a.dtype = DType::F16;
            else if (d == "bf16") a.dtype = DType::BF16;
            else if (d == "f32") a.dtype = DType::F32;
            else return false;
        } else if (s == "--tokens") {
            const char* v = next();
            if (!v) return false;
            a.tokens.clear();
            for (const char* p = v; *p;) {
                char* end = nullptr;
                const unsigned long n = std::strtoul(p, &end, 10);
                if (end == p || n == 0) return false;
                a.tokens.push_back(uint32(n));
                p = *end == ',' ? end + 1 : end;
            }
        } else if (s == "--reps") {
            const char* v = next();
            if (!v || std::atoi(v) <= 0) return false;
            a.reps = uint32(std::atoi(v));
        } else if (s == "--wg") {
            const char* x = next();
            const char* y = next();
            if (!x || !y) return false;
            a.spec.workgroup_size_x = uint32(std::atoi(x));
            a.spec.workgroup_size_y = uint32(std::atoi(y));
        } else if (s == "--small-lanes") {
            const char* v = next();
            if (!v || std::atoi(v) <= 0 || std::atoi(v) > 1024) return false;
            a.small_lanes = uint32(std::atoi(v));
        } else if (s == "--smalln" || s == "--smalln-block") {
            const char* v = next();
            if (!v || std::atoi(v) < 0 || std::atoi(v) > 64) return false;
            (s == "--smalln" ? a.smalln : a.smalln_block) = uint32(std::atoi(v));
        } else if (s == "--smalln-kernel") {
            const char* v = next();
            const std::string how(v ? v : "");
            if (how != "staged" && how != "lanes" && how != "regs") return false;
            a.smalln_kernel = how == "lanes" ? SmallNKernel::Lanes : how == "staged" ? SmallNKernel::Staged : SmallNKernel::Regs;
        } else if (s == "--shader-dir") {
            const char* v = next();
            if (!v) return false;
            a.shader_dir = v;
        } else if (s == "--alt") {
            const char* v = next();
            const char* eq = v ? std::strchr(v, '=') : nullptr;
            if (!eq) return false;
            a.alts.emplace_back(std::string(v, eq), std::string(eq + 1));
        } else if (s == "--kernels") {
            const char* v = next();
            if (!v) return false;
            const std::string k = v;
            if (k == "both") a.coop = {true, false};
            else if (k == "coop") a.coop = {true};
            else if (k == "tiled") a.coop = {false};
            else return false;
        } else if (s == "--overlap") {
            a.overlap = true;
        } else if (s == "--contention") {
            a.contention = true;
        } else if (s == "--small") {
            a.dim = 512;
            a.ff = 1376;
        } else {
            return false;
        }
    }
    return true;
}

// Pseudo-random weights of rows x cols in dtype, uniform in about +-0.03 (like trained
// weights); a hash per element, so 100M elements take well under a second.
std::vector<uint8> random_weight(uint32 rows, uint32 cols, DType t, uint64 seed) {
    const size_t n = size_t(rows) * cols;
    std::vector<uint8> out(n * dtype_size(t));
    for (size_t i = 0; i < n; ++i) {
        uint64 h = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xD1B54A32D192ED03ull;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        const float v = (float(uint32(h) >> 8) / 16777216.0f - 0.5f) * 0.06f;
        if (t == DType::F32) {
            std::memcpy(&out[i * 4], &v, 4);
        } else {
            const uint16 b = t == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(&out[i * 2], &b, 2);
        }
    }
    return out;
}

struct Bench {
    std::unique_ptr<VulkanDevice> dev;
    std::unique_ptr<VulkanMemory> mem;
    std::unique_ptr<VulkanCompute> compute;
    std::unique_ptr<ShaderRuntime> rt;
    std::vector<GpuBuffer> owned;

    Expected<GpuBuffer> buffer(uint64 bytes) {
        auto b = mem->create_buffer(bytes, MemoryKind::DeviceLocal);
        if (b) owned.push_back(*b);
        return b;
    }
    Expected<DeviceWeight> weight(uint32 rows, uint32 cols, DType t, uint64 seed) {
        auto bytes = random_weight(rows, cols, t, seed);
        auto b = buffer(bytes.size());
        if (!b) return b.error();
        VKS_TRY(compute->upload(bytes.data(), bytes.size(), b->buffer, 0));
        return DeviceWeight{t, rows, cols, {WeightPiece{b->buffer, 0, rows, 0, 0}}};
    }
    // The shader variants fn(ctx, 0) runs (one profiled recording), space separated.
    template <class Fn>
    Expected<std::string> variants(const Args& a, bool coop, Fn&& fn) {
        VKS_TRY(rt->set_kernel_profiling(true));
        rt->reset_kernel_times();
        auto cmd = compute->begin();
        if (!cmd) return cmd.error();
        rt->begin(*cmd);
        OpContext c{*rt, a.spec, owned[0].buffer, dev->caps().max_workgroup_count[0], dev->caps().subgroup_size};
            if (a.small_lanes) c.matvec_small_lanes = a.small_lanes;
        c.smalln_max_tokens = a.smalln;
        c.smalln_block = a.smalln_block;
        c.smalln_kernel = a.smalln_kernel;
        c.coop_matmul = coop;
        VKS_TRY(fn(c, 0));
        VKS_TRY(compute->submit_and_wait());
        VKS_TRY(rt->collect_kernel_times());
        VKS_TRY(rt->set_kernel_profiling(false));
        std::string names;
        for (const auto& k : rt->kernel_times()) names += (names.empty() ? "" : " ") + k.name;
        return names;
    }
    // `bytes` of page-aligned host memory (filled with 1s) imported as a buffer: the engine's
    // zero-copy streaming source. *host owns the memory (std::free after release_import).
    Expected<GpuBuffer> import_host_bytes(uint64 bytes, void** host) {
        *host = nullptr;
        const uint64 align = std::max<uint64>(dev->caps().min_imported_host_pointer_alignment, 4096);
        if (!dev->caps().external_memory_host) return make_error(ErrorCode::Unsupported, "no VK_EXT_external_memory_host");
        if (posix_memalign(host, align, bytes) != 0) return make_error(ErrorCode::OutOfMemory, "posix_memalign");
        std::memset(*host, 1, bytes);
        auto im = mem->import_host(*host, bytes);
        if (!im) {
            std::free(*host);
            *host = nullptr;
        }
        return im;
    }
    // Seconds per call of fn(ctx, rep) (GPU timestamps), recorded `reps` times in one submission.
    template <class Fn>
    Expected<double> time(const Args& a, bool coop, Fn&& fn) {
        // Warm-up passes (pipelines, GPU clocks back up after the host work before) until
        // 0.2 s of GPU time, then the timed pass.
        uint64 warm_ns = 0;
        for (int pass = 0;; ++pass) {
            auto cmd = compute->begin();
            if (!cmd) return cmd.error();
            rt->begin(*cmd);
            OpContext c{*rt, a.spec, owned[0].buffer, dev->caps().max_workgroup_count[0], dev->caps().subgroup_size};
            if (a.small_lanes) c.matvec_small_lanes = a.small_lanes;
            c.smalln_max_tokens = a.smalln;
            c.smalln_block = a.smalln_block;
            c.smalln_kernel = a.smalln_kernel;
            c.coop_matmul = coop;
            for (uint32 r = 0; r < a.reps; ++r) {
                VKS_TRY(fn(c, r));
                rt->barrier();
            }
            VKS_TRY(compute->submit_and_wait());
            if (warm_ns >= 200000000ull || pass >= 200) break;
            warm_ns += std::max<uint64>(compute->last_gpu_time_ns(), 1000000);
        }
        return double(compute->last_gpu_time_ns()) * 1e-9 / a.reps;
    }
};

// --overlap (see the file comment). Layer kernels as in a prompt pass: x (512 x dim) f32 in,
// y out; the copy goes from `src` (bytes) into a device buffer.
struct OverlapKernels {
    const std::vector<DeviceWeight>* wq;
    const DeviceWeight *wg, *wu, *wd;
    GpuBuffer x, y, table;
};

using clock = std::chrono::steady_clock;
double secs(clock::time_point t0, clock::time_point t1) { return std::chrono::duration<double>(t1 - t0).count(); }
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// One command buffer + fence on the transfer queue's family, for timed copies whose
// completion a thread watches (the wall clock from submission to fence).
struct TransferCopier {
    VkDevice d = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;

    ExpectedVoid init(const VulkanDevice& dev, uint32 family) {
        d = dev.device();
        VkCommandPoolCreateInfo pi{};
        pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
        pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        pi.queueFamilyIndex = family;
        if (vkCreateCommandPool(d, &pi, nullptr, &pool) != VK_SUCCESS) return make_error(ErrorCode::Device, "bench: command pool");
        VkCommandBufferAllocateInfo ai{};
        ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
        ai.commandPool = pool;
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        VkFenceCreateInfo fi{};
        fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
        if (vkAllocateCommandBuffers(d, &ai, &cmd) != VK_SUCCESS || vkCreateFence(d, &fi, nullptr, &fence) != VK_SUCCESS)
            return make_error(ErrorCode::Device, "bench: command buffer / fence");
        return {};
    }
    ~TransferCopier() {
        if (fence) vkDestroyFence(d, fence, nullptr);
        if (pool) vkDestroyCommandPool(d, pool, nullptr);
    }
    // Ends `c`, submits it to `q` with the fence; the returned thread stores the completion
    // time in *done.
    Expected<std::thread> submit_watched(VkCommandBuffer c, VkQueue q, clock::time_point* done) {
        vkEndCommandBuffer(c);
        vkResetFences(d, 1, &fence);
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.commandBufferCount = 1;
        si.pCommandBuffers = &c;
        if (vkQueueSubmit(q, 1, &si, fence) != VK_SUCCESS) return make_error(ErrorCode::Device, "bench: submit");
        return std::thread([this, done] {
            vkWaitForFences(d, 1, &fence, VK_TRUE, uint64(60) * 1000000000ull);
            *done = clock::now();
        });
    }
    // `count` copies of `bytes` from src to dst on q (the copier's own command buffer).
    Expected<std::thread> start_copy(VkQueue q, VkBuffer src, VkBuffer dst, uint64 bytes, uint64 count, clock::time_point* done) {
        vkResetCommandBuffer(cmd, 0);
        VkCommandBufferBeginInfo bi{};
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        vkBeginCommandBuffer(cmd, &bi);
        for (uint64 i = 0; i < count; ++i) {
            VkBufferCopy r{0, 0, bytes};
            vkCmdCopyBuffer(cmd, src, dst, 1, &r);
        }
        return submit_watched(cmd, q, done);
    }
};

ExpectedVoid overlap(Bench& b, const Args& a, const OverlapKernels& k) {
    const uint64 layer = uint64(384) << 20, copies = 4;
    const uint32 layers = a.dim < 4096 ? 1 : 8, n = 512, dim = a.dim, ff = a.ff;  // --small: one layer (a CPU implementation)
    auto dst = b.buffer(layer);
    if (!dst) return dst.error();
    TransferCopier tc;
    VKS_TRY(tc.init(*b.dev, b.dev->transfer_family()));
    // Submits `copies` copies of `layer` bytes from src; the returned thread stores the
    // completion time in *done.
    auto start_copy = [&](VkBuffer src, clock::time_point* done) {
        return tc.start_copy(b.dev->transfer_queue(), src, dst->buffer, layer, copies, done);
    };
    // The compute recording: `layers` layers of weight kernels; with copy_groups > 0, a
    // shader copy of 1/48 of the copy volume from `copy_src` (no barrier after it) before
    // each of the 48 kernels, so it runs beside that kernel.
    const uint32 kernels = layers * 6;
    const uint64 chunk = copies * layer / kernels;  // a multiple of 16
    auto record_compute = [&](uint32 copy_groups, VkBuffer copy_src, bool gemms) -> ExpectedVoid {
        auto c = b.compute->begin();
        if (!c) return c.error();
        b.rt->begin(*c);
        OpContext ctx{*b.rt, a.spec, b.owned[0].buffer, b.dev->caps().max_workgroup_count[0], b.dev->caps().subgroup_size};
        const RopeConfig rc{0, 128, 128, false, 10000.0f, 1.0f, k.table.buffer, false};
        const auto& wq = *k.wq;
        uint32 ki = 0;
        auto step = [&](auto&& kernel) -> ExpectedVoid {
            if (copy_groups > 0) {
                const uint64 off = (uint64(ki) * chunk) % layer;
                const uint64 bytes = std::min(chunk, layer - off);
                VKS_TRY(op_copy(ctx, copy_src, off, dst->buffer, off, bytes, copy_groups));
            }
            ++ki;
            if (gemms) VKS_TRY(kernel());
            b.rt->barrier();
            return {};
        };
        const ActView xd{k.x.buffer, 0, dim}, yd{k.y.buffer, 0, dim}, xf{k.x.buffer, 0, ff}, yf{k.y.buffer, 0, ff};
        for (uint32 l = 0; l < layers; ++l) {
            VKS_TRY(step([&] { return op_matmul_rope(ctx, wq[0], xd, yd, n, rc); }));
            VKS_TRY(step([&] { return op_matmul_rope(ctx, wq[1], xd, yd, n, rc); }));
            VKS_TRY(step([&] { return op_matmul(ctx, wq[2], xd, yd, n, false); }));
            VKS_TRY(step([&] { return op_matmul(ctx, wq[3], xd, yd, n, false); }));
            VKS_TRY(step([&] { return op_swiglu(ctx, *k.wg, *k.wu, xd, yf, n); }));
            VKS_TRY(step([&] { return op_matmul(ctx, *k.wd, xf, yd, n, false); }));
        }
        return {};
    };
    // Sources: staging (host-visible), imported host memory, device-local.
    auto staging = b.mem->create_buffer(layer, MemoryKind::HostStaging);
    if (!staging) return staging.error();
    std::memset(staging->mapped, 1, layer);
    std::vector<std::pair<std::string, VkBuffer>> sources = {{"host staging", staging->buffer}};
    void* host = nullptr;
    GpuBuffer imported;
    if (auto im = b.import_host_bytes(layer, &host)) {
        imported = *im;
        sources.push_back({"imported host", imported.buffer});
    } else {
        std::printf("imported host memory: %s\n", im.error().message.c_str());
    }
    auto vram = b.buffer(layer);
    if (!vram) return vram.error();
    sources.push_back({"device-local", vram->buffer});
    std::printf("overlap: %s transfer queue, copy %llu x %llu MiB, compute %u layers x 512 tokens\n",
                b.dev->has_transfer_queue() ? "dedicated" : "no (compute queue)", (unsigned long long)copies, (unsigned long long)(layer >> 20), layers);
    for (auto& [name, src] : sources) {
        std::vector<double> copy_alone, comp_alone, copy_both, comp_both, both;
        for (int rep = 0; rep < 4; ++rep) {  // rep 0 warms up
            clock::time_point done;
            auto t0 = clock::now();
            auto th = start_copy(src, &done);
            if (!th) return th.error();
            th->join();
            const double ca = secs(t0, done);
            VKS_TRY(record_compute(0, VK_NULL_HANDLE, true));
            t0 = clock::now();
            VKS_TRY(b.compute->submit_and_wait());
            const double pa = secs(t0, clock::now());
            VKS_TRY(record_compute(0, VK_NULL_HANDLE, true));
            t0 = clock::now();
            auto th2 = start_copy(src, &done);
            if (!th2) return th2.error();
            VKS_TRY(b.compute->submit_and_wait());
            const auto tc = clock::now();
            th2->join();
            if (rep == 0) continue;
            copy_alone.push_back(ca);
            comp_alone.push_back(pa);
            copy_both.push_back(secs(t0, done));
            comp_both.push_back(secs(t0, tc));
            both.push_back(std::max(secs(t0, done), secs(t0, tc)));
        }
        const double ca = median(copy_alone), pa = median(comp_alone);
        std::printf("%-14s copy alone %7.2f ms (%5.1f GB/s), beside compute %7.2f ms (%5.1f GB/s) | compute alone %7.2f ms, beside copy %7.2f ms | "
                    "both done %7.2f ms (sum alone %7.2f, max alone %7.2f)\n",
                    name.c_str(), ca * 1e3, copies * layer / ca * 1e-9, median(copy_both) * 1e3, copies * layer / median(copy_both) * 1e-9,
                    pa * 1e3, median(comp_both) * 1e3, median(both) * 1e3, (ca + pa) * 1e3, std::max(ca, pa) * 1e3);
    }
    // Shader copies from imported host memory (the copy by the compute units) in the compute
    // queue's own recording, interleaved with the kernels, with 4 to 64 workgroups.
    if (imported) {
        const double pa = [&]() -> double {
            std::vector<double> v;
            for (int rep = 0; rep < 3; ++rep) {
                if (!record_compute(0, VK_NULL_HANDLE, true)) return 0;
                const auto t0 = clock::now();
                if (!b.compute->submit_and_wait()) return 0;
                v.push_back(secs(t0, clock::now()));
            }
            return median(v);
        }();
        for (uint32 g : {4u, 8u, 16u, 32u, 64u}) {
            std::vector<double> alone, inter;
            for (int rep = 0; rep < 4; ++rep) {
                VKS_TRY(record_compute(g, imported.buffer, false));
                auto t0 = clock::now();
                VKS_TRY(b.compute->submit_and_wait());
                const double ca = secs(t0, clock::now());
                VKS_TRY(record_compute(g, imported.buffer, true));
                t0 = clock::now();
                VKS_TRY(b.compute->submit_and_wait());
                if (rep == 0) continue;
                alone.push_back(ca);
                inter.push_back(secs(t0, clock::now()));
            }
            const double ca = median(alone), both = median(inter);
            std::printf("shader copy %2u workgroups, imported host, same queue: copy alone %7.2f ms (%5.1f GB/s) | compute alone %7.2f ms | "
                        "interleaved %7.2f ms (sum alone %7.2f, max alone %7.2f)\n",
                        g, ca * 1e3, copies * layer / ca * 1e-9, pa * 1e3, both * 1e3, (ca + pa) * 1e3, std::max(ca, pa) * 1e3);
        }
    }
    // The same shader copy (32 workgroups) on a second compute queue, submitted before the
    // kernels on the first: do two compute queues run at the same time?
    if (imported && b.dev->compute_queue2() != b.dev->compute_queue()) {
        TransferCopier q2;
        VKS_TRY(q2.init(*b.dev, b.dev->compute_family()));
        VkCommandBuffer c2 = q2.cmd;
        std::vector<double> cb, pb;
        for (int rep = 0; rep < 4; ++rep) {
            VKS_TRY(record_compute(0, VK_NULL_HANDLE, true));  // left open: submitted below
            vkResetCommandBuffer(c2, 0);
            VkCommandBufferBeginInfo bi{};
            bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
            vkBeginCommandBuffer(c2, &bi);
            b.rt->continue_recording(c2);
            OpContext ctx{*b.rt, a.spec, b.owned[0].buffer, b.dev->caps().max_workgroup_count[0], b.dev->caps().subgroup_size};
            for (uint32 i = 0; i < kernels; ++i) {
                const uint64 off = (uint64(i) * chunk) % layer;
                VKS_TRY(op_copy(ctx, imported.buffer, off, dst->buffer, off, std::min(chunk, layer - off), 32));
                b.rt->barrier();
            }
            clock::time_point done;
            const auto t0 = clock::now();
            auto w = q2.submit_watched(c2, b.dev->compute_queue2(), &done);
            if (!w) return w.error();
            VKS_TRY(b.compute->submit_and_wait());
            const auto tc = clock::now();
            w->join();
            if (rep == 0) continue;
            cb.push_back(secs(t0, done));
            pb.push_back(secs(t0, tc));
        }
        std::printf("shader copy 32 workgroups, imported host, second compute queue: copy done %7.2f ms, compute done %7.2f ms\n",
                    median(cb) * 1e3, median(pb) * 1e3);
    }
    if (imported) b.mem->release_import(imported);
    std::free(host);
    b.mem->destroy_buffer(*staging);
    return {};
}

// --contention: do host->device DMA and CPU matvecs share one host memory bandwidth (what a
// hybrid decode runs at once: CPU layers from RAM beside uploads of the GPU's next layers)?
// CPU: f16 matvecs (the engine's kernel, n_tok 1) over 24 Llama-7B ffn matrices (2.0 GiB)
// with T threads; DMA: copies of 384 MiB from imported host memory (staging without the
// extension) on the transfer queue, as many as take about as long as the CPU part alone.
// Medians of 3 after a warm-up; per T: each side alone and beside the other, and both sides'
// bytes over the time until both are done.
ExpectedVoid contention(Bench& b) {
    const uint32 rows = 11008, cols = 4096, mats = 24;
    const uint64 mat_bytes = uint64(rows) * cols * 2, layer = uint64(384) << 20;
    const auto one = random_weight(rows, cols, DType::F16, 7);
    auto w = AlignedBuffer::allocate(mat_bytes * mats, 4096);
    if (!w) return w.error();
    for (uint32 m = 0; m < mats; ++m) std::memcpy(w->data() + m * mat_bytes, one.data(), mat_bytes);
    std::vector<float> x(cols, 0.01f), y(rows);
    auto dst = b.buffer(layer);
    if (!dst) return dst.error();
    void* host = nullptr;
    GpuBuffer src;
    const char* src_name = "host staging";
    if (auto im = b.import_host_bytes(layer, &host)) {
        src = *im;
        src_name = "imported host";
    }
    if (src.buffer == VK_NULL_HANDLE) {
        auto st = b.mem->create_buffer(layer, MemoryKind::HostStaging);
        if (!st) return st.error();
        src = *st;
        std::memset(src.mapped, 1, layer);
    }
    TransferCopier tc;
    VKS_TRY(tc.init(*b.dev, b.dev->transfer_family()));
    const uint32 hw = std::max(1u, std::thread::hardware_concurrency());
    std::printf("contention: CPU f16 matvec over %u x %ux%u (%.2f GiB) vs DMA from %s, %s transfer queue, %u hardware threads\n", mats, rows,
                cols, double(mat_bytes) * mats / double(1ull << 30), src_name, b.dev->has_transfer_queue() ? "dedicated" : "no", hw);
    std::vector<uint32> counts = {hw};
    for (uint32 t : {hw / 2, hw / 4})
        if (t >= 1 && t != counts.back()) counts.push_back(t);
    for (uint32 t : counts) {
        cpu::ThreadPool pool(t);
        auto cpu_pass = [&] {
            for (uint32 m = 0; m < mats; ++m) {
                cpu::MatmulArgs ma;
                ma.w = w->data() + m * mat_bytes;
                ma.dtype = DType::F16;
                ma.rows = rows;
                ma.cols = cols;
                ma.x = x.data();
                ma.x_stride = cols;
                ma.n_tok = 1;
                ma.y = y.data();
                ma.y_stride = rows;
                cpu::matmul(ma, &pool);
            }
        };
        auto dma = [&](uint64 count, clock::time_point* done) { return tc.start_copy(b.dev->transfer_queue(), src.buffer, dst->buffer, layer, count, done); };
        std::vector<double> ca, da;
        for (int rep = 0; rep < 4; ++rep) {
            auto t0 = clock::now();
            cpu_pass();
            const double c = secs(t0, clock::now());
            clock::time_point done;
            t0 = clock::now();
            auto th = dma(4, &done);
            if (!th) return th.error();
            th->join();
            if (rep == 0) continue;
            ca.push_back(c);
            da.push_back(secs(t0, done) / 4);
        }
        const double cpu_s = median(ca), copy_s = median(da);
        const uint64 count = std::max<uint64>(1, uint64(cpu_s / copy_s + 0.5));
        std::vector<double> cb, db, both;
        for (int rep = 0; rep < 3; ++rep) {
            clock::time_point done;
            const auto t0 = clock::now();
            auto th = dma(count, &done);
            if (!th) return th.error();
            cpu_pass();
            const auto tcpu = clock::now();
            th->join();
            cb.push_back(secs(t0, tcpu));
            db.push_back(secs(t0, done));
            both.push_back(std::max(secs(t0, tcpu), secs(t0, done)));
        }
        const double cpu_bytes = double(mat_bytes) * mats, dma_bytes = double(layer) * count;
        std::printf("%2u threads: CPU alone %6.1f GB/s, beside DMA %6.1f GB/s | DMA alone %6.1f GB/s, beside CPU %6.1f GB/s (%llu x 384 MiB) | "
                    "both done %7.2f ms: %6.1f GB/s together (alone one after the other: %6.1f GB/s)\n",
                    t, cpu_bytes / cpu_s * 1e-9, cpu_bytes / median(cb) * 1e-9, layer / copy_s * 1e-9, dma_bytes / median(db) * 1e-9,
                    (unsigned long long)count, median(both) * 1e3, (cpu_bytes + dma_bytes) / median(both) * 1e-9,
                    (cpu_bytes + dma_bytes) / (cpu_s + copy_s * count) * 1e-9);
    }
    if (host) {
        b.mem->release_import(src);
        std::free(host);
    } else {
        b.mem->destroy_buffer(src);
    }
    return {};
}

ExpectedVoid run(const Args& a) {
    Bench b;
    VulkanDeviceOptions dopt;
    dopt.second_compute_queue = a.overlap;
    auto d = VulkanDevice::create(dopt);
    if (!d) return d.error();
    b.dev = std::move(*d);
    auto m = VulkanMemory::create(*b.dev);
    if (!m) return m.error();
    b.mem = std::move(*m);
    auto c = VulkanCompute::create(*b.dev, *b.mem, uint64(64) << 20, 2, true);
    if (!c) return c.error();
    b.compute = std::move(*c);
    if (!a.alts.empty() && a.shader_dir.empty()) return make_error(ErrorCode::InvalidArgument, "--alt needs --shader-dir");
    ShaderRuntimeOptions so;
    so.shader_dir = a.shader_dir;
    auto r = ShaderRuntime::create(*b.dev, so);
    if (!r) return r.error();
    b.rt = std::move(*r);
    VKS_TRY(b.buffer(256));  // dummy binding
    if (a.contention) {
        auto r = contention(b);
        b.rt.reset();
        for (auto& buf : b.owned) b.mem->destroy_buffer(buf);
        return r;
    }
    std::printf("device: %s, dtype %s, reps %u, cooperative matrix %s\n", b.dev->caps().device_name.c_str(), dtype_name(a.dtype),
                a.reps, b.dev->caps().cooperative_matrix ? "yes" : "no");
    std::vector<bool> coop_modes = a.coop;
    if (!b.dev->caps().cooperative_matrix) coop_modes = {false};  // one run: both would be the tiled kernel

    const uint32 dim = a.dim, ff = a.ff, max_tok = 512;
    // dim x dim weights: a ring of 4 (128 MiB in f16), so that a rep does not find its
    // weights in the L2 cache (50 MiB on an H100) left by the previous one.
    std::vector<DeviceWeight> wq;
    for (uint64 i = 0; i < 4; ++i) {
        auto w = b.weight(dim, dim, a.dtype, 10 + i);
        if (!w) return w.error();
        wq.push_back(*w);
    }
    auto wg = b.weight(ff, dim, a.dtype, 2);
    auto wu = b.weight(ff, dim, a.dtype, 3);
    auto wd = b.weight(dim, ff, a.dtype, 4);
    if (!wg || !wu || !wd) return make_error(ErrorCode::OutOfMemory, "kernel bench: weight upload failed");
    std::vector<float> xs(size_t(max_tok) * ff);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = float(int((i * 2654435761u) % 2001) - 1000) * 1e-3f;
    auto x = b.buffer(xs.size() * 4);
    auto y = b.buffer(size_t(max_tok) * std::max(ff, 3 * dim) * 4);  // swiglu: ff per token; qkv: 3 x dim
    if (!x || !y) return make_error(ErrorCode::OutOfMemory, "kernel bench: activation buffers");
    VKS_TRY(b.compute->upload(xs.data(), xs.size() * 4, x->buffer, 0));
    auto tab = rope_table(max_tok, 128, 10000.0f, 1.0f);
    auto tb = b.buffer(tab.size() * 4);
    if (!tb) return tb.error();
    VKS_TRY(b.compute->upload(tab.data(), tab.size() * 4, tb->buffer, 0));

    if (a.overlap) {
        auto r = overlap(b, a, OverlapKernels{&wq, &*wg, &*wu, &*wd, *x, *y, *tb});
        b.rt.reset();
        for (auto& buf : b.owned) b.mem->destroy_buffer(buf);
        return r;
    }
    // Times fn (one line: case, shape, time, GB/s, TFLOPS, the variants that ran).
    auto report = [&](const char* name, const DeviceWeight& w, uint32 n, uint32 matrices, bool coop, auto&& fn) -> ExpectedVoid {
        auto s = b.time(a, coop, fn);
        if (!s) return s.error();
        auto vars = b.variants(a, coop, fn);
        if (!vars) return vars.error();
        const double bytes = double(w.rows) * w.cols * dtype_size(w.dtype) * matrices;
        const double flops = 2.0 * w.rows * w.cols * n * matrices;
        std::printf("%-8s %5ux%-5u n=%-4u %9.1f us  %7.1f GB/s  %6.2f TFLOPS  (%.0f tokens/s per matrix)  [%s]\n", name, w.rows,
                    w.cols, n, *s * 1e6, bytes / *s * 1e-9, flops / *s * 1e-12, n / *s, vars->c_str());
        return {};
    };
    for (size_t alt = 0; alt <= a.alts.size(); ++alt) {
        if (alt > 0) {
            const auto& [target, file] = a.alts[alt - 1];
            std::error_code ec;
            std::filesystem::copy_file(file, std::filesystem::path(a.shader_dir) / target,
                                       std::filesystem::copy_options::overwrite_existing, ec);
            if (ec) return make_error(ErrorCode::Io, "--alt " + file + ": " + ec.message());
            std::printf("== %s = %s\n", target.c_str(), file.c_str());
        }
        const uint64 reloads = b.rt->reload_count();
        for (bool coop : coop_modes)
            for (uint32 n : a.tokens) {
                if (n > max_tok) return make_error(ErrorCode::InvalidArgument, "--tokens: at most 512");
                for (const DeviceWeight* w : {&wq[0], &*wg, &*wd}) {
                    const bool ring = w == &wq[0];
                    const ActView xv{x->buffer, 0, w->cols}, yv{y->buffer, 0, w->rows};
                    VKS_TRY(report("matmul", *w, n, 1, coop, [&](OpContext& ctx, uint32 r) {
                        return op_matmul(ctx, ring ? wq[r % 4] : *w, xv, yv, n, false);
                    }));
                }
                const RopeConfig rc{0, 128, 128, false, 10000.0f, 1.0f, tb->buffer, false};
                VKS_TRY(report("rope", wq[0], n, 1, coop, [&](OpContext& ctx, uint32 r) {
                    return op_matmul_rope(ctx, wq[r % 4], {x->buffer, 0, dim}, {y->buffer, 0, dim}, n, rc);
                }));
                VKS_TRY(report("swiglu", *wg, n, 2, coop, [&](OpContext& ctx, uint32) {
                    return op_swiglu(ctx, *wg, *wu, {x->buffer, 0, dim}, {y->buffer, 0, ff}, n);
                }));
                // The forward's Q / K / V group: two rope matvecs and a plain one with no barrier
                // between them (they run side by side), then the barrier.
                VKS_TRY(report("qkv", wq[0], n, 3, coop, [&](OpContext& ctx, uint32 r) -> ExpectedVoid {
                    VKS_TRY(op_matmul_rope(ctx, wq[r % 4], {x->buffer, 0, dim}, {y->buffer, 0, 3 * dim}, n, rc));
                    VKS_TRY(op_matmul_rope(ctx, wq[(r + 1) % 4], {x->buffer, 0, dim}, {y->buffer, dim, 3 * dim}, n, rc));
                    return op_matmul(ctx, wq[(r + 2) % 4], {x->buffer, 0, dim}, {y->buffer, 2 * dim, 3 * dim}, n, false);
                }));
            }
        if (alt > 0 && b.rt->reload_count() == reloads)
            return make_error(ErrorCode::Format, "--alt " + a.alts[alt - 1].second + ": not reloaded: " + b.rt->last_error());
    }
    b.rt.reset();
    for (auto& buf : b.owned) b.mem->destroy_buffer(buf);
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line per case, also into a pipe
    Args a;
    if (!parse(argc, argv, a)) {
        std::fprintf(stderr, "usage: vk_symbiote_kernel_bench [--dtype f16|bf16|f32] [--tokens 1,512] [--reps N] [--wg X Y] [--small] [--small-lanes N] [--smalln N] [--smalln-block N] "
                             "[--kernels both|coop|tiled] [--shader-dir D --alt TARGET=FILE ...] [--overlap | --contention]\n");
        return 2;
    }
    auto r = run(a);
    if (!r) {
        std::fprintf(stderr, "vk_symbiote_kernel_bench: %s\n", r.error().to_string().c_str());
        return 1;
    }
    return 0;
}
