// RansCoder: order-0 static rANS entropy coder for one block of byte symbols (the
// exponent stream of ExponentCodec). Byte-wise renormalisation (state in [2^23, 2^31)),
// 12-bit probabilities, two interleaved states for instruction-level parallelism;
// after ryg_rans (public domain).
//
// Encoded block: u16 n_syms | n_syms x (u8 symbol, u16 freq) (symbols ascending, each
// freq >= 1, sum 4096) | u32 state0 | u32 state1 | renormalisation bytes.
// The decoder checks the table, that both final states return to the encoder's
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
