// ChatTemplate: a model's prompt format. The model's own Jinja chat template (the GGUF's
// tokenizer.chat_template, or a file the user names instead) is rendered by the template
// engine (src/template) the way Hugging Face's apply_chat_template renders it; only a model
// that carries no template gets a marker-based fallback (ChatFormat), recognised from the
// special tokens of its vocabulary.
//
// The API the chat command uses, and the one a server calls (messages in OpenAI's JSON form):
//   auto tmpl = ChatTemplate::for_model(tokenizer, "model.gguf");  // or from_jinja(text of a file)
//   auto prompt = tmpl->render(messages, ChatRenderOptions{});  // Expected<std::string>
// A template that fails to render is an error naming the template (never a silent fallback).
// Immutable after creation; render() may run on several threads at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/ChatFormat.h"
#include "template/Template.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class Tokenizer;

// Hugging Face's apply_chat_template arguments.
struct ChatRenderOptions {
    bool add_generation_prompt = true;
    nlohmann::ordered_json tools = nullptr;  // the tools list (OpenAI's function format) or null
    // More template variables (enable_thinking, reasoning_effort, documents, ...); they may
    // replace the special tokens, not messages / add_generation_prompt / tools.
    nlohmann::ordered_json variables = nlohmann::ordered_json::object();
    jinja::RenderOptions limits;  // render limits and the date strftime_now() formats
};

class ChatTemplate {
public:
    // The model's tokenizer.chat_template, else the fallback its vocabulary suggests.
    // `model_name` names the template in errors. A template that does not parse is an error.
    static Expected<ChatTemplate> for_model(const Tokenizer& tok, const std::string& model_name);
    // A Jinja template (e.g. the text of --chat-template-file; `name` names it in errors) with
    // the special-token variables it gets (special_token_variables; absent ones are undefined).
    static Expected<ChatTemplate> from_jinja(std::string_view source, std::string name, nlohmann::ordered_json special_tokens);
    static ChatTemplate from_format(ChatFormat f);
    // The chat template of a Hugging Face tokenizer_config.json (`chat_template`: a string, or
    // a list of {"name", "template"} of which "default" is taken) with its bos / eos / unk /
    // pad tokens (strings or {"content": ...}; null ones stay undefined). NotFound when it has
    // no chat_template (the caller may fall back); `name` names it in errors.
    static Expected<ChatTemplate> from_tokenizer_config(const nlohmann::ordered_json& config, const std::string& name);

    // The prompt for `messages`: a JSON array of {"role": ..., "content": ...} objects (and
    // whatever else the template reads: tool_calls, reasoning_content, ...).
    Expected<std::string> render(const nlohmann::ordered_json& messages, const ChatRenderOptions& options = {}) const;

    bool is_jinja() const { return jinja_.has_value(); }
    ChatFormat fallback_format() const { return format_; }
    std::string describe() const;  // for the log: which template, from where

private:
    ChatTemplate() = default;
    Expected<std::string> render_fallback(const nlohmann::ordered_json& messages, bool add_generation_prompt) const;

    std::optional<jinja::Template> jinja_;
    nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();  // bos_token, eos_token, ...
    ChatFormat format_ = ChatFormat::Plain;  // the fallback, when there is no template
};

// The special tokens a template may print: bos_token, eos_token, unk_token, pad_token (those
// the vocabulary has), as their text.
nlohmann::ordered_json special_token_variables(const Tokenizer& tok);

}  // namespace vk_symbiote
