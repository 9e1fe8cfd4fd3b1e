#include "probe/VulkanComputeProbe.h"

#ifdef VKS_HAS_VULKAN

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ProbeParams.h"
#include "backend/vulkan/EmbeddedShaders.h"
#include "common/HalfFloat.h"

namespace vk_symbiote::probe::detail {

namespace {

// SPIR-V of an embedded probe variant (shaders/variants.txt).
Expected<std::vector<uint32>> probe_spirv(const char* name) {
    for (const EmbeddedShader& e : embedded_shaders())
        if (std::strcmp(e.name, name) == 0) return std::vector<uint32>(e.words, e.words + e.word_count);
    return make_error(ErrorCode::NotFound, std::string("Vulkan probe: shader ") + name + " is not embedded in this build");
}

// One compute pipeline with `n_bindings` storage buffers (bindings 0..n-1) and push
// constants; owns its Vulkan objects (destroyed with it, before the Context).
struct ComputePipeline {
    Context& c;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VkDescriptorSet set = VK_NULL_HANDLE;
    uint32 push_bytes = 0;

    explicit ComputePipeline(Context& ctx) : c(ctx) {}
    ComputePipeline(const ComputePipeline&) = delete;
    ComputePipeline& operator=(const ComputePipeline&) = delete;
    ~ComputePipeline() {
        if (pool) vkDestroyDescriptorPool(c.device(), pool, nullptr);
        if (pipeline) vkDestroyPipeline(c.device(), pipeline, nullptr);
        if (layout) vkDestroyPipelineLayout(c.device(), layout, nullptr);
        if (set_layout) vkDestroyDescriptorSetLayout(c.device(), set_layout, nullptr);
    }

