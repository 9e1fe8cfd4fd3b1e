// Building a Tokenizer: from GGUF metadata (tokenizer.ggml.*, as llama.cpp reads it) or from
// TokenizerParts (the Hugging Face readers), and what both finish with (the special-token
// tables). Encoding and decoding are in Tokenizer.cpp.
#include "model/Tokenizer.h"

#include <algorithm>

#include "gguf/ModelSource.h"

namespace vk_symbiote {

namespace {

// tokenizer.ggml.token_type values (llama.cpp's LLAMA_TOKEN_TYPE_*) -> token_attr bits.
uint32 attr_from_type(int64 type) {
    switch (type) {
        case 1: return token_attr::kNormal;
        case 2: return token_attr::kUnknown;
        case 3: return token_attr::kControl;
        case 4: return token_attr::kUserDefined;
        case 5: return token_attr::kUnused;
        case 6: return token_attr::kByte;
        default: return token_attr::kUndefined;
    }
}

// Token texts that llama.cpp recognises as end-of-turn / end-of-generation when the metadata
// does not say (llama-vocab.cpp, "auto-detect special tokens by text"). Such tokens become
// CONTROL. Earlier rows win when a vocabulary has several EOT candidates.
const std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",  // DeepSeek "<｜end▁of▁sentence｜>"
    "<end_of_utterance>",
};
const std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
};


}  // namespace

// ---- loading -------------------------------------------------------------------------------

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const ModelSource& gguf) {
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    t->file_ = gguf.path().string();
    auto model = gguf.get_string("tokenizer.ggml.model");
    if (!model) return model.error();
    if (*model == "llama") {
        t->type_ = TokenizerType::Spm;
    } else if (*model == "gpt2") {
        t->type_ = TokenizerType::Bpe;
    } else {
        return make_error(ErrorCode::Unsupported, t->file_ + ": tokenizer.ggml.model: '" + *model +
                                                      "' is not supported (supported: 'llama', 'gpt2')");
    }
    VKS_TRY(t->load_tokens(gguf));

    if (t->type_ == TokenizerType::Spm) {
        t->add_bos_ = true;
        t->add_space_prefix_ = true;
        t->build_byte_tokens();
    } else {
        VKS_TRY(t->load_merges(gguf));
        std::string pre;
        if (gguf.has_key("tokenizer.ggml.pre")) {
            auto p = gguf.get_string("tokenizer.ggml.pre");
            if (!p) return p.error();
            pre = *p;
        }
        auto pt = PreTokenizer::from_name(pre, t->file_);
        if (!pt) return pt.error();
        t->pre_ = *pt;
        t->add_bos_ = pt->info().add_bos;
        t->ignore_merges_ = pt->info().ignore_merges;
    }
    VKS_TRY(t->load_special_ids(gguf));

    auto flag = [&](const char* key, bool& dst) -> ExpectedVoid {
        if (!gguf.has_key(key)) return {};
        auto v = gguf.get_bool(key);
        if (!v) return v.error();
        dst = *v;
        return {};
    };
    VKS_TRY(flag("tokenizer.ggml.add_space_prefix", t->add_space_prefix_));
    VKS_TRY(flag("tokenizer.ggml.add_bos_token", t->add_bos_));
    VKS_TRY(flag("tokenizer.ggml.add_eos_token", t->add_eos_));
    if (t->add_bos_ && t->bos_ == kNoToken)
        return make_error(ErrorCode::Format, t->file_ + ": tokenizer.ggml.add_bos_token is true but there is no BOS token");
    if (t->add_eos_ && t->eos_ == kNoToken)
        return make_error(ErrorCode::Format, t->file_ + ": tokenizer.ggml.add_eos_token is true but there is no EOS token");

    if (t->add_bos_) t->prefix_.push_back(t->bos_);
    if (t->add_eos_) t->suffix_.push_back(t->eos_);

    if (gguf.has_key("tokenizer.chat_template")) {
        auto tmpl = gguf.get_string("tokenizer.chat_template");
        if (!tmpl) return tmpl.error();
        t->chat_template_ = *tmpl;
    }
    t->finish_special_tokens();
    return t;
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_parts(TokenizerParts parts) {
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    VKS_TRY(t->take_parts(parts));
    if (t->type_ == TokenizerType::Spm) t->build_byte_tokens();
    t->finish_special_tokens();
    return t;
}

ExpectedVoid Tokenizer::take_parts(TokenizerParts& p) {
    file_ = std::move(p.file);
    const size_t n = p.tokens.size();
    if (n == 0 || n >= kNoToken) return make_error(ErrorCode::Format, file_ + ": bad token count " + std::to_string(n));
    if (p.type == TokenizerType::Bpe)
        return make_error(ErrorCode::Internal, file_ + ": byte-level BPE tokenizers come from GGUF or a tokenizer.json pipeline");
    if ((p.type == TokenizerType::Json) != (p.pipeline != nullptr) || (p.pipeline && p.pieces.size() != n))
        return make_error(ErrorCode::Internal, file_ + ": a tokenizer.json tokenizer needs its pipeline and one piece per token");
    auto check = [&](uint32 id, const char* what) -> ExpectedVoid {
        if (id == kNoToken || id < n) return {};
        return make_error(ErrorCode::Format, file_ + ": " + what + " id " + std::to_string(id) + " is not below the " +
                                                 std::to_string(n) + " tokens");
    };
    for (uint32 id : p.prefix) VKS_TRY(check(id, "a token added before the text"));
    for (uint32 id : p.suffix) VKS_TRY(check(id, "a token added after the text"));
    for (uint32 id : p.eog) VKS_TRY(check(id, "end-of-generation token"));
    VKS_TRY(check(p.bos, "BOS"));
    VKS_TRY(check(p.eos, "EOS"));
    VKS_TRY(check(p.unk, "unknown-token"));
    VKS_TRY(check(p.pad, "padding"));

    type_ = p.type;
    tokens_.resize(n);
    token_to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        tokens_[i] = TokenData{std::move(p.tokens[i].text), p.tokens[i].score, p.tokens[i].attr};
        if (!tokens_[i].text.empty()) token_to_id_.emplace(tokens_[i].text, static_cast<uint32>(i));  // the first id wins
    }
    pipeline_ = std::move(p.pipeline);
    pieces_ = std::move(p.pieces);
    add_space_prefix_ = p.add_space_prefix;
    prefix_ = std::move(p.prefix);
    suffix_ = std::move(p.suffix);
    bos_ = p.bos, eos_ = p.eos, unk_ = p.unk, pad_ = p.pad;
    add_bos_ = !prefix_.empty() && prefix_.front() == bos_;
    add_eos_ = !suffix_.empty() && suffix_.back() == eos_;
    eog_ = std::move(p.eog);
    chat_template_ = std::move(p.chat_template);
    return {};
}

