#include "model/ChatFormat.h"

namespace vk_symbiote {

namespace {

struct Marker {
    const char* needle;
    ChatFormat format;
};

// Checked in order: more specific markers first (Phi-3 also uses <|user|> like Zephyr).
constexpr Marker kMarkers[] = {
    {"<|im_start|>", ChatFormat::ChatML},
    {"<|start_header_id|>", ChatFormat::Llama3},
    {"<|end|>", ChatFormat::Phi3},
    {"<|user|>", ChatFormat::Zephyr},
    {"<start_of_turn>", ChatFormat::Gemma},
    {"<<SYS>>", ChatFormat::Llama2},
    {"[INST]", ChatFormat::Mistral},
};

}  // namespace

const char* chat_format_name(ChatFormat f) {
    switch (f) {
        case ChatFormat::Plain: return "plain";
        case ChatFormat::ChatML: return "chatml";
        case ChatFormat::Llama2: return "llama2";
        case ChatFormat::Llama3: return "llama3";
        case ChatFormat::Zephyr: return "zephyr";
        case ChatFormat::Phi3: return "phi3";
        case ChatFormat::Gemma: return "gemma";
        case ChatFormat::Mistral: return "mistral";
    }
    return "?";
}

ChatFormat detect_chat_format(const std::optional<std::string>& text) {
    if (!text || text->empty()) return ChatFormat::Plain;
    for (const Marker& m : kMarkers)
        if (text->find(m.needle) != std::string::npos) return m.format;
    return ChatFormat::Plain;
}

namespace {

// [INST] (<<SYS>>\nsystem\n<</SYS>>\n\n) user [/INST] assistant</s>[INST] ...
std::string format_inst_turns(ChatFormat f, const std::vector<ChatMessage>& msgs) {
    std::string out, sys;
    bool first_user = true;
    for (auto& m : msgs) {
        if (m.role == "system") {
            sys = m.content;
        } else if (m.role == "user") {
            out += "[INST] ";
            if (first_user && !sys.empty()) out += f == ChatFormat::Llama2 ? "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" : sys + "\n\n";
            out += m.content + " [/INST]";
            first_user = false;
        } else {
            out += " " + m.content + "</s>";
        }
    }
    return out;
}

// Every message of the conversation, in the family's layout.
std::string format_turns(ChatFormat f, const std::vector<ChatMessage>& msgs) {
    std::string out;
    for (auto& m : msgs) {
        switch (f) {
            case ChatFormat::ChatML: out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n"; break;
            case ChatFormat::Llama3: out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>"; break;
            case ChatFormat::Phi3: out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n"; break;
            case ChatFormat::Zephyr: out += "<|" + m.role + "|>\n" + m.content + "</s>\n"; break;
            case ChatFormat::Gemma:
                out += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : "user") + "\n" + m.content + "<end_of_turn>\n";
                break;
            case ChatFormat::Plain:
                out += std::string(m.role == "user" ? "User" : m.role == "assistant" ? "Assistant" : "System") + ": " + m.content + "\n";
                break;
            case ChatFormat::Llama2:
            case ChatFormat::Mistral: return format_inst_turns(f, msgs);
        }
    }
    return out;
}

// The opening of the assistant's turn.
const char* generation_prompt(ChatFormat f) {
    switch (f) {
        case ChatFormat::ChatML: return "<|im_start|>assistant\n";
        case ChatFormat::Llama3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
        case ChatFormat::Phi3:
        case ChatFormat::Zephyr: return "<|assistant|>\n";
        case ChatFormat::Gemma: return "<start_of_turn>model\n";
        case ChatFormat::Llama2:
        case ChatFormat::Mistral: return "";  // the user's [/INST] already opens the reply
        case ChatFormat::Plain: return "Assistant:";
    }
    return "";
}

}  // namespace

std::string format_chat(ChatFormat f, const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
    std::string out = format_turns(f, msgs);
    return add_generation_prompt ? out + generation_prompt(f) : out;
}

}  // namespace vk_symbiote
