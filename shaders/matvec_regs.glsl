// The regs small-N kernel (matvec.comp with REGS != 0 and XCH != 0, 16-byte loads only;
// OpContext::smalln_kernel = Regs): the staged kernel's workgroup and register tile, with the
// wait for each chunk of x taken off the critical path and x read once per thread row.
// - Register tile: a thread row owns BP units (2 BP weight rows) x BT tokens (acc[BP * BT],
//   vec2). A lane decodes its weight packet of every unit once (2 BP x 8 floats), then reads
//   each token's x packet from shared memory once (two vec4 reads) and uses it for all 2 BP rows.
// - x chunks of XCH packets (XCH / WG_X packets per lane, as many as the device's shared memory
//   and XPT x XPC prefetch registers allow) are loaded from global memory into registers (xp)
//   one chunk ahead, while the lanes multiply the current chunk, and stored into xs between two
//   barriers: the staged kernel waits for each chunk's loads between its barriers.
// - Sum order per output: lane lx takes packets lx + i WG_X in ascending order, one sum over the
//   lanes at the end (row_sum): that of the staged and one-row kernels with the same WG_X.
// - Every loop over the tile (BP, BT, XPT, XPC: specialization constants) is [[unroll]]: acc, xp
//   and the weight packets are indexed by constants only, so they stay in registers (a loop the
//   driver keeps would index them at run time: local memory).
// Included by matvec.comp after the staged kernel (uses xs, ra / rb / na / nb, acc, wa, wb, load_x8,
// row_sum, store_unit).

// Thread (lx, ly) stages tokens ly + i WG_Y (i < XPT) and packets lx + m WG_X (m < XPC) of each
// chunk (the staged kernel's assignment, so that (NORM) its x^2 sums cover exactly the packets
// lane lx multiplies, in the same order).
const uint XPT = (BT + WG_Y - 1u) / WG_Y;
const uint XPC = XCH / WG_X;
// The next chunk's x packets of this thread as they enter the products: (lo, hi) of (i, m) at
// 2 (i XPC + m) (+ 1; one spare element: XPC is 0 in the pipelines without this kernel).
vec4 xp[2u * XPT * XPC + 1u];
float ssp[XPT];  // NORM: this lane's sum of x^2 of token ly + i WG_Y

// Loads this thread's packets of chunk c0 (those < n8) into xp.
void prefetch_x(uint c0, uint n8, uint t0, uint lx, uint ly) {
    [[unroll]] for (uint i = 0u; i < XPT; ++i) {
        const uint t = ly + i * WG_Y;
        const uint x4 = (p.x_offset + min(t0 + min(t, BT - 1u), p.n_tokens - 1u) * p.x_stride) / 4u;
        [[unroll]] for (uint m = 0u; m < XPC; ++m) {
            const uint c = c0 + lx + m * WG_X;
            if (t < BT && c < n8) load_x8(x4, c, xp[2u * (i * XPC + m)], xp[2u * (i * XPC + m) + 1u], ssp[i]);
        }
    }
}

// Stores xp (chunk c0) into xs.
void store_x(uint c0, uint n8, uint lx, uint ly) {
    [[unroll]] for (uint i = 0u; i < XPT; ++i) {
        const uint t = ly + i * WG_Y;
        [[unroll]] for (uint m = 0u; m < XPC; ++m) {
            const uint c = lx + m * WG_X;
            if (t < BT && c0 + c < n8) {
                xs[t * XCH + c] = xp[2u * (i * XPC + m)];
                xs[(BT + t) * XCH + c] = xp[2u * (i * XPC + m) + 1u];
            }
        }
    }
}

// acc += the current weight packets (ra, rb) of every unit, decoded once, times every token's
// staged packet c, read once for all units.
void packet_regs(uint c) {
    vec4 al[BP], ah[BP], bl[BP], bh[BP];
    [[unroll]] for (uint j = 0u; j < BP; ++j) {
        wdecode8(ra[j], al[j], ah[j]);
        wdecode8(rb[j], bl[j], bh[j]);
    }
    [[unroll]] for (uint t = 0u; t < BT; ++t) {
        const vec4 xl = xs[t * XCH + c], xh = xs[(BT + t) * XCH + c];
        [[unroll]] for (uint j = 0u; j < BP; ++j)
            acc[j * BT + t] += vec2(dot(al[j], xl) + dot(ah[j], xh), dot(bl[j], xl) + dot(bh[j], xh));
    }
}

// The dot products over p.cols for lane lx (whole workgroup, uniform control flow: barriers).
// As dots_staged, the lane's next weight packet is loaded before the current one is used; the
// next chunk of x is loaded before the current chunk's products.
void dots_regs(uint t0, uint lx, uint ly) {
    const uint n8 = p.cols / 8u;
    [[unroll]] for (uint i = 0u; i < BP * BT; ++i) acc[i] = vec2(0.0);
    [[unroll]] for (uint i = 0u; i < XPT; ++i) ssp[i] = 0.0;
    uint q = lx;
    [[unroll]] for (uint j = 0u; j < BP; ++j) {
        ra[j] = wraw8_0(wa[j] / 8u + min(q, n8 - 1u));
        rb[j] = WRAW8_B(wb[j] / 8u + min(q, n8 - 1u));
    }
    prefetch_x(0u, n8, t0, lx, ly);
    for (uint c0 = 0u; c0 < n8; c0 += XCH) {
        barrier();  // every lane is done with the previous chunk
        store_x(c0, n8, lx, ly);
        barrier();
        if (c0 + XCH < n8) prefetch_x(c0 + XCH, n8, t0, lx, ly);
        for (; q < min(c0 + XCH, n8); q += WG_X) {
            const uint qn = min(q + WG_X, n8 - 1u);
            [[unroll]] for (uint j = 0u; j < BP; ++j) {
                na[j] = wraw8_0(wa[j] / 8u + qn);
                nb[j] = WRAW8_B(wb[j] / 8u + qn);
            }
            packet_regs(q - c0);
            [[unroll]] for (uint j = 0u; j < BP; ++j) {
                ra[j] = na[j];
                rb[j] = nb[j];
            }
        }
    }
#if defined(NORM)
    // ss of token t of lane lx is in thread row t % WG_Y: hand it to every thread row.
    [[unroll]] for (uint i = 0u; i < XPT; ++i)
        if (ly + i * WG_Y < BT) ss_sh[(ly + i * WG_Y) * WG_X + lx] = ssp[i];
    barrier();
    [[unroll]] for (uint t = 0u; t < BT; ++t) ss[t] = ss_sh[t * WG_X + lx];
#endif
}

// The lane sums of every (unit, token) of the tile and their stores (lane 0), as main's epilogue.
void reduce_store_regs(uint unit0, uint t0, uint lx, uint ly) {
    const uint nu = n_units();
    [[unroll]] for (uint j = 0u; j < BP; ++j)
        [[unroll]] for (uint t = 0u; t < BT; ++t) {
#if defined(NORM)
            const vec3 sums = row_sum(vec3(acc[j * BT + t], ss[t]), lx, ly);
            const vec2 r = sums.xy * inversesqrt(sums.z / float(p.cols) + p.norm_eps);
#else
            const vec2 r = row_sum(acc[j * BT + t], lx, ly);
#endif
            if (lx == 0u && unit0 + j < nu && t0 + t < p.n_tokens) store_unit(unit0 + j, t0 + t, r);
        }
}
