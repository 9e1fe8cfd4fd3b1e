// Per-kernel GPU time (ShaderRuntime::set_kernel_profiling / collect_kernel_times): every
// kernel a recording dispatched is charged non-zero time and its dispatch count, and the
// per-kernel times of a command buffer never add up to more than that command buffer's own
// GPU time (VulkanCompute's timestamp pair around the whole submission). Each test uses its
// own ShaderRuntime so the shared fixture's runtime stays unprofiled.
#include <gtest/gtest.h>

#include <map>

#include "VulkanTestEnv.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

// A small layer-like sequence: rmsnorm -> matvec (n = 1) -> swiglu -> add, with barriers.
struct LayerBuffers {
    DeviceWeight norm, w, gate, up;
    GpuBuffer x, xn, y, h;
    static constexpr uint32 kE = 96, kF = 160;
};

LayerBuffers make_layer(VulkanEnv& env) {
    LayerBuffers b;
    auto nv = random_values(LayerBuffers::kE, 1);
    auto wv = random_values(size_t(LayerBuffers::kE) * LayerBuffers::kE, 2);
    auto gv = random_values(size_t(LayerBuffers::kF) * LayerBuffers::kE, 3);
    auto uv = random_values(size_t(LayerBuffers::kF) * LayerBuffers::kE, 4);
    b.norm = env.weight(nv, 1, LayerBuffers::kE, DType::F32);
    b.w = env.weight(wv, LayerBuffers::kE, LayerBuffers::kE, DType::F16);
    b.gate = env.weight(gv, LayerBuffers::kF, LayerBuffers::kE, DType::F16);
    b.up = env.weight(uv, LayerBuffers::kF, LayerBuffers::kE, DType::F16);
    auto xv = random_values(LayerBuffers::kE, 5);
    b.x = env.upload(xv.data(), xv.size() * 4);
    b.xn = env.buffer(LayerBuffers::kE * 4);
    b.y = env.buffer(LayerBuffers::kE * 4);
    b.h = env.buffer(LayerBuffers::kF * 4);
    return b;
}

ExpectedVoid record_layer(OpContext& c, VulkanEnv& env, const LayerBuffers& b) {
    const uint32 E = LayerBuffers::kE, F = LayerBuffers::kF;
    VKS_TRY(op_rmsnorm(c, b.norm, env.act(b.x, E), env.act(b.xn, E), E, 1, 1e-5f));
    c.rt.barrier();
    VKS_TRY(op_matmul(c, b.w, env.act(b.xn, E), env.act(b.y, E), 1, false));
    c.rt.barrier();
    VKS_TRY(op_swiglu(c, b.gate, b.up, env.act(b.xn, E), env.act(b.h, F), 1));
    c.rt.barrier();
    VKS_TRY(op_add(c, env.act(b.y, E), env.act(b.x, E), E));
    c.rt.barrier();
    return {};
}

// A runtime of its own with profiling on; nullptr (test skipped) without timestamps.
std::unique_ptr<ShaderRuntime> profiled_runtime(VulkanEnv& env) {
    auto rt = ShaderRuntime::create(*env.dev, {});
    EXPECT_TRUE(rt) << rt.error().to_string();
    if (!rt) return nullptr;
    auto on = (*rt)->set_kernel_profiling(true);
    if (!on) {
        EXPECT_EQ(env.dev->caps().timestamp_valid_bits, 0u) << on.error().to_string();
        return nullptr;
    }
    return std::move(*rt);
}

uint64 sum_ns(const std::vector<KernelTiming>& k) {
    uint64 s = 0;
    for (auto& t : k) s += t.total_ns;
    return s;
}

std::map<std::string, KernelTiming> by_name(const std::vector<KernelTiming>& k) {
    std::map<std::string, KernelTiming> m;
    for (auto& t : k) m[t.name] = t;
    return m;
}

}  // namespace