// SentencePiece byte fallback table: byte -> "<0xXX>", else the one-byte token itself.
void Tokenizer::build_byte_tokens() {
    byte_tokens_.assign(256, kNoToken);
    static const char* hex = "0123456789ABCDEF";
    for (uint32 b = 0; b < 256; ++b) {
        const char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        uint32 id = lookup(std::string_view(buf, 6));
        if (id == kNoToken) id = lookup(std::string_view(reinterpret_cast<const char*>(&b), 1));
        byte_tokens_[b] = id;
    }
}

ExpectedVoid Tokenizer::load_tokens(const ModelSource& gguf) {
    const GGUFValue* toks = gguf.find("tokenizer.ggml.tokens");
    if (!toks) return make_error(ErrorCode::NotFound, file_ + ": tokenizer.ggml.tokens: required key missing");
    if (toks->type != GGUFType::ARRAY || toks->elem_type != GGUFType::STRING)
        return make_error(ErrorCode::Format, file_ + ": tokenizer.ggml.tokens: expected an array of strings");
    const size_t n = toks->arr_str.size();
    if (n == 0 || n >= kNoToken) return make_error(ErrorCode::Format, file_ + ": tokenizer.ggml.tokens: bad token count " + std::to_string(n));

    const GGUFValue* scores = gguf.find("tokenizer.ggml.scores");
    if (scores && (scores->type != GGUFType::ARRAY || scores->arr_f.size() != n))
        return make_error(ErrorCode::Format, file_ + ": tokenizer.ggml.scores: expected " + std::to_string(n) + " floats");
    const GGUFValue* types = gguf.find("tokenizer.ggml.token_type");
    if (types && (types->type != GGUFType::ARRAY || types->arr_i.size() != n))
        return make_error(ErrorCode::Format, file_ + ": tokenizer.ggml.token_type: expected " + std::to_string(n) + " integers");

    tokens_.resize(n);
    token_to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        TokenData& td = tokens_[i];
        td.text = toks->arr_str[i];
        td.score = scores ? static_cast<float>(scores->arr_f[i]) : 0.0f;
        td.attr = types ? attr_from_type(types->arr_i[i]) : token_attr::kNormal;
        token_to_id_[td.text] = static_cast<uint32>(i);  // a later duplicate wins (as llama.cpp)
    }
    return {};
}

