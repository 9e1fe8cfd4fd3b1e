// What a Hugging Face model folder says about its tokenizer besides the vocabulary, read from
// tokenizer_config.json, special_tokens_map.json, generation_config.json, added_tokens.json
// and chat_template.jinja (each optional): the special tokens by text, whether BOS / EOS are
// added, the chat template, the added tokens, and the token ids that end generation.
// Every file is hostile input: an error names the file and the key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/HfAddedTokens.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HfTokenizerConfig {
    // Special tokens by their text (tokenizer_config.json, else special_tokens_map.json).
    std::optional<std::string> bos_token, eos_token, unk_token, pad_token;
    std::optional<bool> add_bos_token, add_eos_token;  // tokenizer_config.json
    // The "default" template of tokenizer_config.json; chat_template.jinja replaces it.
    std::optional<std::string> chat_template;
    // added_tokens_decoder of tokenizer_config.json, then added_tokens.json (ids it adds, not
    // special); by id, each id once.
    std::vector<HfAddedToken> added_tokens;
    // generation_config.json: eos_token_id (one id or a list), bos_token_id, pad_token_id.
    std::vector<uint32> eos_token_ids;
    std::optional<uint32> bos_token_id, pad_token_id;
};

Expected<HfTokenizerConfig> read_hf_tokenizer_config(const Path& dir);

}  // namespace vk_symbiote
