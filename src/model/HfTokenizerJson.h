// Reads a Hugging Face tokenizer.json into TokenizerParts (Tokenizer::from_parts builds the
// tokenizer): the BPE model's vocabulary and merges, the added tokens, the normalizer,
// pre-tokenizer, post-processor (the ids add_special puts around the text) and decoder. Every
// component type or option that is not implemented is refused by name, e.g.
// "<file>: pre_tokenizer type 'Whitespace' is not supported (supported: ...)".
// Special-token names, BOS / EOS and the chat template come from the files beside it
// (model/HfTokenizerConfig.h); model/HfTokenizerFolder.h puts them together.
#pragma once

#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

Expected<TokenizerParts> read_tokenizer_json(const Path& file);

}  // namespace vk_symbiote
