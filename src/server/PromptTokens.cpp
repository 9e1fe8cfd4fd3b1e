#include "server/PromptTokens.h"

#include "model/Tokenizer.h"

namespace vk_symbiote::server {

namespace {
std::vector<uint32> tokenize_rendered(const Tokenizer& tok, const std::string& text) {
    std::vector<uint32> ids;
    if (tok.add_bos() && tok.bos_id() != Tokenizer::kNoToken) {
        const std::string& bos = tok.token_text(tok.bos_id());
        if (bos.empty() || text.compare(0, bos.size(), bos) != 0) ids.push_back(tok.bos_id());
    }
    const std::vector<uint32> body = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
}

std::optional<ApiError> completion_tokens(const CompletionRequest& req, const Tokenizer& tok, std::vector<uint32>& out) {
    if (req.prompt_tokens.empty()) {
        out = tok.encode(req.prompt, /*add_special=*/true, /*parse_special=*/true);
        if (out.empty()) out.push_back(tok.bos_id());  // an empty prompt starts from BOS alone
        return {};
    }
    for (uint32 t : req.prompt_tokens)
        if (t >= tok.n_vocab()) return bad_request("'prompt' token id " + std::to_string(t) + " is not in the vocabulary of " + std::to_string(tok.n_vocab()), "prompt");
    out = req.prompt_tokens;
    return {};
}
}  // namespace

std::optional<ApiError> render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages, std::string& out) {
    auto text = tmpl.render(messages, ChatRenderOptions{});
    if (!text) return bad_request("the chat template could not render these messages: " + text.error().message, "messages");
    out = std::move(*text);
    return {};
}

std::optional<ApiError> prompt_tokens(const CompletionRequest& req, const ChatTemplate& tmpl, const Tokenizer& tok, uint32 context_size,
                                      std::vector<uint32>& out) {
    if (req.endpoint == Endpoint::Chat) {
        std::string text;
        if (auto e = render_chat(tmpl, req.messages, text)) return e;
        out = tokenize_rendered(tok, text);
    } else if (auto e = completion_tokens(req, tok, out)) {
        return e;
    }
    if (out.size() >= context_size)
        return bad_request("the prompt is " + std::to_string(out.size()) + " tokens; a sequence holds " + std::to_string(context_size) +
                               " (--ctx-size), and at least one must be left to generate",
                           req.endpoint == Endpoint::Chat ? "messages" : "prompt");
    return {};
}

}  // namespace vk_symbiote::server
