// Shared GLSL: specialization constants, fixed bindings, weight decoding and workgroup
// reductions. Every shader uses the same descriptor set layout (6 storage buffers):
//   0: W0 (weights, dtype by W_F32 / W_F16 / W_BF16)   1: W1 (second weight matrix: SwiGLU up)
//   2: X (f32 input)   3: Y (f32 output)   4: A (f32 aux: K cache)   5: B (f32 aux: V cache)
// f16 / bf16 weights are read as packed uint pairs (no 16-bit storage feature needed);
// bf16 is the top half of an f32.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#ifdef FP16_ARITH
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

#include "PushConstants.h"

layout(constant_id = 0) const uint WG_X = 16;
layout(constant_id = 1) const uint WG_Y = 16;
layout(constant_id = 2) const bool USE_SUBGROUP = true;
layout(constant_id = 3) const bool USE_FP16 = true;
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;

const uint WG = WG_X * WG_Y;

#if defined(W_F32)
layout(std430, binding = 0) readonly buffer W0buf { float w0[]; };
layout(std430, binding = 1) readonly buffer W1buf { float w1[]; };
float wload0(uint i) { return w0[i]; }
float wload1(uint i) { return w1[i]; }
#else
layout(std430, binding = 0) readonly buffer W0buf { uint w0[]; };
layout(std430, binding = 1) readonly buffer W1buf { uint w1[]; };
float decode16(uint word, uint i) {
    uint h = (i & 1u) != 0u ? (word >> 16) : (word & 0xffffu);
#if defined(W_F16)
    return unpackHalf2x16(h).x;
#else
    return uintBitsToFloat(h << 16);
#endif
}
float wload0(uint i) { return decode16(w0[i >> 1], i); }
float wload1(uint i) { return decode16(w1[i >> 1], i); }
#endif

layout(std430, binding = 2) readonly buffer Xbuf { float xbuf[]; };
layout(std430, binding = 3) buffer Ybuf { float ybuf[]; };
layout(std430, binding = 4) buffer Abuf { float abuf[]; };
layout(std430, binding = 5) buffer Bbuf { float bbuf[]; };

// Product of a weight and an activation. With FP16_ARITH and USE_FP16 the product is
// taken in f16 (the activation rounded to f16, as llama.cpp does), accumulated in f32.
float wmul(float w, float x) {
#ifdef FP16_ARITH
    if (USE_FP16) return float(float16_t(w) * float16_t(x));
#endif
    return w * x;
}

shared vec2 red_sh[WG];

// Sum of v over the workgroup, returned to every invocation. Must be called in uniform
// control flow by the whole workgroup.
vec2 wg_sum2(vec2 v) {
    const uint tid = gl_LocalInvocationIndex;
    if (USE_SUBGROUP) {
        v = subgroupAdd(v);
        if (subgroupElect()) red_sh[gl_SubgroupID] = v;
        barrier();
        vec2 total = vec2(0.0);
        for (uint i = 0; i < gl_NumSubgroups; ++i) total += red_sh[i];
        barrier();
        return total;
    }
    red_sh[tid] = v;
    barrier();
    uint p2 = 1;
    while (p2 < WG) p2 <<= 1;
    for (uint s = p2 >> 1; s > 0; s >>= 1) {
        if (tid < s && tid + s < WG) red_sh[tid] += red_sh[tid + s];
        barrier();
    }
    vec2 total = red_sh[0];
    barrier();
    return total;
}

float wg_sum(float v) { return wg_sum2(vec2(v, 0.0)).x; }

float wg_max(float v) {
    const uint tid = gl_LocalInvocationIndex;
    if (USE_SUBGROUP) {
        v = subgroupMax(v);
        if (subgroupElect()) red_sh[gl_SubgroupID].x = v;
        barrier();
        float m = red_sh[0].x;
        for (uint i = 1; i < gl_NumSubgroups; ++i) m = max(m, red_sh[i].x);
        barrier();
        return m;
    }
    red_sh[tid].x = v;
    barrier();
    uint p2 = 1;
    while (p2 < WG) p2 <<= 1;
    for (uint s = p2 >> 1; s > 0; s >>= 1) {
        if (tid < s && tid + s < WG) red_sh[tid].x = max(red_sh[tid].x, red_sh[tid + s].x);
        barrier();
    }
    float m = red_sh[0].x;
    barrier();
    return m;
}

// v rounded to the nearest f16-representable value (round to nearest even on the 10
// mantissa bits; the f16 exponent range is not clamped, which only matters outside
// 6e-5 .. 65504). Integer bit operations, because drivers may fold
// unpackHalf2x16(packHalf2x16(v)) into v (the NVIDIA driver does).
float round_to_f16(float v) {
    uint u = floatBitsToUint(v);
    u = (u + 0x0FFFu + ((u >> 13) & 1u)) & 0xFFFFE000u;
    return uintBitsToFloat(u);
}
