// The staged small-N kernel (matvec.comp with XCH != 0: every row's x staged chunk by chunk in
// shared memory; OpContext::smalln_kernel = Staged) against the one-row kernel
// (each row alone: the decode matvec) and against the Lanes kernel it replaces; the same for the
// regs kernel (OpContext::smalln_kernel = Regs: the staged chunks prefetched into registers a
// chunk ahead, matvec_regs.glsl), also against the staged kernel. All keep the one-row kernel's
// sum order per output when the workgroup's lane count is the same, so the bound (NMSE 1e-13)
// only allows for a driver that contracts the unrolled code differently.
// Shapes: rows not a multiple of a workgroup's rows (70: 35 units, a piece cut at 36), K not a
// multiple of the staged chunk (2408 columns = 301 packets: chunks of 32 packets at 16 rows, 256
// at 2 rows, each with a partial last one), batches of 2, 5, 16, 33, 64 rows (blocks of 2, 8, 16, several blocks of 16 with a
// partial last one); f32 / f16 / bf16 weights; the rope (normal and NeoX) and bias epilogues,
// SwiGLU (silu and gelu) and the fused RMSNorm (batches up to kMatvecMaxTokens).
#include <gtest/gtest.h>

#include <string>

#include "VulkanTestEnv.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

enum class Op { Plain, RopeBias, Swiglu, Gelu, Norm };
const char* op_name(Op o) {
    const char* names[] = {"plain", "rope+bias", "swiglu", "gelu", "norm"};
    return names[int(o)];
}

// One case's device inputs: W (rows x cols, the rope's heads of 16), U (SwiGLU's up), x
// (n rows of cols), a row bias, the rope table, an RMSNorm gamma.
struct Inputs {
    DeviceWeight w, u;
    GpuBuffer x, bias, table, gamma;
    uint32 rows = 0, cols = 0, n = 0;
    bool neox = false;
};
constexpr uint32 kHeadDim = 16, kPos0 = 3;

Inputs make_inputs(VulkanEnv& env, DType t, uint32 rows, uint32 cols, uint32 n, bool neox) {
    Inputs in;
    in.rows = rows;
    in.cols = cols;
    in.n = n;
    in.neox = neox;
    auto wv = random_values(size_t(rows) * cols, rows + cols + n), uv = random_values(size_t(rows) * cols, 7 + n);
    in.w = env.weight(wv, rows, cols, t, {rows > 36 ? 32u : 16u});  // two pieces, cut at a head boundary
    in.u = env.weight(uv, rows, cols, t, {20});
    const auto xv = random_values(size_t(n) * cols, 100 + n, 0.3f);
    in.x = env.upload(xv.data(), xv.size() * 4);
    const auto bv = random_values(rows + 2, 24);
    in.bias = env.upload(bv.data(), bv.size() * 4);
    const auto tab = rope_table(kPos0 + n, neox ? 12 : 16, 10000.0f, 1.0f);
    in.table = env.upload(tab.data(), tab.size() * 4);
    auto gv = random_values(cols + 4, 31);
    in.gamma = env.upload(gv.data(), gv.size() * 4);
    return in;
}

// Records op on rows [first, first + count) of x into the same rows of y (stride rows).
ExpectedVoid record(OpContext& c, VulkanEnv& env, Op op, const Inputs& in, const GpuBuffer& y, uint32 first, uint32 count) {
    const ActView x = env.act(in.x, in.cols, first * in.cols), out = env.act(y, in.rows, first * in.rows);
    const RowBias rb{in.bias.buffer, 2};
    const FusedNorm norm{in.gamma.buffer, 4, 1e-5f};
    switch (op) {
        case Op::Plain: return op_matmul(c, in.w, x, out, count, false);
        case Op::RopeBias: {
            const RopeConfig rc{kPos0 + first, kHeadDim, in.neox ? 12u : 16u, in.neox, 10000.0f, 1.0f, in.table.buffer};
            return op_matmul_rope(c, in.w, x, out, count, rc, nullptr, &rb);
        }
        case Op::Swiglu: return op_swiglu(c, in.w, in.u, x, out, count);
        case Op::Gelu: return op_swiglu(c, in.w, in.u, x, out, count, nullptr, FfnActivation::GeluTanh);
        case Op::Norm: return op_matmul(c, in.w, x, out, count, false, false, &norm);
    }
    return {};
}

struct Mode {
    ShaderSpecialization spec;
    bool tuned = false;
    SmallNKernel kernel = SmallNKernel::Staged;
};

OpContext& apply(OpContext& c, const Mode& m, const VulkanEnv& env) {
    c.tuned_workgroups = m.tuned;
    c.smalln_kernel = m.kernel;
    c.subgroup_size = env.dev->caps().subgroup_size;
    return c;
}

