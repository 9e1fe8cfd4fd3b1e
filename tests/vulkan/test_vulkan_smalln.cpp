// The small-N weight kernel (matvec.comp with several rows per workgroup; OpContext::
// smalln_max_tokens) for batches of 2 .. 64 rows: against the CPU kernels (CpuKernels matmul,
// f32 accumulation) for every weight dtype, and each row against its own single-row result;
// the staged kernel and the regs kernel (the default; OpContext::smalln_kernel).
// Batch sizes straddle the blocks (2, 3, 8, 9, 16, 17, 33, 64: powers of two, one past them,
// several blocks of 16 with a partial last one). Thresholds (NMSE vs the CPU): exact f32
// products 1e-10 (only the f32 summation order differs); f16 products (x rounded to f16, as
// llama.cpp does) 1e-5, as the op tests.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "VulkanTestEnv.h"
#include "backend/cpu/CpuKernels.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

const uint32 kBatches[] = {2, 3, 8, 9, 16, 17, 33, 64};
const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16};

struct Mode {
    ShaderSpecialization spec;
    const char* name;
    bool tuned = true;  // OpContext::tuned_workgroups
    uint32 block = 16;  // OpContext::smalln_block
    bool every_case = false;  // every dtype and batch (else f32 / f16 and batches 3, 17, 64: each pipeline costs
                              // lavapipe seconds to compile)
    SmallNKernel kernel = SmallNKernel::Staged;  // OpContext::smalln_kernel
};

// The backend's shapes (f16 products on: every case; off), a 32-row block (one unit per thread
// row), shared-memory reductions and an odd 8 x 5 workgroup (lane sums through shared memory,
// several per invocation); the regs kernel in the backend's shapes (every case), a 32-row block
// and the odd workgroup.
std::vector<Mode> modes() {
    ShaderSpecialization fp16, fp32, odd;
    fp32.use_fp16_math = false;
    odd.workgroup_size_x = 8;
    odd.workgroup_size_y = 5;
    odd.use_fp16_math = false;
    ShaderSpecialization shared = fp32;
    shared.use_subgroup_ops = false;
    const auto regs = SmallNKernel::Regs;
    return {{fp16, "tuned sg+fp16", true, 16, true},
            {fp32, "tuned fp32"},
            {fp32, "tuned fp32, block 32", true, 32},
            {shared, "shared+fp32", false},
            {odd, "8x5 sg", false, 4},
            {fp16, "regs tuned sg+fp16", true, 16, true, regs},
            {fp32, "regs tuned fp32, block 32", true, 32, false, regs},
            {odd, "regs 8x5 sg", false, 4, false, regs}};
}

OpContext& apply(OpContext& c, const Mode& m, const VulkanEnv& env) {
    c.tuned_workgroups = m.tuned;
    c.smalln_block = m.block;
    c.smalln_kernel = m.kernel;
    c.subgroup_size = env.dev->caps().subgroup_size;
    return c;
}

double threshold(DType t, const Mode& m, const VulkanEnv& env) {
    return t == DType::F16 && env.rt->effective(m.spec).use_fp16_math ? 1e-5 : 1e-10;
}

// y[t][r] of the CPU's exact kernel (single-threaded, scalar path) on the dtype-encoded weights.
std::vector<double> cpu_matmul(std::vector<float>& wv, DType t, const std::vector<float>& xv, uint32 rows, uint32 cols, uint32 n) {
    const auto bytes = encode(wv, t);
    std::vector<float> y(size_t(n) * rows);
    cpu::MatmulArgs a;
    a.w = bytes.data();
    a.dtype = t;
    a.rows = rows;
    a.cols = cols;
    a.x = xv.data();
    a.x_stride = cols;
    a.n_tok = n;
    a.y = y.data();
    a.y_stride = rows;
    cpu::matmul(a, nullptr, cpu::KernelPath::Scalar);
    return std::vector<double>(y.begin(), y.end());
}

}  // namespace

// The batches this file tests run the small-N kernel, and the option turns it off.
TEST(VulkanSmallN, BatchesChooseTheKernel) {
    VKS_REQUIRE_VULKAN();
    OpContext c = env->ctx(ShaderSpecialization{});
    EXPECT_EQ(smalln_block(c, 1), 1u);
    EXPECT_EQ(smalln_block(c, 2), 2u);
    EXPECT_EQ(smalln_block(c, 3), 4u);
    EXPECT_EQ(smalln_block(c, 9), 16u);
    EXPECT_EQ(smalln_block(c, 64), 16u);
    EXPECT_EQ(smalln_block(c, 65), 1u) << "more than kSmallNMaxTokens rows: the tiled matmul";
    c.smalln_block = 32;
    EXPECT_EQ(smalln_block(c, 33), 32u);
    c.smalln_block = 24;  // not a power of two: rounded down
    EXPECT_EQ(smalln_block(c, 64), 16u);
    c.smalln_max_tokens = 0;
    EXPECT_EQ(smalln_block(c, 9), 1u);
}

