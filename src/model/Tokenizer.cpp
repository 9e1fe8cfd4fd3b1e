#include "model/Tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "gguf/GGUFLoader.h"
#include "model/HfPipeline.h"
#include "model/Unicode.h"

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

constexpr std::string_view kSpmSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space


// Symbol of the merge loops: a byte range of the word being merged, linked to its neighbours.
struct Symbol {
    int prev = -1, next = -1;
    size_t off = 0, n = 0;  // bytes [off, off + n) of the word; n == 0 once merged away
};

std::vector<Symbol> split_chars(std::string_view text) {
    std::vector<Symbol> syms;
    size_t off = 0;
    while (off < text.size()) {
        Symbol s;
        s.off = off;
        s.n = std::min(unicode::utf8_len(static_cast<uint8>(text[off])), text.size() - off);
        off += s.n;
        s.prev = static_cast<int>(syms.size()) - 1;
        s.next = off == text.size() ? -1 : static_cast<int>(syms.size()) + 1;
        syms.push_back(s);
    }
    return syms;
}

// Merges right into left (both adjacent, non-empty).
void merge_symbols(std::vector<Symbol>& syms, int left, int right) {
    syms[left].n += syms[right].n;
    syms[right].n = 0;
    syms[left].next = syms[right].next;
    if (syms[right].next >= 0) syms[syms[right].next].prev = left;
}

}  // namespace

struct Tokenizer::Fragment {
    bool is_token = false;
    uint32 token = 0;
    size_t off = 0, len = 0;  // raw text bytes when !is_token
};

