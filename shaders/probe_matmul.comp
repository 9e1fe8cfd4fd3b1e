#version 450
// f16 matmul throughput probe of vk_symbiote_benchmark (src/probe/VulkanComputeProbe):
// C (f32) = A B^T, A (m x k) and B (n x k) f16 as packed uint pairs along k. Plain shader
// cores, no tensor-core extension: a measured ceiling for our own kernels. 16 x 16 invocations
// per 64 x 64 tile of C, 4 x 4 accumulators each (8 x 8 spills), k in tiles of 32 staged in
// shared memory as [pair][row]. FP16_ARITH: packed f16vec2 fma, summed in f32 at the end.
#extension GL_GOOGLE_include_directive : enable
#ifdef FP16_ARITH
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#include "ProbeParams.h"

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;
layout(std430, binding = 0) readonly buffer Abuf { uvec4 a4[]; };
layout(std430, binding = 1) readonly buffer Bbuf { uvec4 b4[]; };
layout(std430, binding = 2) writeonly buffer Cbuf { float c[]; };
layout(push_constant) uniform PC { ProbeMatmulParams p; };

const uint TILE = 64, KP = 16;  // rows/cols per workgroup tile; k pairs per k tile
shared uint as[KP][TILE];
shared uint bs[KP][TILE];

#ifdef FP16_ARITH
#define VEC f16vec2
#define ACC f16vec2
#define LOADV(w) unpackFloat2x16(w)
#define ZERO f16vec2(0.0hf)
#define FMA(a, b, acc) fma(a, b, acc)
#define RESULT(acc) (float(acc.x) + float(acc.y))
#else
#define VEC vec2
#define ACC float
#define LOADV(w) unpackHalf2x16(w)
#define ZERO 0.0
#define FMA(a, b, acc) fma(a.x, b.x, fma(a.y, b.y, acc))
#define RESULT(acc) (acc)
#endif

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint tid = gl_LocalInvocationIndex;
    const uint row0 = gl_WorkGroupID.y * TILE, col0 = gl_WorkGroupID.x * TILE;
    const uint kq = p.k / 8u;  // uvec4 (8 halves) per row
    // Tile loads: invocation tid stages uvec4 number (tid & 3) of tile row (tid >> 2).
    const uint lr = tid >> 2u, lq = tid & 3u;
    ACC acc00 = ZERO, acc01 = ZERO, acc02 = ZERO, acc03 = ZERO, acc10 = ZERO, acc11 = ZERO, acc12 = ZERO, acc13 = ZERO;
    ACC acc20 = ZERO, acc21 = ZERO, acc22 = ZERO, acc23 = ZERO, acc30 = ZERO, acc31 = ZERO, acc32 = ZERO, acc33 = ZERO;
    for (uint k0 = 0u; k0 < p.k; k0 += 32u) {
        const uvec4 av = a4[(row0 + lr) * kq + k0 / 8u + lq];
        const uvec4 bv = b4[(col0 + lr) * kq + k0 / 8u + lq];
        as[lq * 4u + 0u][lr] = av.x;
        as[lq * 4u + 1u][lr] = av.y;
        as[lq * 4u + 2u][lr] = av.z;
        as[lq * 4u + 3u][lr] = av.w;
        bs[lq * 4u + 0u][lr] = bv.x;
        bs[lq * 4u + 1u][lr] = bv.y;
        bs[lq * 4u + 2u][lr] = bv.z;
        bs[lq * 4u + 3u][lr] = bv.w;
        barrier();
        for (uint kk = 0u; kk < KP; ++kk) {
            const VEC a0 = LOADV(as[kk][ty * 4u]), a1 = LOADV(as[kk][ty * 4u + 1u]);
            const VEC a2 = LOADV(as[kk][ty * 4u + 2u]), a3 = LOADV(as[kk][ty * 4u + 3u]);
            const VEC b0 = LOADV(bs[kk][tx * 4u]), b1 = LOADV(bs[kk][tx * 4u + 1u]);
            const VEC b2 = LOADV(bs[kk][tx * 4u + 2u]), b3 = LOADV(bs[kk][tx * 4u + 3u]);
            acc00 = FMA(a0, b0, acc00); acc01 = FMA(a0, b1, acc01); acc02 = FMA(a0, b2, acc02); acc03 = FMA(a0, b3, acc03);
            acc10 = FMA(a1, b0, acc10); acc11 = FMA(a1, b1, acc11); acc12 = FMA(a1, b2, acc12); acc13 = FMA(a1, b3, acc13);
            acc20 = FMA(a2, b0, acc20); acc21 = FMA(a2, b1, acc21); acc22 = FMA(a2, b2, acc22); acc23 = FMA(a2, b3, acc23);
            acc30 = FMA(a3, b0, acc30); acc31 = FMA(a3, b1, acc31); acc32 = FMA(a3, b2, acc32); acc33 = FMA(a3, b3, acc33);
        }
        barrier();
    }
    // Accumulators are named scalars (not an array) so no compiler can move them to memory.
    const uint r = row0 + ty * 4u, col = col0 + tx * 4u;
    c[(r + 0u) * p.n + col + 0u] = RESULT(acc00); c[(r + 0u) * p.n + col + 1u] = RESULT(acc01);
    c[(r + 0u) * p.n + col + 2u] = RESULT(acc02); c[(r + 0u) * p.n + col + 3u] = RESULT(acc03);
    c[(r + 1u) * p.n + col + 0u] = RESULT(acc10); c[(r + 1u) * p.n + col + 1u] = RESULT(acc11);
    c[(r + 1u) * p.n + col + 2u] = RESULT(acc12); c[(r + 1u) * p.n + col + 3u] = RESULT(acc13);
    c[(r + 2u) * p.n + col + 0u] = RESULT(acc20); c[(r + 2u) * p.n + col + 1u] = RESULT(acc21);
    c[(r + 2u) * p.n + col + 2u] = RESULT(acc22); c[(r + 2u) * p.n + col + 3u] = RESULT(acc23);
    c[(r + 3u) * p.n + col + 0u] = RESULT(acc30); c[(r + 3u) * p.n + col + 1u] = RESULT(acc31);
    c[(r + 3u) * p.n + col + 2u] = RESULT(acc32); c[(r + 3u) * p.n + col + 3u] = RESULT(acc33);
}