// The regs kernel runs where asked for 16-byte-aligned rows, with an x chunk of whole multiples of
// the lanes that fits the device's shared memory beside the reductions; unaligned rows and the
// other kernels get no regs chunk.
TEST(VulkanSmallN, RegsKernelChunksFitTheDevice) {
    VKS_REQUIRE_VULKAN();
    OpContext c = env->ctx(ShaderSpecialization{});
    c.subgroup_size = env->dev->caps().subgroup_size;
    c.smalln_kernel = SmallNKernel::Regs;
    const uint32 shared = env->dev->caps().max_shared_memory_bytes;
    ASSERT_GE(shared, 16384u) << "Vulkan's minimum maxComputeSharedMemorySize";
    for (uint32 bt : {2u, 4u, 8u, 16u, 32u}) {
        const ShaderSpecialization s = weight_kernel_spec(c, Kernel::Matvec, 2048, bt, true);
        EXPECT_EQ(s.batch_tokens, bt);
        if (s.batch_chunk == 0) {
            EXPECT_EQ(s.batch_regs, 0u) << "bt " << bt;
            EXPECT_GE(bt, 16u) << "small blocks must fit any device";
            continue;
        }
        EXPECT_EQ(s.batch_regs, 1u) << "bt " << bt;
        EXPECT_EQ(s.batch_chunk % s.workgroup_size_x, 0u) << "bt " << bt;
        EXPECT_LE(size_t(s.batch_chunk) * bt * 32 + s.workgroup_size_x * s.workgroup_size_y * 24u, shared) << "bt " << bt;
    }
    EXPECT_EQ(weight_kernel_spec(c, Kernel::Matvec, 2048, 16, false).batch_chunk, 0u) << "unaligned rows: the Lanes kernel";
    EXPECT_EQ(weight_kernel_spec(c, Kernel::Matvec, 2048, 1, true).batch_chunk, 0u) << "one row: the matvec";
    c.smalln_kernel = SmallNKernel::Staged;
    EXPECT_EQ(weight_kernel_spec(c, Kernel::Matvec, 2048, 2, true).batch_regs, 0u);
    EXPECT_GT(weight_kernel_spec(c, Kernel::Matvec, 2048, 2, true).batch_chunk, 0u);
}

// Every dtype and batch against the CPU kernel with the backend's shapes, the other modes on
// a few; on a 16-byte-load shape (cols % 8 == 0, pieces in two buffers) and a scalar one (odd
// cols, odd rows: a unit of one row).
TEST(VulkanSmallN, MatchesCpuKernelEveryDtype) {
    VKS_REQUIRE_VULKAN();
    struct Shape { uint32 rows, cols; std::vector<uint32> cuts; };
    const Shape shapes[] = {{70, 264, {36}}, {37, 131, {}}};
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (const auto& s : shapes)
                for (uint32 n : kBatches) {
                    if (!m.every_case && (t == DType::BF16 || (n != 3 && n != 17 && n != 64))) continue;
                    auto wv = random_values(size_t(s.rows) * s.cols, s.rows + n);
                    auto xv = random_values(size_t(n) * s.cols, 100 + n);
                    auto w = env->weight(wv, s.rows, s.cols, t, s.cuts);
                    auto x = env->upload(xv.data(), xv.size() * 4);
                    const uint32 off = 5;  // Y rows of stride rows + 2 from element 5; accumulate onto 0.5
                    const uint32 stride = s.rows + 2;
                    std::vector<float> y0(off + size_t(n) * stride, 0.5f);
                    auto y = env->upload(y0.data(), y0.size() * 4);
                    env->run(m.spec, [&](OpContext& c) {
                        return op_matmul(apply(c, m, *env), w, env->act(x, s.cols), env->act(y, stride, off), n, true);
                    });
                    const auto got = env->download(y, y0.size());
                    const auto want = cpu_matmul(wv, t, xv, s.rows, s.cols, n);
                    std::vector<float> g;
                    std::vector<double> wt;
                    for (uint32 tt = 0; tt < n; ++tt)
                        for (uint32 r = 0; r < stride; ++r) {
                            const float v = got[off + size_t(tt) * stride + r];
                            if (r >= s.rows) {
                                ASSERT_EQ(v, 0.5f) << "wrote past the rows of token " << tt;
                                continue;
                            }
                            g.push_back(v);
                            wt.push_back(want[size_t(tt) * s.rows + r] + 0.5);
                        }
                    EXPECT_EQ(got[0], 0.5f) << "wrote before y_offset";
                    EXPECT_LT(nmse(g, wt), threshold(t, m, *env))
                        << m.name << " " << dtype_name(t) << " " << s.rows << "x" << s.cols << " n=" << n;
                }
}

