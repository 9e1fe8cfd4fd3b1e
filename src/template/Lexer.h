// Lexer: template source -> tokens, as Jinja2's lexer in Hugging Face's chat-template
// environment (trim_blocks and lstrip_blocks on, keep_trailing_newline off):
// - "\r\n" and "\r" become "\n", and one newline at the very end of the source is dropped;
// - text between tags is one Text token; comments disappear; {% raw %} ... {% endraw %} is text;
// - whitespace control: "{%-" / "{{-" / "{#-" strip all whitespace before the tag, "-%}" /
//   "-}}" / "-#}" all whitespace after it; trim_blocks drops the first newline after a block
//   tag or comment; lstrip_blocks drops the spaces and tabs between the start of a line and a
//   block tag or comment; "{%+" and "+%}" turn those two off for one tag;
// - inside a tag: names, integers, floats, strings (escapes decoded), operators; the closing
//   delimiter counts only outside brackets, so "{{ {'a': {'b': 1}}}}" works.
// Errors (an unterminated tag, comment or string, an unexpected character, unbalanced
// brackets) throw a Syntax TemplateError with the line and column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "template/TemplateError.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::jinja {

enum class TokenKind : uint8 {
    Text,        // template data (text holds it)
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,        // identifier or keyword (text)
    String,      // string literal (text: the decoded value)
    Integer,     // integer literal (integer)
    Float,       // float literal (number)
    Operator,    // + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |  (text)
    End,         // end of the source
};

struct Token {
    TokenKind kind = TokenKind::End;
    std::string text;
    int64 integer = 0;
    double number = 0;
    SourcePos pos;
};

std::vector<Token> tokenize(std::string_view source);

const char* token_kind_name(TokenKind k);

}  // namespace vk_symbiote::jinja
