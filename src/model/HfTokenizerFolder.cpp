#include "model/HfTokenizerFolder.h"

#include <unordered_map>

#include "hf/HfLayout.h"
#include "model/HfTokenizerConfig.h"
#include "model/HfTokenizerJson.h"
#include "model/SentencePieceModel.h"

namespace vk_symbiote {

namespace {

bool is_file(const Path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec);
}

// tokenizer.model's added tokens: new ids extend the table (no gaps beyond the added count),
// existing ids must have the same text.
ExpectedVoid add_spm_tokens(TokenizerParts& parts, const std::vector<HfAddedToken>& added, const std::string& where) {
    const size_t limit = parts.tokens.size() + added.size();
    for (const HfAddedToken& t : added) {
        if (t.id >= limit)
            return make_error(ErrorCode::Format, where + ": added token '" + t.content + "' has id " + std::to_string(t.id) +
                                                     ", past the " + std::to_string(limit) + " tokens there can be");
        if (t.id >= parts.tokens.size()) parts.tokens.resize(t.id + 1, TokenizerParts::Token{"", 0.0f, token_attr::kUnused});
        TokenizerParts::Token& tok = parts.tokens[t.id];
        if (!tok.text.empty() && tok.text != t.content)
            return make_error(ErrorCode::Format, where + ": added token '" + t.content + "' has id " + std::to_string(t.id) +
                                                     ", which tokenizer.model gives to '" + tok.text + "'");
        tok.text = t.content;
        tok.attr = (t.special ? token_attr::kControl : token_attr::kUserDefined) | (t.lstrip ? token_attr::kLstrip : 0) |
                   (t.rstrip ? token_attr::kRstrip : 0);
    }
    return {};
}

// Special token ids from the texts the configs name (generation_config's ids as a fallback).
ExpectedVoid resolve_special_ids(TokenizerParts& parts, const HfTokenizerConfig& c, const std::string& where) {
    std::unordered_map<std::string_view, uint32> ids;
    for (uint32 id = 0; id < parts.tokens.size(); ++id)
        if (!parts.tokens[id].text.empty()) ids.emplace(parts.tokens[id].text, id);
    struct Row {
        const char* key;
        const std::optional<std::string>& text;
        uint32& dst;
    };
    for (const Row& r : {Row{"bos_token", c.bos_token, parts.bos}, Row{"eos_token", c.eos_token, parts.eos},
                         Row{"unk_token", c.unk_token, parts.unk}, Row{"pad_token", c.pad_token, parts.pad}}) {
        if (!r.text) continue;
        auto it = ids.find(*r.text);
        if (it == ids.end())
            return make_error(ErrorCode::Format, where + ": " + r.key + " '" + *r.text +
                                                     "' (tokenizer_config.json or special_tokens_map.json) is not a token");
        r.dst = it->second;
    }
    if (!c.bos_token && c.bos_token_id) parts.bos = *c.bos_token_id;
    if (!c.pad_token && c.pad_token_id) parts.pad = *c.pad_token_id;
    // Named nowhere: the one token tokenizer.json's post-processor puts before / after the text.
    if (parts.bos == kNoTokenId && parts.prefix.size() == 1) parts.bos = parts.prefix[0];
    if (parts.eos == kNoTokenId && parts.suffix.size() == 1) parts.eos = parts.suffix[0];
    parts.eog = c.eos_token_ids;
    parts.chat_template = c.chat_template;
    return {};
}

// tokenizer.model: BOS if add_bos_token (default true, as LlamaTokenizer), EOS if add_eos_token.
ExpectedVoid set_spm_special(TokenizerParts& parts, const HfTokenizerConfig& c, const std::string& where) {
    parts.prefix.clear();
    parts.suffix.clear();
    if (c.add_bos_token.value_or(parts.bos != kNoTokenId)) {
        if (parts.bos == kNoTokenId) return make_error(ErrorCode::Format, where + ": add_bos_token is true but there is no BOS token");
        parts.prefix.push_back(parts.bos);
    }
    if (c.add_eos_token.value_or(false)) {
        if (parts.eos == kNoTokenId) return make_error(ErrorCode::Format, where + ": add_eos_token is true but there is no EOS token");
        parts.suffix.push_back(parts.eos);
    }
    return {};
}

// Ids from the tokenizer's size up to `model_vocab` as the converter writes them: unused
// tokens "[PAD<id>]" that encode never produces and decode renders as nothing.
void pad_vocabulary(TokenizerParts& parts, uint32 model_vocab) {
    for (uint32 id = uint32(parts.tokens.size()); id < model_vocab; ++id) {
        parts.tokens.push_back({hf_pad_token_text(id), 0.0f, token_attr::kUnused});
        if (parts.pipeline) parts.pieces.emplace_back();
    }
}

}  // namespace

bool has_hf_tokenizer(const Path& dir) { return is_file(dir / "tokenizer.json") || is_file(dir / "tokenizer.model"); }

Expected<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const Path& dir, uint32 model_vocab) {
    const std::string where = dir.string();
    if (!has_hf_tokenizer(dir))
        return make_error(ErrorCode::NotFound, where + ": no tokenizer.json or tokenizer.model in this folder");
    auto config = read_hf_tokenizer_config(dir);
    if (!config) return config.error();
    const bool json = is_file(dir / "tokenizer.json");
    auto parts = json ? read_tokenizer_json(dir / "tokenizer.json") : read_sentencepiece_model(dir / "tokenizer.model");
    if (!parts) return parts.error();
    if (!json) VKS_TRY(add_spm_tokens(*parts, config->added_tokens, where));
    VKS_TRY(resolve_special_ids(*parts, *config, where));
    if (!json) VKS_TRY(set_spm_special(*parts, *config, where));
    if (model_vocab > 0 && parts->tokens.size() > model_vocab)
        return make_error(ErrorCode::Format, where + ": the tokenizer has " + std::to_string(parts->tokens.size()) + " tokens, more than config.json's vocab_size " +
                                                 std::to_string(model_vocab));
    pad_vocabulary(*parts, model_vocab);
    return Tokenizer::from_parts(std::move(*parts));
}

}  // namespace vk_symbiote
