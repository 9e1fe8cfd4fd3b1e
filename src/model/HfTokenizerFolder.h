// The tokenizer of a Hugging Face model folder, as one Tokenizer (the engine's class, so
// encode / decode / the stream decoder work unchanged): tokenizer.json if the folder has one,
// else tokenizer.model (SentencePiece), completed by the folder's configs (model/HfTokenizerConfig.h):
// - BOS / EOS / UNK / PAD ids from the special tokens the configs name (generation_config.json's
//   bos / pad ids where they name none);
// - what encode(add_special = true) adds: tokenizer.json's post-processor; for tokenizer.model,
//   BOS if add_bos_token (default true) and EOS if add_eos_token (default false);
// - tokenizer.model's added tokens (added_tokens_decoder, added_tokens.json): CONTROL when
//   special, else USER_DEFINED, with their lstrip / rstrip;
// - end of generation: EOS, generation_config.json's eos_token_id (one or a list), and the
//   usual end-of-turn texts (Tokenizer); the chat template as a string.
// Separate from loading the folder's weights, so that a folder holding only tokenizer files
// works (vk_symbiote tokenize).
#pragma once

#include <memory>

#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Whether `dir` is a folder with a tokenizer.json or a tokenizer.model.
bool has_hf_tokenizer(const Path& dir);

// `model_vocab` (config.json's vocab_size; 0: none): ids past the tokenizer's own up to it
// become padding tokens "[PAD<id>]" (unused: never encoded, decoded as nothing), as
// llama.cpp's converter writes them; a tokenizer larger than it is an error.
Expected<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const Path& dir, uint32 model_vocab = 0);

}  // namespace vk_symbiote
