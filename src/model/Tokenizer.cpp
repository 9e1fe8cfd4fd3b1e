#include "model/Tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "model/HfPipeline.h"
#include "model/Unicode.h"

namespace vk_symbiote {

namespace {

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
