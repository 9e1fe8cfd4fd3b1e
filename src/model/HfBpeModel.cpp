#include "model/HfBpeModel.h"

#include <algorithm>
#include <queue>

#include "model/HfJson.h"
#include "model/Tokenizer.h"
#include "model/Unicode.h"

namespace vk_symbiote {

namespace {

using namespace hf_json;
using VocabIndex = std::unordered_map<std::string_view, uint32>;  // same as HfBpeModel::VocabIndex

// Options that change encoding in ways this model does not implement: null, 0 or "" only.
ExpectedVoid refuse_options(const Json& model, const std::string& where) {
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        auto v = optional_string(model, key, where);
        if (!v) return v.error();
        if (*v && !(*v)->empty())
            return make_error(ErrorCode::Unsupported, field(where, key) + ": '" + **v + "' is not supported (only null or \"\")");
    }
    auto dropout = model.find("dropout");
    if (dropout != model.end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0.0))
        return make_error(ErrorCode::Unsupported, field(where, "dropout") + ": " + dropout->dump() + " is not supported (only null)");
    return {};
}

// One merge: "a b" (exactly one space) or ["a", "b"].
Expected<std::pair<std::string, std::string>> merge_pair(const Json& m, const std::string& where) {
    if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
            return make_error(ErrorCode::Format, where + ": '" + s + "' is not two tokens separated by one space");
        return std::make_pair(s.substr(0, sp), s.substr(sp + 1));
    }
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        return std::make_pair(m[0].get<std::string>(), m[1].get<std::string>());
    return make_error(ErrorCode::Format, where + ": expected \"a b\" or [\"a\", \"b\"]");
}

Expected<uint32> vocab_id(const VocabIndex& index, const std::string& text, const std::string& where) {
    auto it = index.find(text);
    if (it == index.end()) return make_error(ErrorCode::Format, where + ": '" + text + "' is not in the vocabulary");
    return it->second;
}

}  // namespace

Expected<HfBpeModel> HfBpeModel::build(const nlohmann::json& model, const std::vector<std::string>& vocab, const std::string& where) {
    HfBpeModel m;
    VKS_TRY(refuse_options(model, where));
    auto byte_fallback = bool_or(model, "byte_fallback", false, where);
    auto fuse_unk = bool_or(model, "fuse_unk", false, where);
    auto ignore_merges = bool_or(model, "ignore_merges", false, where);
    auto unk = optional_string(model, "unk_token", where);
    auto merges = array_at(model, "merges", where);
    if (!byte_fallback) return byte_fallback.error();
    if (!fuse_unk) return fuse_unk.error();
    if (!ignore_merges) return ignore_merges.error();
    if (!unk) return unk.error();
    if (!merges) return merges.error();
    m.byte_fallback_ = *byte_fallback, m.fuse_unk_ = *fuse_unk, m.ignore_merges_ = *ignore_merges;

    VocabIndex index;
    index.reserve(vocab.size());
    m.in_model_.assign(vocab.size(), 0);
    for (uint32 id = 0; id < vocab.size(); ++id) {
        if (vocab[id].empty()) continue;
        index.emplace(vocab[id], id);
        m.in_model_[id] = 1;
    }
    if (*unk) {
        auto id = vocab_id(index, **unk, field(where, "unk_token"));
        if (!id) return id.error();
        m.unk_ = *id;
    }
    m.byte_ids_.assign(256, kNoTokenId);
    static const char* hex = "0123456789ABCDEF";
    for (uint32 b = 0; b < 256; ++b) {
        const std::string name = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
        if (auto it = index.find(name); it != index.end()) m.byte_ids_[b] = it->second;
    }
    VKS_TRY(m.read_merges(**merges, index, field(where, "merges")));
    return m;
}