    // spec0: value of specialization constant 0 (0 = none).
    ExpectedVoid create(const char* variant, uint32 n_bindings, uint32 push, uint32 spec0 = 0) {
        auto spv = probe_spirv(variant);
        if (!spv) return spv.error();
        push_bytes = push;
        std::vector<VkDescriptorSetLayoutBinding> binds(n_bindings);
        for (uint32 i = 0; i < n_bindings; ++i) {
            binds[i] = {};
            binds[i].binding = i;
            binds[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            binds[i].descriptorCount = 1;
            binds[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
        }
        VkDescriptorSetLayoutCreateInfo dl{};
        dl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
        dl.bindingCount = n_bindings;
        dl.pBindings = binds.data();
        VKP_CALL(vkCreateDescriptorSetLayout(c.device(), &dl, nullptr, &set_layout));
        VkPushConstantRange pc{VK_SHADER_STAGE_COMPUTE_BIT, 0, push};
        VkPipelineLayoutCreateInfo pl{};
        pl.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
        pl.setLayoutCount = 1;
        pl.pSetLayouts = &set_layout;
        pl.pushConstantRangeCount = 1;
        pl.pPushConstantRanges = &pc;
        VKP_CALL(vkCreatePipelineLayout(c.device(), &pl, nullptr, &layout));
        VkShaderModuleCreateInfo mi{};
        mi.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
        mi.codeSize = spv->size() * 4;
        mi.pCode = spv->data();
        VkShaderModule mod = VK_NULL_HANDLE;
        VKP_CALL(vkCreateShaderModule(c.device(), &mi, nullptr, &mod));
        VkSpecializationMapEntry entry{0, 0, 4};
        VkSpecializationInfo si{1, &entry, 4, &spec0};
        VkComputePipelineCreateInfo ci{};
        ci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
        ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        ci.stage.module = mod;
        ci.stage.pName = "main";
        ci.stage.pSpecializationInfo = spec0 ? &si : nullptr;
        ci.layout = layout;
        VkResult r = vkCreateComputePipelines(c.device(), VK_NULL_HANDLE, 1, &ci, nullptr, &pipeline);
        vkDestroyShaderModule(c.device(), mod, nullptr);
        if (r != VK_SUCCESS) return make_error(ErrorCode::Device, vk_error((std::string("vkCreateComputePipelines(") + variant + ")").c_str(), r));
        VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n_bindings};
        VkDescriptorPoolCreateInfo dpi{};
        dpi.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
        dpi.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
        dpi.maxSets = 1;
        dpi.poolSizeCount = 1;
        dpi.pPoolSizes = &ps;
        VKP_CALL(vkCreateDescriptorPool(c.device(), &dpi, nullptr, &pool));
        VkDescriptorSetAllocateInfo ai{};
        ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
        ai.descriptorPool = pool;
        ai.descriptorSetCount = 1;
        ai.pSetLayouts = &set_layout;
        VKP_CALL(vkAllocateDescriptorSets(c.device(), &ai, &set));
        return {};
    }

    // Binds c.buffers[idx[i]] (whole) to binding i.
    void bind(const std::vector<size_t>& idx) {
        std::vector<VkDescriptorBufferInfo> infos(idx.size());
        std::vector<VkWriteDescriptorSet> writes(idx.size());
        for (size_t i = 0; i < idx.size(); ++i) {
            infos[i] = {c.buffers[idx[i]].buffer, 0, VK_WHOLE_SIZE};
            writes[i] = {};
            writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
            writes[i].dstSet = set;
            writes[i].dstBinding = uint32(i);
            writes[i].descriptorCount = 1;
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[i].pBufferInfo = &infos[i];
        }
        vkUpdateDescriptorSets(c.device(), uint32(writes.size()), writes.data(), 0, nullptr);
    }

    void record(VkCommandBuffer cmd, const void* push, uint32 gx, uint32 gy = 1) {
        vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, nullptr);
        vkCmdPushConstants(cmd, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
        vkCmdDispatch(cmd, gx, gy, 1);
    }
};

// Transfer writes (fills) -> compute reads.
void fill_then_compute_barrier(VkCommandBuffer cmd) {
    VkMemoryBarrier mb{};
    mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

ExpectedVoid fill_buffers(Context& c, const std::vector<size_t>& idx, uint32 pattern) {
    auto t = timed_submit(c, [&](VkCommandBuffer cmd) {
        for (size_t i : idx) vkCmdFillBuffer(cmd, c.buffers[i].buffer, 0, VK_WHOLE_SIZE, pattern);
        fill_then_compute_barrier(cmd);
    });
    if (!t) return t.error();
    return {};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

ExpectedVoid require_vulkan_1_2(const Context& c) {
    if (c.props.apiVersion < VK_API_VERSION_1_2)
        return make_error(ErrorCode::Device, std::string("Vulkan probe: ") + c.props.deviceName + " is Vulkan " +
                                                 std::to_string(VK_API_VERSION_MAJOR(c.props.apiVersion)) + "." +
                                                 std::to_string(VK_API_VERSION_MINOR(c.props.apiVersion)) +
                                                 "; the compute probes need 1.2");
    return {};
}

std::string timer_name(const Context& c) { return c.timestamps() ? "GPU timestamps" : "host clock"; }

}  // namespace

Expected<Bandwidth> probe_device_read(Context& c, const VulkanProbeOptions& opts) {
    VKS_TRY(require_vulkan_1_2(c));
    const VkPhysicalDeviceLimits& lim = c.props.limits;
    const uint32 wg = std::min<uint32>({256u, lim.maxComputeWorkGroupInvocations, lim.maxComputeWorkGroupSize[0]});
    ComputePipeline pipe(c);
    VKS_TRY(pipe.create("probe_read", 2, sizeof(gpu::ProbeReadParams), wg));

    // Largest buffer up to read_bytes that the device allows and can allocate (>= 64 MiB).
    uint64 bytes = std::min<uint64>(opts.read_bytes, lim.maxStorageBufferRange);
    bytes = std::max<uint64>(bytes / 4096 * 4096, 4096);
    const VkMemoryPropertyFlags kDev = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    Expected<size_t> src = make_error(ErrorCode::Device, "unset");
    for (;;) {
        src = make_buffer(c, bytes, kDev, 0, "read-probe", kStorage);
        if (src || bytes <= (uint64(64) << 20)) break;
        c.free_buffers();
        bytes /= 2;
    }
    if (!src) return src.error();
    auto dst = make_buffer(c, 4096, kDev, 0, "read-probe result", kStorage);
    if (!dst) return dst.error();
    // A fill pattern whose XOR reduction is 0 or 0x5a5a5a5a, never the sentinel; the fill
    // also makes the pages real (a never-written buffer may read as shared zero pages).
    VKS_TRY(fill_buffers(c, {*src}, 0x5a5a5a5au));
    pipe.bind({*src, *dst});
    gpu::ProbeReadParams pc{uint32(bytes / 16), 0xffffffffu};
    const uint32 groups = uint32(std::clamp<uint64>(pc.n_vec4 / (uint64(wg) * 16), 1, lim.maxComputeWorkGroupCount[0]));
    const uint32 reps = std::max(1u, opts.repetitions);
    std::vector<double> secs;
    for (uint32 r = 0; r <= reps; ++r) {
        auto t = timed_submit(c, [&](VkCommandBuffer cmd) { pipe.record(cmd, &pc, groups); });
        if (!t) return t.error();
        if (r > 0) secs.push_back(*t);  // r == 0: warm-up
    }
    c.free_buffers();
    const double s = median(secs);
    Bandwidth b;
    b.bytes = bytes;
    b.measured = s > 0;
    b.gbps = s > 0 ? double(bytes) / s / 1e9 : 0;
    b.method = "compute shader read (uvec4 grid-stride, " + std::to_string(groups) + " x " + std::to_string(wg) + " invocations), " +
               std::to_string(bytes >> 20) + " MiB, median of " + std::to_string(reps) + ", " + timer_name(c);
    if (bytes < opts.read_bytes) b.note = "buffer limited to " + std::to_string(bytes >> 20) + " MiB by the device";
    return b;
}

namespace {

// Small exact check of the kernel: values in {-1, -0.5, 0, 0.5, 1}, k = 64, so every partial
// sum (f16 or f32) is exact and the result must equal the double-precision product.
ExpectedVoid validate_matmul(Context& c, ComputePipeline& pipe) {
    const uint32 m = 128, n = 128, k = 64;
    const VkMemoryPropertyFlags kHost = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    auto a = make_buffer(c, uint64(m) * k * 2, kHost, 0, "matmul-check A", kStorage);
    if (!a) return a.error();
    auto b = make_buffer(c, uint64(n) * k * 2, kHost, 0, "matmul-check B", kStorage);
    if (!b) return b.error();
    auto out = make_buffer(c, uint64(m) * n * 4, kHost, 0, "matmul-check C", kStorage);
    if (!out) return out.error();
    auto value = [](uint32 i, uint32 salt) { return 0.5f * float(int32(((i + salt) * 2654435761u >> 27) % 5) - 2); };  // -1 .. 1, step 0.5
    std::vector<float> av(size_t(m) * k), bv(size_t(n) * k);
    for (uint32 i = 0; i < av.size(); ++i) av[i] = value(i, 17);
    for (uint32 i = 0; i < bv.size(); ++i) bv[i] = value(i, 91);
    auto* ah = static_cast<uint16*>(c.buffers[*a].mapped);
    auto* bh = static_cast<uint16*>(c.buffers[*b].mapped);
    for (size_t i = 0; i < av.size(); ++i) ah[i] = f32_to_f16(av[i]);
    for (size_t i = 0; i < bv.size(); ++i) bh[i] = f32_to_f16(bv[i]);
    pipe.bind({*a, *b, *out});
    gpu::ProbeMatmulParams pc{m, n, k};
    auto t = timed_submit(c, [&](VkCommandBuffer cmd) { pipe.record(cmd, &pc, n / 64, m / 64); });
    if (!t) return t.error();
    const float* got = static_cast<const float*>(c.buffers[*out].mapped);
    for (uint32 r = 0; r < m; ++r)
        for (uint32 col = 0; col < n; ++col) {
            double want = 0;
            for (uint32 q = 0; q < k; ++q) want += double(av[size_t(r) * k + q]) * bv[size_t(col) * k + q];
            if (double(got[size_t(r) * n + col]) != want)
                return make_error(ErrorCode::Format, "Vulkan probe: f16 matmul kernel is wrong at (" + std::to_string(r) + ", " + std::to_string(col) +
                                                         "): " + std::to_string(got[size_t(r) * n + col]) + " instead of " + std::to_string(want));
        }
    c.free_buffers();
    return {};
}

}  // namespace

Expected<Throughput> probe_f16_matmul(Context& c, const VulkanProbeOptions& opts) {
    VKS_TRY(require_vulkan_1_2(c));
    const VkPhysicalDeviceLimits& lim = c.props.limits;
    if (lim.maxComputeWorkGroupInvocations < 256 || lim.maxComputeWorkGroupSize[0] < 16 || lim.maxComputeWorkGroupSize[1] < 16)
        return make_error(ErrorCode::Device, "Vulkan probe: the matmul probe needs 16 x 16 workgroups");
    const bool fp16 = c.shader_float16() && opts.matmul_fp16_math;
    const char* variant = fp16 ? "probe_matmul_f16_fp16" : "probe_matmul_f16";
    ComputePipeline pipe(c);
    VKS_TRY(pipe.create(variant, 3, sizeof(gpu::ProbeMatmulParams)));
    VKS_TRY(validate_matmul(c, pipe));

    const uint32 max_n = std::max<uint32>(64, opts.matmul_max_n / 64 * 64);
    uint32 n = std::clamp<uint32>(opts.matmul_min_n / 64 * 64, 64, max_n);
    const uint32 reps = std::max(1u, std::min(opts.repetitions, 3u));
    const VkMemoryPropertyFlags kDev = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    double best_tflops = 0, best_s = 0;
    uint32 best_n = 0;
    for (;; n = std::min(max_n, n * 2)) {
        auto a = make_buffer(c, uint64(n) * n * 2, kDev, 0, "matmul A", kStorage);
        if (!a) return a.error();
        auto b = make_buffer(c, uint64(n) * n * 2, kDev, 0, "matmul B", kStorage);
        if (!b) return b.error();
        auto out = make_buffer(c, uint64(n) * n * 4, kDev, 0, "matmul C", kStorage);
        if (!out) return out.error();
        VKS_TRY(fill_buffers(c, {*a, *b}, 0x2e662e66u));  // every half 0.1: no overflow, no denormals
        pipe.bind({*a, *b, *out});
        gpu::ProbeMatmulParams pc{n, n, n};
        std::vector<double> secs;
        for (uint32 r = 0; r <= reps; ++r) {
            auto t = timed_submit(c, [&](VkCommandBuffer cmd) { pipe.record(cmd, &pc, n / 64, n / 64); });
            if (!t) return t.error();
            if (r > 0) secs.push_back(*t);
        }
        c.free_buffers();
        const double s = median(secs);
        const double tflops = s > 0 ? 2.0 * double(n) * n * n / s / 1e12 : 0;
        if (tflops > best_tflops) {
            best_tflops = tflops;
            best_s = s;
            best_n = n;
        }
        if (s >= opts.matmul_min_seconds || n >= max_n) break;
    }
    Throughput t;
    t.measured = best_tflops > 0;
    t.tflops = best_tflops;
    t.flops = uint64(2) * best_n * best_n * best_n;
    t.method = std::string("tiled compute shader (64 x 64 tiles, 4 x 4 per invocation, ") + (fp16 ? "f16vec2 fma" : "f32 fma on f16 inputs") + ", no tensor-core extension), " +
               std::to_string(best_n) + "^3, median of " + std::to_string(reps) + " (" + std::to_string(int64(std::lround(best_s * 1e3))) + " ms), " + timer_name(c);
    t.note = "a ceiling for the engine's own shader kernels, not the device's datasheet peak";
    return t;
}

}  // namespace vk_symbiote::probe::detail

#endif