// y of the whole batch in one op (single = false) or of each row alone.
std::vector<float> run(VulkanEnv& env, Op op, const Inputs& in, const Mode& m, bool single) {
    auto y = env.buffer(size_t(in.n) * in.rows * 4);
    env.run(m.spec, [&](OpContext& c) -> ExpectedVoid {
        apply(c, m, env);
        if (!single) return record(c, env, op, in, y, 0, in.n);
        for (uint32 t = 0; t < in.n; ++t) VKS_TRY(record(c, env, op, in, y, t, 1));
        return {};
    });
    return env.download(y, size_t(in.n) * in.rows);
}

double compare(const std::vector<float>& got, const std::vector<float>& want) {
    return nmse(got, std::vector<double>(want.begin(), want.end()));
}

}  // namespace

// Each row of a staged or regs batch equals the same op on that row alone, for every dtype, batch
// and K, with subgroup reductions and f16 products (16 x 16) and with shared-memory reductions in
// an odd workgroup (8 x 5: several staging passes per thread row).
TEST(VulkanSmallNStaged, PlainRowsMatchTheirSingleRowResults) {
    VKS_REQUIRE_VULKAN();
    ShaderSpecialization odd;
    odd.workgroup_size_x = 8;
    odd.workgroup_size_y = 5;
    odd.use_subgroup_ops = false;
    odd.use_fp16_math = false;
    const Mode modes[] = {{ShaderSpecialization{}},
                          {odd},
                          {ShaderSpecialization{}, false, SmallNKernel::Regs},
                          {odd, false, SmallNKernel::Regs}};
    const uint32 cols = 2408;
    for (const auto& m : modes)
        for (DType t : {DType::F32, DType::F16, DType::BF16})
            for (uint32 n : {2u, 5u, 16u, 33u, 64u}) {
                if (m.spec.workgroup_size_x == 8 && (t == DType::BF16 || n == 64)) continue;  // lavapipe compile time
                const Inputs in = make_inputs(*env, t, 70, cols, n, false);
                const double e = compare(run(*env, Op::Plain, in, m, false), run(*env, Op::Plain, in, m, true));
                EXPECT_LT(e, 1e-13) << dtype_name(t) << " " << m.spec.workgroup_size_x << "x" << m.spec.workgroup_size_y << " n=" << n
                                    << (m.kernel == SmallNKernel::Regs ? " regs" : " staged");
            }
}

// The epilogues (rope with a bias, SwiGLU, GELU-gated, fused RMSNorm) through the staged and the
// regs kernel against each row alone.
TEST(VulkanSmallNStaged, EpiloguesMatchTheirSingleRowResults) {
    VKS_REQUIRE_VULKAN();
    for (SmallNKernel kernel : {SmallNKernel::Staged, SmallNKernel::Regs})
        for (DType t : {DType::F16, DType::BF16})
            for (uint32 n : {5u, 33u})
                for (Op op : {Op::RopeBias, Op::Swiglu, Op::Gelu, Op::Norm}) {
                    const Mode m{ShaderSpecialization{}, false, kernel};
                    const Inputs in = make_inputs(*env, t, 48, 2408, n, n % 2 == 1 && t == DType::BF16);
                    const double e = compare(run(*env, op, in, m, false), run(*env, op, in, m, true));
                    EXPECT_LT(e, 1e-13) << op_name(op) << " " << dtype_name(t) << " n=" << n
                                        << (kernel == SmallNKernel::Regs ? " regs" : "");
                }
}

// With the backend's workgroup shapes (tuned: the staged and regs kernels have twice the thread
// rows of the Lanes kernel, the same lanes) the three kernels give the same results.
TEST(VulkanSmallNStaged, MatchesTheLanesKernel) {
    VKS_REQUIRE_VULKAN();
    const Mode staged{ShaderSpecialization{}, true, SmallNKernel::Staged}, lanes{ShaderSpecialization{}, true, SmallNKernel::Lanes},
        regs{ShaderSpecialization{}, true, SmallNKernel::Regs};
    for (DType t : {DType::F32, DType::F16})
        for (uint32 n : {5u, 16u, 33u})
            for (Op op : {Op::Plain, Op::RopeBias, Op::Swiglu}) {
                const Inputs in = make_inputs(*env, t, 64, 2408, n, true);
                const auto want = run(*env, op, in, lanes, false);
                EXPECT_LT(compare(run(*env, op, in, staged, false), want), 1e-13) << op_name(op) << " " << dtype_name(t) << " n=" << n;
                EXPECT_LT(compare(run(*env, op, in, regs, false), want), 1e-13) << "regs " << op_name(op) << " " << dtype_name(t) << " n=" << n;
            }
}
