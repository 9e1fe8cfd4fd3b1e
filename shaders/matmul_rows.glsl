// Logical rows of the tiled matmul kernels (matmul.comp, matmul_coop.comp) and the epilogue
// that writes a pair (2q, 2q + 1): plain = weight rows; rope (p.head_dim != 0) = rotation unit
// q with the (cos, sin) table in binding 5, rounded if p.round_f16; SWIGLU = gate row q of W0
// and up row q of W1 -> act(gate) * up at row q (silu, or gelu_tanh with USE_GELU); HAS_BIAS
// adds binding 1's row bias first. Include after the MatmulParams push constant.

// Weight row and source matrix (0: W0, 1: W1) of logical row L; false past the last row.
bool logical_row(uint L, out uint row, out uint src) {
    src = 0u;
#if defined(SWIGLU)
    row = L / 2u;
    src = L & 1u;
    return row < p.rows;
#else
    if (p.head_dim != 0u) {
        const uint unit = L / 2u;
        if (unit >= p.rows / 2u) { row = 0u; return false; }
        const RopePair rp = rope_pair(unit, p.head_dim, p.n_rot, p.rope_neox);
        row = (L & 1u) != 0u ? rp.r1 : rp.r0;
        return true;
    }
    row = L;
    return L < p.rows;
#endif
}

float out_round(float v) { return p.round_f16 != 0u ? round_to_f16(v) : v; }

// Writes the results of pair (logical rows L, L + 1) for token tok.
void store_pair(uint L, uint tok, vec2 a) {
    const uint yb = p.y_offset + tok * p.y_stride;
#if defined(SWIGLU)
    const uint row = L / 2u;
    if (row >= p.rows) return;
    const float res = gate_act(a.x) * a.y;
    ybuf[yb + row] = p.accumulate != 0u ? ybuf[yb + row] + res : res;
#else
    if (p.head_dim != 0u) {
        const uint unit = L / 2u;
        if (unit >= p.rows / 2u) return;
        const RopePair rp = rope_pair(unit, p.head_dim, p.n_rot, p.rope_neox);
        if (HAS_BIAS) a += vec2(biasbuf[p.bias_offset + rp.r0], biasbuf[p.bias_offset + rp.r1]);
        const vec2 v = rp.rotate ? rope_rotate(a, p.pos0 + tok, rp.i, p.n_rot) : a;
        ybuf[yb + rp.r0] = out_round(v.x);
        ybuf[yb + rp.r1] = out_round(v.y);
        return;
    }
    if (HAS_BIAS) a += vec2(biasbuf[p.bias_offset + min(L, p.rows - 1u)], biasbuf[p.bias_offset + min(L + 1u, p.rows - 1u)]);
    if (L < p.rows) ybuf[yb + L] = out_round(p.accumulate != 0u ? ybuf[yb + L] + a.x : a.x);
    if (L + 1u < p.rows) ybuf[yb + L + 1u] = out_round(p.accumulate != 0u ? ybuf[yb + L + 1u] + a.y : a.y);
#endif
}
