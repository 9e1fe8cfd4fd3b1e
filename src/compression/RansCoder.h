// RansCoder: order-0 static rANS entropy coder for one block of byte symbols (the
// exponent stream of ExponentCodec). 32-bit states in [2^16, 2^32) renormalised 16 bits
// at a time (at most one read per symbol, so the decoder is branch-free), 12-bit
// probabilities, four interleaved states (symbol i uses state i % 4) for
// instruction-level parallelism; after ryg_rans (public domain).
//
// Encoded block: u16 n_syms | n_syms x (u8 symbol, u16 freq) (symbols ascending, each
// freq >= 1, sum 4096) | 4 x u32 states | u16 renormalisation words.
// The decoder checks the table, that every final state returns to the encoder's
// initial state and that every byte was consumed: corruption gives an Error.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <span>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Appends the encoding of `src` (at least one symbol) to `out`.
void rans_encode(std::span<const uint8> src, std::vector<uint8>& out);
// Decodes exactly dst.size() symbols; `src` must be exactly one encoded block.
ExpectedVoid rans_decode(std::span<const uint8> src, std::span<uint8> dst);

}  // namespace vk_symbiote