// ---- loading -------------------------------------------------------------------------------

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GGUFLoader& gguf) {
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

ExpectedVoid Tokenizer::load_tokens(const GGUFLoader& gguf) {
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

ExpectedVoid Tokenizer::load_merges(const GGUFLoader& gguf) {
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

ExpectedVoid Tokenizer::load_special_ids(const GGUFLoader& gguf) {
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

// ---- accessors -----------------------------------------------------------------------------

uint32 Tokenizer::lookup(std::string_view text) const {
    auto it = token_to_id_.find(text);
    return it == token_to_id_.end() ? kNoToken : it->second;
}

std::optional<uint32> Tokenizer::token_id(std::string_view text) const {
    const uint32 id = lookup(text);
    if (id == kNoToken) return std::nullopt;
    return id;
}

const std::string& Tokenizer::token_text(uint32 id) const {
    static const std::string empty;
    return id < tokens_.size() ? tokens_[id].text : empty;
}

uint32 Tokenizer::token_attributes(uint32 id) const { return id < tokens_.size() ? tokens_[id].attr : token_attr::kUndefined; }

std::optional<uint32> Tokenizer::eot_id() const {
    if (eot_ == kNoToken) return std::nullopt;
    return eot_;
}

bool Tokenizer::is_eog(uint32 id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

int Tokenizer::bpe_rank(std::string_view left, std::string_view right) const {
    std::string key;
    key.reserve(left.size() + right.size() + 1);
    key.append(left).append(1, ' ').append(right);
    auto it = bpe_ranks_.find(key);
    return it == bpe_ranks_.end() ? -1 : static_cast<int>(it->second);
}

// ---- encoding ------------------------------------------------------------------------------

// Cuts special-token texts out of `text`: for each special token, longest first, every
// occurrence in every remaining raw fragment becomes a token fragment (llama.cpp's
// tokenizer_st_partition).
std::vector<Tokenizer::Fragment> Tokenizer::partition_special(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back(Fragment{false, 0, 0, text.size()});
    std::vector<Fragment> next;
    for (uint32 id : special_cache_) {
        const TokenData& td = tokens_[id];
        if (!parse_special && (td.attr & (token_attr::kControl | token_attr::kUnknown))) continue;
        const std::string_view s = td.text;
        bool changed = false;
        next.clear();
        for (const Fragment& f : frags) {
            if (f.is_token) {
                next.push_back(f);
                continue;
            }
            size_t off = f.off, len = f.len;
            while (len >= s.size()) {
                const size_t m = text.substr(0, off + len).find(s, off);
                if (m == std::string_view::npos) break;
                changed = true;
                // lstrip / rstrip: the token also takes the whitespace next to it
                const size_t left_end = (td.attr & token_attr::kLstrip) ? unicode::whitespace_start(text, off, m) : m;
                size_t right = m + s.size();
                if (td.attr & token_attr::kRstrip) right = unicode::whitespace_end(text.substr(0, off + len), right);
                if (left_end > off) next.push_back(Fragment{false, 0, off, left_end - off});
                next.push_back(Fragment{true, id, 0, 0});
                len = off + len - right;
                off = right;
            }
            if (len > 0) next.push_back(Fragment{false, 0, off, len});
        }
        if (changed) frags.swap(next);
    }
    return frags;
}

std::vector<uint32> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<uint32> out;
    if (add_special) out.insert(out.end(), prefix_.begin(), prefix_.end());
    if (pipeline_)
        pipeline_->encode(*this, text, parse_special, out);
    else
        encode_fragments(text, parse_special, out);
    if (add_special) out.insert(out.end(), suffix_.begin(), suffix_.end());
    return out;
}

// GGUF and tokenizer.model: special tokens cut out, then SentencePiece or byte-level BPE.
void Tokenizer::encode_fragments(std::string_view text, bool parse_special, std::vector<uint32>& out) const {
    const std::vector<Fragment> frags = partition_special(text, parse_special);
    bool prev_special = true;  // SPM: a text fragment at the start or after a special token gets a space prefix
    for (const Fragment& f : frags) {
        if (f.is_token) {
            out.push_back(f.token);
            prev_special = true;
            continue;
        }
        const std::string_view raw = text.substr(f.off, f.len);
        if (type_ == TokenizerType::Spm) {
            std::string escaped;
            escaped.reserve(raw.size() + 8);
            if (add_space_prefix_ && prev_special) escaped += kSpmSpace;
            for (char c : raw) {
                if (c == ' ')
                    escaped += kSpmSpace;
                else
                    escaped += c;
            }
            encode_spm(escaped, out);
        } else {
            encode_bpe(raw, out);
        }
        prev_special = false;
    }
}

// SentencePiece merge: repeatedly merge the adjacent pair whose concatenation is the
// best-scoring token (ties: leftmost), then emit tokens, undoing merges that did not end in a
// token and falling back to byte tokens (llama.cpp's llm_tokenizer_spm_session).
void Tokenizer::encode_spm(std::string_view text, std::vector<uint32>& out) const {
    std::vector<Symbol> syms = split_chars(text);
    if (syms.empty()) return;
    struct Bigram {
        int left, right;
        float score;
        size_t size;
    };
    auto worse = [](const Bigram& l, const Bigram& r) { return l.score < r.score || (l.score == r.score && l.left > r.left); };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    std::unordered_map<std::string_view, std::pair<int, int>> rev_merge;  // merged text -> the two symbols it came from

    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const std::string_view piece = text.substr(syms[left].off, syms[left].n + syms[right].n);
        const uint32 id = lookup(piece);
        if (id == kNoToken) return;
        queue.push(Bigram{left, right, tokens_[id].score, piece.size()});
        rev_merge[piece] = {left, right};
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = syms[b.left];
        Symbol& r = syms[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale: one side merged since
        merge_symbols(syms, b.left, b.right);
        try_add(syms[b.left].prev, b.left);
        try_add(b.left, syms[b.left].next);
    }

    // Emit: a symbol that is a token as is; otherwise split it back along its merge, or bytes.
    std::vector<std::pair<size_t, size_t>> stack;  // (off, n) pieces still to emit, top = next
    for (int i = 0; i != -1; i = syms[i].next) {
        stack.emplace_back(syms[i].off, syms[i].n);
        while (!stack.empty()) {
            const auto [off, n] = stack.back();
            stack.pop_back();
            const std::string_view piece = text.substr(off, n);
            const uint32 id = lookup(piece);
            if (id != kNoToken) {
                out.push_back(id);
                continue;
            }
            auto it = rev_merge.find(piece);
            if (it == rev_merge.end()) {
                for (char c : piece) {
                    const uint32 b = byte_tokens_[static_cast<uint8>(c)];
                    if (b != kNoToken)
                        out.push_back(b);
                    else if (unk_ != kNoToken)
                        out.push_back(unk_);
                }
                continue;
            }
            const Symbol& a = syms[it->second.first];
            const Symbol& c = syms[it->second.second];
            // The pair recorded for this text: left part is [off, off + len(left text)).
            const size_t left_n = c.off > a.off ? c.off - a.off : 0;
            if (left_n == 0 || left_n >= n) {  // cannot happen for valid merges; never loop
                for (char ch : piece)
                    if (byte_tokens_[static_cast<uint8>(ch)] != kNoToken) out.push_back(byte_tokens_[static_cast<uint8>(ch)]);
                continue;
            }
            stack.emplace_back(off + left_n, n - left_n);
            stack.emplace_back(off, left_n);
        }
    }
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<uint32>& out) const {
    // Pre-tokenize on codepoints, then map every byte of each word to its printable codepoint.
    const std::vector<uint32> cpts = unicode::utf8_to_cpts(text);
    std::string word, mapped;
    size_t start = 0;
    for (size_t len : pre_->split_cpts(cpts)) {
        word = unicode::cpts_to_utf8(cpts.data() + start, len);
        start += len;
        mapped.clear();
        for (char c : word) mapped += unicode::byte_to_utf8(static_cast<uint8>(c));
        encode_bpe_word(mapped, out);
    }
}

// Byte-level BPE merge of one (byte-mapped) word: repeatedly merge the adjacent pair with the
// lowest merge rank (ties: leftmost) (llama.cpp's llm_tokenizer_bpe_session).
void Tokenizer::encode_bpe_word(std::string_view word, std::vector<uint32>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        const uint32 id = lookup(word);
        if (id != kNoToken) {
            out.push_back(id);
            return;
        }
    }
    std::vector<Symbol> syms = split_chars(word);
    struct Bigram {
        int left, right;
        int rank;
        size_t left_n, right_n;  // sizes when queued: a changed size means the pair is stale
    };
    auto worse = [](const Bigram& l, const Bigram& r) { return l.rank > r.rank || (l.rank == r.rank && l.left > r.left); };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const int rank = bpe_rank(word.substr(syms[left].off, syms[left].n), word.substr(syms[right].off, syms[right].n));
        if (rank >= 0) queue.push(Bigram{left, right, rank, syms[left].n, syms[right].n});
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        const Symbol& l = syms[b.left];
        const Symbol& r = syms[b.right];
        if (l.n == 0 || r.n == 0 || l.n != b.left_n || r.n != b.right_n) continue;
        merge_symbols(syms, b.left, b.right);
        try_add(syms[b.left].prev, b.left);
        try_add(b.left, syms[b.left].next);
    }
    for (int i = 0; i != -1; i = syms[i].next) {
        const std::string_view piece = word.substr(syms[i].off, syms[i].n);
        const uint32 id = lookup(piece);
        if (id != kNoToken) {
            out.push_back(id);
            continue;
        }
        // Not a token (a merge result missing from the vocabulary): single bytes that are
        // tokens, others dropped, as llama.cpp does.
        for (char c : piece) {
            const uint32 b = lookup(std::string_view(&c, 1));
            if (b != kNoToken) out.push_back(b);
        }
    }
}

// ---- decoding ------------------------------------------------------------------------------

void Tokenizer::append_piece(uint32 id, bool special, std::string& out) const {
    if (id >= tokens_.size()) return;
    const TokenData& td = tokens_[id];
    if (td.attr & (token_attr::kControl | token_attr::kUnknown)) {
        if (special) out += td.text;
        return;
    }
    if (!pieces_.empty()) {
        out += pieces_[id];
        return;
    }
    if (td.attr & token_attr::kUserDefined) {
        out += td.text;
        return;
    }
    if (type_ == TokenizerType::Spm) {
        if (td.attr & token_attr::kNormal) {
            // U+2581 -> ' '
            std::string_view t = td.text;
            for (size_t pos = 0; pos < t.size();) {
                if (t.compare(pos, kSpmSpace.size(), kSpmSpace) == 0) {
                    out += ' ';
                    pos += kSpmSpace.size();
                } else {
                    out += t[pos++];
                }
            }
        } else if (td.attr & token_attr::kByte) {
            // "<0xXX>"
            unsigned v = 0;
            if (td.text.size() == 6 && std::sscanf(td.text.c_str(), "<0x%2X>", &v) == 1)
                out += static_cast<char>(v);
            else
                out += td.text;
        }
        return;
    }
    if (td.attr & token_attr::kNormal) {
        // printable codepoint -> byte; a codepoint outside GPT-2's byte map is kept as UTF-8
        for (uint32 cpt : unicode::utf8_to_cpts(td.text)) {
            uint8 b = 0;
            if (unicode::cpt_to_byte(cpt, &b))
                out += static_cast<char>(b);
            else
                unicode::append_utf8(out, cpt);
        }
    }
}

std::string Tokenizer::token_to_piece(uint32 id) const {
    std::string out;
    append_piece(id, /*special=*/true, out);
    return out;
}

std::string Tokenizer::decode(const std::vector<uint32>& ids, DecodeStart start) const {
    std::string out;
    for (uint32 id : ids) append_piece(id, /*special=*/false, out);
    if (start == DecodeStart::TextStart && add_space_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
}

std::string TokenStreamDecoder::push(uint32 id) {
    const size_t before = pending_.size();
    tok_.append_piece(id, /*special=*/false, pending_);
    if (strip_space_ && pending_.size() > before) {
        // The first bytes of the stream: drop SPM's added leading space, like decode().
        if (pending_[before] == ' ') pending_.erase(before, 1);
        strip_space_ = false;
    }
    const size_t hold = unicode::utf8_incomplete_tail(pending_);
    std::string ready = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return ready;
}

std::string TokenStreamDecoder::flush() {
    std::string rest;
    rest.swap(pending_);
    return rest;
}

}  // namespace vk_symbiote