ExpectedVoid Tokenizer::load_merges(const ModelSource& gguf) {
    const GGUFValue* merges = gguf.find("tokenizer.ggml.merges");
    if (!merges) return make_error(ErrorCode::NotFound, file_ + ": tokenizer.ggml.merges: required key missing for a 'gpt2' tokenizer");
    if (merges->type != GGUFType::ARRAY || merges->elem_type != GGUFType::STRING)
        return make_error(ErrorCode::Format, file_ + ": tokenizer.ggml.merges: expected an array of strings");
    bpe_ranks_.reserve(merges->arr_str.size());
    for (size_t i = 0; i < merges->arr_str.size(); ++i) {
        const std::string& m = merges->arr_str[i];
        // "left right": split at the first space after the first byte (a lone space may be a symbol)
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos)
            return make_error(ErrorCode::Format, file_ + ": tokenizer.ggml.merges[" + std::to_string(i) + "]: no space in '" + m + "'");
        bpe_ranks_.emplace(m, static_cast<uint32>(i));  // the first rank of a duplicate wins
    }
    return {};
}

ExpectedVoid Tokenizer::load_special_ids(const ModelSource& gguf) {
    if (type_ == TokenizerType::Spm) {
        bos_ = 1, eos_ = 2, unk_ = 0;
    } else {
        bos_ = 11, eos_ = 11;  // llama.cpp's defaults for gpt2 vocabularies
    }
    struct Row {
        const char* key;
        uint32* dst;
    };
    const Row rows[] = {
        {"tokenizer.ggml.bos_token_id", &bos_},       {"tokenizer.ggml.eos_token_id", &eos_},
        {"tokenizer.ggml.eot_token_id", &eot_},       {"tokenizer.ggml.eom_token_id", &eom_},
        {"tokenizer.ggml.unknown_token_id", &unk_},   {"tokenizer.ggml.seperator_token_id", &sep_},
        {"tokenizer.ggml.padding_token_id", &pad_},
    };
    for (const Row& r : rows) {
        const GGUFValue* v = gguf.find(r.key);
        if (!v) continue;
        if (!v->is_integer() || v->type == GGUFType::BOOL)
            return make_error(ErrorCode::Format, file_ + ": " + r.key + ": expected an integer token id");
        const bool negative = v->i < 0 && (v->type == GGUFType::I8 || v->type == GGUFType::I16 ||
                                           v->type == GGUFType::I32 || v->type == GGUFType::I64);
        // Out-of-range ids (e.g. 0xFFFFFFFF for "none") keep the default, as llama.cpp does.
        if (!negative && v->u < tokens_.size()) *r.dst = static_cast<uint32>(v->u);
    }
    for (uint32* id : {&bos_, &eos_, &unk_})
        if (*id != kNoToken && *id >= tokens_.size()) *id = kNoToken;
    return {};
}

void Tokenizer::finish_special_tokens() {
    if (eot_ == kNoToken) {
        for (std::string_view text : kEotTexts) {
            const uint32 id = lookup(text);
            if (id == kNoToken) continue;
            eot_ = id;
            tokens_[id].attr = token_attr::kControl;
            break;
        }
    }
    for (std::string_view text : kEogTexts) {
        const uint32 id = lookup(text);
        if (id == kNoToken) continue;
        eog_.push_back(id);
        tokens_[id].attr = token_attr::kControl;
    }
    for (uint32 id : {eos_, eot_, eom_})
        if (id != kNoToken) eog_.push_back(id);
    std::sort(eog_.begin(), eog_.end());
    eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());

    const uint32 special = token_attr::kControl | token_attr::kUserDefined | token_attr::kUnknown;
    for (uint32 id = 0; id < tokens_.size(); ++id)
        if ((tokens_[id].attr & special) && !tokens_[id].text.empty()) special_cache_.push_back(id);
    std::stable_sort(special_cache_.begin(), special_cache_.end(),
                     [&](uint32 a, uint32 b) { return tokens_[a].text.size() > tokens_[b].text.size(); });
}


}  // namespace vk_symbiote
