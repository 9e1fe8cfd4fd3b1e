// ChatTemplate (the model's Jinja template, or the marker fallback) and ChatConversation (the
// conversation rendered in full each turn, only the new suffix tokenized), on real vocabularies.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "model/ChatTemplate.h"
#include "runtime/ChatConversation.h"
#include "support/TestPaths.h"
#include "support/TestTokenizer.h"

using namespace vk_symbiote;
using json = nlohmann::ordered_json;

namespace {

std::unique_ptr<Tokenizer> phi3_vocab() { return test::load_tokenizer(test::tokenizer_tests_dir() / "ggml-vocab-phi-3.gguf"); }

std::string chat_templates(const std::string& name) { return test::read_file(test::shared_dir() / "chat-templates" / name); }

// The Phi-3 vocabulary carries a chat template in its metadata: it is the one rendered.
TEST(ChatTemplate, RendersTheModelsOwnTemplate) {
    auto tok = phi3_vocab();
    ASSERT_TRUE(tok);
    auto tmpl = ChatTemplate::for_model(*tok, "phi-3.gguf");
    ASSERT_TRUE(tmpl) << tmpl.error().to_string();
    EXPECT_TRUE(tmpl->is_jinja());
    EXPECT_EQ(tmpl->describe(), "the Jinja chat template phi-3.gguf: tokenizer.chat_template");
    auto out = tmpl->render(json::array({{{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "Hello"}}}));
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(*out, "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n");  // its template prints bos_token itself
    EXPECT_EQ(special_token_variables(*tok)["eos_token"], "<|endoftext|>");
}

TEST(ChatTemplate, OptionsReachTheTemplate) {
    auto tmpl = ChatTemplate::from_jinja(chat_templates("qwen3.jinja"), "qwen3.jinja", json{{"eos_token", "<|im_end|>"}});
    ASSERT_TRUE(tmpl) << tmpl.error().to_string();
    ChatRenderOptions o;
    o.variables = {{"enable_thinking", false}};
    o.tools = json::array({{{"type", "function"}, {"function", {{"name", "now"}, {"description", "the time"}}}}});
    auto out = tmpl->render(json::array({{{"role", "user"}, {"content", "Hi"}}}), o);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_NE(out->find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"now\", \"description\": \"the time\"}}\n</tools>"), std::string::npos) << *out;
    EXPECT_TRUE(out->ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n")) << *out;
    o.add_generation_prompt = false;
    EXPECT_TRUE(tmpl->render(json::array({{{"role", "user"}, {"content", "Hi"}}}), o)->ends_with("Hi<|im_end|>\n"));
}

TEST(ChatTemplate, ErrorsNameTheTemplate) {
    auto bad = ChatTemplate::from_jinja("{% for m in messages %}", "broken.jinja", json::object());
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::Format);
    EXPECT_EQ(bad.error().message, "chat template 'broken.jinja' line 1, column 24: unexpected end of template: the 'for' block is never closed with '{% endfor %}'");
    auto gemma = ChatTemplate::from_jinja(chat_templates("gemma-2-it.jinja"), "gemma-2-it.jinja", json{{"bos_token", "<bos>"}});
    ASSERT_TRUE(gemma);
    auto r = gemma->render(json::array({{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", "U"}}}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "chat template 'gemma-2-it.jinja' line 1, column 59: the template raised an error: System role not supported");
    EXPECT_FALSE(gemma->render(json::object()));  // messages must be a list
}

// No template in the model: the fallback format the vocabulary's special tokens suggest.
TEST(ChatTemplate, FallbackWithoutATemplate) {
    auto tok = test::load_tokenizer(test::tokenizer_tests_dir() / "ggml-vocab-llama-spm.gguf");
    ASSERT_TRUE(tok);
    ASSERT_FALSE(tok->chat_template().has_value());
    auto tmpl = ChatTemplate::for_model(*tok, "llama-spm.gguf");
    ASSERT_TRUE(tmpl);
    EXPECT_FALSE(tmpl->is_jinja());
    EXPECT_EQ(tmpl->fallback_format(), ChatFormat::Plain);
    EXPECT_EQ(*tmpl->render(json::array({{{"role", "user"}, {"content", "Hi"}}})), "User: Hi\nAssistant:");
    const ChatTemplate chatml = ChatTemplate::from_format(ChatFormat::ChatML);
    ChatRenderOptions no_prompt;
    no_prompt.add_generation_prompt = false;
    EXPECT_EQ(*chatml.render(json::array({{{"role", "user"}, {"content", "Hi"}}}), no_prompt), "<|im_start|>user\nHi<|im_end|>\n");
    EXPECT_FALSE(chatml.render(json::array({{{"role", "user"}, {"content", json::array()}}})));  // content must be text here
}

std::vector<uint32> concat(std::vector<uint32> a, const std::vector<uint32>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// Turn 2's prompt starts with exactly turn 1's prompt and reply ids; only the suffix is new.
TEST(ChatConversation, KeepsThePrefixTokensAndTokenizesOnlyTheSuffix) {
    auto tok = phi3_vocab();
    ASSERT_TRUE(tok);
    auto tmpl = ChatTemplate::for_model(*tok, "phi-3.gguf");
    ASSERT_TRUE(tmpl);
    ChatConversation chat(*tmpl, *tok);
    chat.add_message("user", "Hi");
    auto p1 = chat.next_prompt();
    ASSERT_TRUE(p1) << p1.error().to_string();
    EXPECT_EQ(*p1, tok->encode("<s><|user|>\nHi<|end|>\n<|assistant|>\n", false, true));
    ASSERT_GE(p1->size(), 2u);
    EXPECT_EQ((*p1)[0], tok->bos_id());
    EXPECT_NE((*p1)[1], tok->bos_id());  // the template printed BOS: not added twice
    EXPECT_EQ(chat.reused_tokens(), 0u);

    const std::vector<uint32> reply = tok->encode("Hello there", false, false);
    chat.add_reply("Hello there", reply);
    chat.add_message("user", "Bye");
    auto p2 = chat.next_prompt();
    ASSERT_TRUE(p2);
    EXPECT_EQ(chat.reused_tokens(), p1->size() + reply.size());
    EXPECT_EQ(*p2, concat(concat(*p1, reply), tok->encode("<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n", false, true)));
    EXPECT_EQ(chat.messages().size(), 3u);
}

// A template that rewrites earlier turns: only what still matches keeps its ids, and the
// prompt is then what tokenizing the whole rendering gives.
TEST(ChatConversation, ATemplateThatRewritesHistoryIsTokenizedAgainFromTheChange) {
    auto tok = phi3_vocab();
    ASSERT_TRUE(tok);
    auto tmpl = ChatTemplate::from_jinja("{{ bos_token }}{% for m in messages %}{% if loop.last or m.role != 'assistant' %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n"
                                         "{% endif %}{% endfor %}<|assistant|>",
                                         "drops-old-replies.jinja", special_token_variables(*tok));
    ASSERT_TRUE(tmpl) << tmpl.error().to_string();
    ChatConversation chat(*tmpl, *tok);
    chat.add_message("user", "one");
    auto p1 = chat.next_prompt();
    ASSERT_TRUE(p1);
    chat.add_reply("first answer", tok->encode("first answer", false, false));
    chat.add_message("user", "two");
    auto p2 = chat.next_prompt();
    ASSERT_TRUE(p2);
    EXPECT_EQ(chat.reused_tokens(), 0u);  // the first prompt text is no longer a prefix: it ended with the assistant header
    EXPECT_EQ(*p2, tok->encode("<s><|user|>\none<|end|>\n<|user|>\ntwo<|end|>\n<|assistant|>", false, true));
}

// A model whose template does not print BOS gets it from the tokenizer, once.
TEST(ChatConversation, AddsBosWhenTheTemplateDoesNot) {
    auto tok = phi3_vocab();
    ASSERT_TRUE(tok);
    auto tmpl = ChatTemplate::from_jinja(chat_templates("phi-3.5-mini-instruct.jinja"), "phi-3.5.jinja", special_token_variables(*tok));
    ASSERT_TRUE(tmpl);
    ChatConversation chat(*tmpl, *tok);
    chat.add_message("user", "Hi");
    auto p = chat.next_prompt();
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, concat({tok->bos_id()}, tok->encode("<|user|>\nHi<|end|>\n<|assistant|>\n", false, true)));
}

TEST(ChatConversation, RenderErrorsReachTheCaller) {
    auto tok = phi3_vocab();
    ASSERT_TRUE(tok);
    auto tmpl = ChatTemplate::from_jinja("{{ raise_exception('no ' ~ messages[-1].role ~ ' here') }}", "strict.jinja", json::object());
    ASSERT_TRUE(tmpl);
    ChatConversation chat(*tmpl, *tok);
    chat.add_message("tool", "x");
    auto p = chat.next_prompt();
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().message, "chat template 'strict.jinja' line 1, column 4: the template raised an error: no tool here");
}

}  // namespace

namespace {

// Hugging Face tokenizer_config.json files (Llama 3, Qwen3, Gemma 3): their chat_template and
// special tokens render every conversation of the matching ../shared/chat-templates cases.
TEST(ChatTemplate, FromTokenizerConfigRendersTheSharedCases) {
    const std::pair<const char*, const char*> pairs[] = {{"llama3", "llama3-instruct"}, {"qwen3", "qwen3"}, {"gemma3", "gemma3-it"}};
    for (const auto& [dir, cases_name] : pairs) {
        const Path cfg_path = test::tokenizer_tests_dir() / "hf" / dir / "tokenizer_config.json";
        auto tmpl = ChatTemplate::from_tokenizer_config(json::parse(test::read_file(cfg_path)), cfg_path.string());
        ASSERT_TRUE(tmpl) << tmpl.error().to_string();
        const json cases = json::parse(test::read_file(test::shared_dir() / "chat-templates" / (std::string(cases_name) + ".cases.json")));
        for (const auto& c : cases) {
            ChatRenderOptions o;
            o.add_generation_prompt = c["add_generation_prompt"].get<bool>();
            auto out = tmpl->render(c["messages"], o);
            ASSERT_TRUE(out) << dir << "/" << c["id"] << ": " << out.error().to_string();
            EXPECT_EQ(*out, c["expected"].get<std::string>()) << dir << "/" << c["id"];
        }
    }
}

TEST(ChatTemplate, FromTokenizerConfigForms) {
    auto named = ChatTemplate::from_tokenizer_config(
        json{{"chat_template", json::array({{{"name", "tool_use"}, {"template", "T"}}, {{"name", "default"}, {"template", "{{ bos_token }}D"}}})},
             {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
             {"eos_token", nullptr}},
        "tokenizer_config.json");
    ASSERT_TRUE(named) << named.error().to_string();
    EXPECT_EQ(*named->render(json::array()), "<s>D");
    auto none = ChatTemplate::from_tokenizer_config(json{{"bos_token", "<s>"}}, "tokenizer_config.json");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::NotFound);
    auto no_default = ChatTemplate::from_tokenizer_config(json{{"chat_template", json::array({{{"name", "rag"}, {"template", "R"}}})}}, "t.json");
    ASSERT_FALSE(no_default);
    EXPECT_EQ(no_default.error().message, "t.json: no chat_template named 'default' (there are: rag)");
    EXPECT_FALSE(ChatTemplate::from_tokenizer_config(json{{"chat_template", "x"}, {"eos_token", 5}}, "t.json"));
}

}  // namespace

namespace {

// A model whose own template does not parse: a clear error naming the model's template,
// with the way out (no silent fallback).
TEST(ChatTemplate, AModelTemplateThatDoesNotParseIsAnError) {
    std::string bytes = test::read_file(test::tokenizer_tests_dir() / "ggml-vocab-phi-3.gguf");
    const std::string good = "{% for message in messages %}", bad = "{% for message in messages % ";  // same length, no '%}'
    ASSERT_EQ(good.size(), bad.size());
    const size_t at = bytes.find(good);
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, good.size(), bad);
    const Path patched = test::tmp_dir() / "phi-3-broken-template.gguf";
    std::ofstream(patched, std::ios::binary) << bytes;
    auto tok = test::load_tokenizer(patched);
    ASSERT_TRUE(tok);
    auto tmpl = ChatTemplate::for_model(*tok, "phi-3-broken-template.gguf");
    ASSERT_FALSE(tmpl);
    EXPECT_EQ(tmpl.error().code, ErrorCode::Format);
    EXPECT_NE(tmpl.error().message.find("chat template 'phi-3-broken-template.gguf: tokenizer.chat_template' line 1, column"), std::string::npos)
        << tmpl.error().message;
    EXPECT_NE(tmpl.error().message.find("--chat-template-file can supply a template that works"), std::string::npos) << tmpl.error().message;
}

}  // namespace