ExpectedVoid HfBpeModel::read_merges(const nlohmann::json& merges, const VocabIndex& index, const std::string& where) {
    merges_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
        const std::string at = item(where, i);
        auto pair = merge_pair(merges[i], at);
        if (!pair) return pair.error();
        auto left = vocab_id(index, pair->first, at);
        auto right = vocab_id(index, pair->second, at);
        auto merged = vocab_id(index, pair->first + pair->second, at);
        if (!left) return left.error();
        if (!right) return right.error();
        if (!merged) return merged.error();
        merges_.insert_or_assign(pair_key(*left, *right), Merge{static_cast<uint32>(i), *merged});  // a later duplicate wins, as in Hugging Face
    }
    return {};
}

uint32 HfBpeModel::model_id(const Tokenizer& tok, std::string_view text) const {
    const std::optional<uint32> id = tok.token_id(text);
    return id && *id < in_model_.size() && in_model_[*id] ? *id : kNoTokenId;
}

void HfBpeModel::encode(const Tokenizer& tok, std::string_view piece, std::vector<uint32>& out) const {
    if (piece.empty()) return;
    if (ignore_merges_) {
        const uint32 id = model_id(tok, piece);
        if (id != kNoTokenId) {
            out.push_back(id);
            return;
        }
    }
    std::vector<Symbol> syms = initial_symbols(tok, piece);
    merge_all(syms);
    for (const Symbol& s : syms)
        if (s.alive) out.push_back(s.id);
}

// One symbol per character: its token, else its bytes' tokens (byte_fallback), else the
// unknown token (one for a run of unknown characters with fuse_unk). A character with none of
// these is dropped (Hugging Face reports an error there).
std::vector<HfBpeModel::Symbol> HfBpeModel::initial_symbols(const Tokenizer& tok, std::string_view piece) const {
    std::vector<Symbol> syms;
    auto add = [&](uint32 id) { syms.push_back(Symbol{id, static_cast<int>(syms.size()) - 1, -1, true}); };
    bool prev_unknown = false;
    for (size_t pos = 0; pos < piece.size();) {
        const size_t n = std::min(unicode::utf8_len(static_cast<uint8>(piece[pos])), piece.size() - pos);
        const std::string_view ch = piece.substr(pos, n);
        pos += n;
        const uint32 id = model_id(tok, ch);
        const bool bytes = byte_fallback_ && std::all_of(ch.begin(), ch.end(), [&](char c) { return byte_ids_[static_cast<uint8>(c)] != kNoTokenId; });
        if (id != kNoTokenId) {
            add(id);
        } else if (bytes) {
            for (char c : ch) add(byte_ids_[static_cast<uint8>(c)]);
        } else if (unk_ != kNoTokenId && !(fuse_unk_ && prev_unknown)) {
            add(unk_);
        }
        prev_unknown = id == kNoTokenId && !bytes;
    }
    for (size_t i = 0; i + 1 < syms.size(); ++i) syms[i].next = static_cast<int>(i + 1);
    return syms;
}

// Repeatedly merges the adjacent pair with the lowest merge rank (ties: leftmost). Queue entries
// go stale when a neighbour merges first; they are recognised by the pair no longer merging
// into the same token.
void HfBpeModel::merge_all(std::vector<Symbol>& syms) const {
    struct Candidate {
        uint32 rank;
        int pos;
        uint32 id;
    };
    auto worse = [](const Candidate& a, const Candidate& b) { return a.rank > b.rank || (a.rank == b.rank && a.pos > b.pos); };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
    auto push = [&](int left) {
        if (left < 0 || syms[left].next < 0) return;
        auto it = merges_.find(pair_key(syms[left].id, syms[syms[left].next].id));
        if (it != merges_.end()) queue.push(Candidate{it->second.rank, left, it->second.id});
    };
    for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) push(i);
    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& l = syms[c.pos];
        if (!l.alive || l.next < 0) continue;
        Symbol& r = syms[l.next];
        auto it = merges_.find(pair_key(l.id, r.id));
        if (it == merges_.end() || it->second.id != c.id) continue;  // stale
        l.id = c.id;
        r.alive = false;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = c.pos;
        push(l.prev);
        push(c.pos);
    }
}

}  // namespace vk_symbiote
