#include "model/ChatTemplate.h"

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

ChatFormat detect_chat_format(const std::optional<std::string>& tmpl) {
    if (!tmpl || tmpl->empty()) return ChatFormat::Plain;
    for (const Marker& m : kMarkers)
        if (tmpl->find(m.needle) != std::string::npos) return m.format;
    return ChatFormat::Plain;
}

std::string format_chat(ChatFormat f, const std::vector<ChatMessage>& msgs) {
    std::string out;
    switch (f) {
        case ChatFormat::ChatML:
            for (auto& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            return out + "<|im_start|>assistant\n";
        case ChatFormat::Llama3:
            for (auto& m : msgs) out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
            return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        case ChatFormat::Phi3:
            for (auto& m : msgs) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
            return out + "<|assistant|>\n";
        case ChatFormat::Zephyr:
            for (auto& m : msgs) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
            return out + "<|assistant|>\n";
        case ChatFormat::Gemma:
            for (auto& m : msgs) out += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : "user") + "\n" + m.content + "<end_of_turn>\n";
            return out + "<start_of_turn>model\n";
        case ChatFormat::Llama2:
        case ChatFormat::Mistral: {
            // [INST] (<<SYS>>\nsystem\n<</SYS>>\n\n) user [/INST] assistant</s>[INST] ...
            std::string sys;
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
        case ChatFormat::Plain:
            for (auto& m : msgs) {
                std::string who = m.role == "user" ? "User" : m.role == "assistant" ? "Assistant" : "System";
                out += who + ": " + m.content + "\n";
            }
            return out + "Assistant:";
    }
    return out;
}

}  // namespace vk_symbiote