// A row's result does not depend on the batch it is in: each row of a batch equals the same
// op on that row alone (one row: the decode matvec), f16 products included. Workgroups of the
// spec's shape in both, so the per-output summation order is the same; the bound only allows
// for a driver that contracts the unrolled batch differently.
TEST(VulkanSmallN, RowsMatchTheirSingleRowResults) {
    VKS_REQUIRE_VULKAN();
    const uint32 rows = 48, cols = 96, n = 17;
    for (DType t : {DType::F32, DType::F16}) {
        auto wv = random_values(size_t(rows) * cols, 9);
        auto xv = random_values(size_t(n) * cols, 10);
        auto w = env->weight(wv, rows, cols, t);
        auto x = env->upload(xv.data(), xv.size() * 4);
        auto yb = env->buffer(size_t(n) * rows * 4), y1 = env->buffer(size_t(n) * rows * 4);
        const Mode m{ShaderSpecialization{}, "sg+fp16", false};
        env->run(m.spec, [&](OpContext& c) { return op_matmul(apply(c, m, *env), w, env->act(x, cols), env->act(yb, rows), n, false); });
        env->run(m.spec, [&](OpContext& c) -> ExpectedVoid {
            for (uint32 tt = 0; tt < n; ++tt)
                VKS_TRY(op_matmul(apply(c, m, *env), w, env->act(x, cols, tt * cols), env->act(y1, rows, tt * rows), 1, false));
            return {};
        });
        const auto batch = env->download(yb, size_t(n) * rows), single = env->download(y1, size_t(n) * rows);
        EXPECT_LT(nmse(batch, std::vector<double>(single.begin(), single.end())), 1e-13) << dtype_name(t);
    }
}

// The fused epilogues through the small-N kernel: rope (normal / NeoX; a bias) and SwiGLU, per
// dtype, for a batch of one block and one of two (a partial one), against the CPU kernel's
// products (rope and the activation in double).
TEST(VulkanSmallN, RopeAndSwigluEpilogues) {
    VKS_REQUIRE_VULKAN();
    const uint32 head_dim = 16, n_head = 3, rows = head_dim * n_head, cols = 72, pos0 = 3;
    const Mode m{ShaderSpecialization{}, "tuned sg+fp16"};
    for (DType t : kDTypes)
        for (uint32 n : {3u, 17u}) {
            auto wv = random_values(size_t(rows) * cols, 21), uv = random_values(size_t(rows) * cols, 22);
            auto xv = random_values(size_t(n) * cols, 23, 0.3f);
            auto w = env->weight(wv, rows, cols, t, {head_dim});
            auto u = env->weight(uv, rows, cols, t, {20});
            auto x = env->upload(xv.data(), xv.size() * 4);
            auto yr = env->buffer(size_t(n) * rows * 4), ys = env->buffer(size_t(n) * rows * 4);
            const auto bv = random_values(rows + 2, 24);
            auto bias = env->upload(bv.data(), bv.size() * 4);
            const RowBias rb{bias.buffer, 2};  // row r's bias at element 2 + r
            const bool neox = n % 2 == 1;
            const uint32 n_rot = neox ? 12 : 16;
            auto tab = rope_table(pos0 + n, n_rot, 10000.0f, 1.0f);
            auto tb = env->upload(tab.data(), tab.size() * 4);
            const RopeConfig rc{pos0, head_dim, n_rot, neox, 10000.0f, 1.0f, tb.buffer};
            env->run(m.spec, [&](OpContext& c) -> ExpectedVoid {
                VKS_TRY(op_matmul_rope(apply(c, m, *env), w, env->act(x, cols), env->act(yr, rows), n, rc, nullptr, &rb));
                return op_swiglu(c, w, u, env->act(x, cols), env->act(ys, rows), n);
            });
            const auto lin = cpu_matmul(wv, t, xv, rows, cols, n), up = cpu_matmul(uv, t, xv, rows, cols, n);
            auto biased = lin;
            for (size_t i = 0; i < biased.size(); ++i) biased[i] += bv[2 + i % rows];
            const auto want_rope = ref_rope(biased, rows, n, n_head, head_dim, n_rot, neox, pos0);
            std::vector<double> want_swiglu(lin.size());
            for (size_t i = 0; i < lin.size(); ++i) want_swiglu[i] = lin[i] / (1.0 + std::exp(-lin[i])) * up[i];
            const std::string what = std::string(dtype_name(t)) + " n=" + std::to_string(n);
            EXPECT_LT(nmse(env->download(yr, size_t(n) * rows), want_rope), std::max(threshold(t, m, *env), 1e-9)) << "rope " << what;
            EXPECT_LT(nmse(env->download(ys, size_t(n) * rows), want_swiglu), threshold(t, m, *env)) << "swiglu " << what;
        }
}
