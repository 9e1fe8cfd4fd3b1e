// The positions and cache rows of the flash attention kernels (attention_flash.comp,
// attention_flash_coop.comp): the dispatch's rows are positions [pos0, pos0 + n_tokens) of one
// sequence, and keys at or past pos0 are its own rows (f32 in W0 / W1, f16 caches).
// Contiguous caches: pos0 = p.pos0, position j at cache row j (a ring of kv_rows rows with a
// sliding window: j % kv_rows). PAGED: the rows are one chunk of one sequence in a pool of
// blocks (Backend::forward_batch with a single sequence; attention.comp's row table in binding 6
// from element row_info): pos0 and the block table come from row 0's entry, position j is at
// row table[j / P] * P + j % P, and a sliding window only limits the keys.
#ifdef PAGED
layout(std430, binding = 6) readonly buffer Rows { uint rows[]; };
#endif

uint pos0;    // the position of the dispatch's row 0
uint table0;  // PAGED: the element offset of the sequence's block table in binding 6

void init_rows() {
#ifdef PAGED
    pos0 = rows[p.row_info];
    table0 = rows[p.row_info + 3u];
#else
    pos0 = p.pos0;
    table0 = 0u;
#endif
}

// Cache row of position j.
#ifdef PAGED
uint krow(uint j) { return rows[table0 + j / p.block_positions] * p.block_positions + j % p.block_positions; }
#elif defined(STREAM)
uint krow(uint j) { return j - sp.key_lo; }  // a chunk of keys from key_lo (attention_flash.comp)
#else
uint krow(uint j) { return HAS_WINDOW ? j % p.kv_rows : j; }
#endif
// The first key the query at position qp sees.
uint first_key(uint qp) { return HAS_WINDOW && qp + 1u > p.window ? qp + 1u - p.window : 0u; }
// A score as the softmax takes it (q scaled already; with HAS_SOFTCAP by scale / softcap).
float score(float s) { return HAS_SOFTCAP ? p.softcap * tanh_exp(s) : s; }