TEST(KernelProfiling, EveryDispatchedKernelIsChargedWithinTheSubmissionsGpuTime) {
    VKS_REQUIRE_VULKAN();
    auto rt = profiled_runtime(*env);
    if (!rt) GTEST_SKIP() << "compute queue has no timestamps";
    LayerBuffers b = make_layer(*env);
    ShaderSpecialization spec;
    OpContext c{*rt, spec, env->dummy.buffer, env->dev->caps().max_workgroup_count[0]};
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd) << cmd.error().to_string();
    rt->begin(*cmd);
    for (int rep = 0; rep < 3; ++rep) ASSERT_TRUE(record_layer(c, *env, b));
    ASSERT_TRUE(env->compute->submit_and_wait());
    const uint64 gpu_ns = env->compute->last_gpu_time_ns();
    ASSERT_TRUE(rt->collect_kernel_times());

    const auto& k = rt->kernel_times();
    auto m = by_name(k);
    const bool fp16 = rt->effective(spec).use_fp16_math;
    const std::string mv = fp16 ? "matvec_f16_fp16" : "matvec_f16";
    const std::string sw = fp16 ? "matvec_swiglu_f16_fp16" : "matvec_swiglu_f16";
    for (const std::string& name : {std::string("rmsnorm_f32"), mv, sw, std::string("add_f32")}) {
        ASSERT_TRUE(m.count(name)) << name << " missing from the kernel times";
        EXPECT_EQ(m[name].dispatches, 3u) << name;
        EXPECT_GT(m[name].total_ns, 0u) << name;
    }
    EXPECT_EQ(k.size(), 4u);
    ASSERT_GT(gpu_ns, 0u);
    // Per-kernel ns are rounded down from ticks, so the sum may only fall short.
    EXPECT_LE(sum_ns(k), gpu_ns);
    // A second collect of the same recording adds nothing.
    ASSERT_TRUE(rt->collect_kernel_times());
    EXPECT_EQ(sum_ns(rt->kernel_times()), sum_ns(k));
    EXPECT_EQ(by_name(rt->kernel_times())["add_f32"].dispatches, 3u);
    EXPECT_EQ(env->dev->validation_errors(), 0u) << env->dev->last_validation_message();
}

TEST(KernelProfiling, ARecordingSplitOverTwoCommandBuffersIsCollectedOnce) {
    VKS_REQUIRE_VULKAN();
    auto rt = profiled_runtime(*env);
    if (!rt) GTEST_SKIP() << "compute queue has no timestamps";
    LayerBuffers b = make_layer(*env);
    OpContext c{*rt, ShaderSpecialization{}, env->dummy.buffer, env->dev->caps().max_workgroup_count[0]};
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    rt->begin(*cmd);
    ASSERT_TRUE(record_layer(c, *env, b));
    ASSERT_TRUE(env->compute->submit_and_wait());
    uint64 gpu_ns = env->compute->last_gpu_time_ns();
    cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    rt->continue_recording(*cmd);
    for (int rep = 0; rep < 2; ++rep) ASSERT_TRUE(record_layer(c, *env, b));
    ASSERT_TRUE(env->compute->submit_and_wait());
    gpu_ns += env->compute->last_gpu_time_ns();
    ASSERT_TRUE(rt->collect_kernel_times());
    auto m = by_name(rt->kernel_times());
    ASSERT_TRUE(m.count("add_f32"));
    EXPECT_EQ(m["add_f32"].dispatches, 3u);
    EXPECT_EQ(m["rmsnorm_f32"].dispatches, 3u);
    EXPECT_LE(sum_ns(rt->kernel_times()), gpu_ns);

    // The next recording accumulates on top; reset clears.
    cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    rt->begin(*cmd);
    ASSERT_TRUE(record_layer(c, *env, b));
    ASSERT_TRUE(env->compute->submit_and_wait());
    ASSERT_TRUE(rt->collect_kernel_times());
    EXPECT_EQ(by_name(rt->kernel_times())["add_f32"].dispatches, 4u);
    rt->reset_kernel_times();
    EXPECT_TRUE(rt->kernel_times().empty());
    EXPECT_EQ(env->dev->validation_errors(), 0u) << env->dev->last_validation_message();
}

TEST(KernelProfiling, OffRecordsNothing) {
    VKS_REQUIRE_VULKAN();
    auto rt = ShaderRuntime::create(*env->dev, {});
    ASSERT_TRUE(rt);
    EXPECT_FALSE((*rt)->kernel_profiling());
    LayerBuffers b = make_layer(*env);
    OpContext c{**rt, ShaderSpecialization{}, env->dummy.buffer, env->dev->caps().max_workgroup_count[0]};
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    (*rt)->begin(*cmd);
    ASSERT_TRUE(record_layer(c, *env, b));
    ASSERT_TRUE(env->compute->submit_and_wait());
    ASSERT_TRUE((*rt)->collect_kernel_times());
    EXPECT_TRUE((*rt)->kernel_times().empty());
}
