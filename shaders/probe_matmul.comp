#version 450
// f16 matrix-multiply throughput probe of vk_symbiote_benchmark (src/bench/VulkanComputeProbe):
// C = A B^T with A (m x k) and B (n x k) f16 (packed uint pairs along k), C f32.
// A plain shader-core kernel (no cooperative-matrix / tensor-core extension), the same
// instruction mix our own kernels can use, so its rate is a measured ceiling for them.
//
// 256 invocations (16 x 16) per workgroup compute a 128 x 128 tile of C; invocation
// (tx, ty) owns rows ty + 16 i and columns tx + 16 j, i, j < 8 (64 outputs). k advances in
// tiles of 16 (8 packed pairs) staged in shared memory, [pair][row] so a loop step reads
// 8 + 8 words that are shared across the workgroup. With FP16_ARITH the products and
// sums are f16vec2 (one fma per k pair and output: the device's packed-f16 rate), the two
// lanes added in f32 at the end; without it, f32 fma on the unpacked values.
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

const uint TILE = 128, KP = 8;  // rows/cols per workgroup tile; k pairs per k tile
shared uint as[KP][TILE];
shared uint bs[KP][TILE];

#ifdef FP16_ARITH
#define ACC f16vec2
#define LOADV(w) unpackFloat2x16(w)
#define ZERO f16vec2(0.0hf)
#else
#define ACC float
#define LOADV(w) unpackHalf2x16(w)
#define ZERO 0.0
#endif

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint tid = gl_LocalInvocationIndex;
    const uint row0 = gl_WorkGroupID.y * TILE, col0 = gl_WorkGroupID.x * TILE;
    const uint kq = p.k / 8u;  // uvec4 (8 halves) per row
    // Tile loads: invocation tid stages uvec4 number (tid & 1) of row (tid >> 1).
    const uint lr = tid >> 1u, lh = tid & 1u;
    ACC acc[8][8];
    for (uint i = 0u; i < 8u; ++i)
        for (uint j = 0u; j < 8u; ++j) acc[i][j] = ZERO;
    for (uint k0 = 0u; k0 < p.k; k0 += 16u) {
        const uvec4 av = a4[(row0 + lr) * kq + k0 / 8u + lh];
        const uvec4 bv = b4[(col0 + lr) * kq + k0 / 8u + lh];
        for (uint q = 0u; q < 4u; ++q) {
            as[lh * 4u + q][lr] = av[q];
            bs[lh * 4u + q][lr] = bv[q];
        }
        barrier();
        for (uint kk = 0u; kk < KP; ++kk) {
#ifdef FP16_ARITH
            f16vec2 a[8], b[8];
#else
            vec2 a[8], b[8];
#endif
            for (uint i = 0u; i < 8u; ++i) a[i] = LOADV(as[kk][ty + 16u * i]);
            for (uint j = 0u; j < 8u; ++j) b[j] = LOADV(bs[kk][tx + 16u * j]);
            for (uint i = 0u; i < 8u; ++i)
                for (uint j = 0u; j < 8u; ++j) {
#ifdef FP16_ARITH
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
#else
                    acc[i][j] = fma(a[i].x, b[j].x, fma(a[i].y, b[j].y, acc[i][j]));
#endif
                }
        }
        barrier();
    }
    for (uint i = 0u; i < 8u; ++i)
        for (uint j = 0u; j < 8u; ++j) {
#ifdef FP16_ARITH
            const float v = float(acc[i][j].x) + float(acc[i][j].y);
#else
            const float v = acc[i][j];
#endif
            c[(row0 + ty + 16u * i) * p.n + col0 + tx + 16u * j] = v;
        }
}
