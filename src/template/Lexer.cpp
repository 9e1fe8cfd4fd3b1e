#include "template/Lexer.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "template/Utf8.h"

namespace vk_symbiote::jinja {

namespace {

// "\r\n" and "\r" -> "\n"; one final newline dropped (Jinja2's keep_trailing_newline=False).
std::string normalize_newlines(std::string_view src) {
    std::string out;
    out.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
        if (src[i] == '\r') {
            out += '\n';
            if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
        } else {
            out += src[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

bool is_name_start(char c) { return std::isalpha(uint8(c)) || c == '_' || uint8(c) >= 0x80; }
bool is_name_char(char c) { return is_name_start(c) || std::isdigit(uint8(c)); }
bool is_digit(char c) { return std::isdigit(uint8(c)) != 0; }
bool is_tag_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

constexpr std::string_view kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                           "=",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|", ";"};

// The Python escape sequences of a string literal (Jinja2 decodes them with "unicode-escape").
class EscapeDecoder {
public:
    explicit EscapeDecoder(std::string_view body) : s_(body) {}
    // Returns the decoded text, or an error message in *error.
    std::string run(std::string* error);

private:
    bool hex(size_t digits, std::string* out);
    std::string_view s_;
    size_t i_ = 0;
};

bool EscapeDecoder::hex(size_t digits, std::string* out) {
    if (i_ + digits > s_.size()) return false;
    uint32 v = 0;
    auto r = std::from_chars(s_.data() + i_, s_.data() + i_ + digits, v, 16);
    if (r.ptr != s_.data() + i_ + digits || v > 0x10FFFF) return false;
    i_ += digits;
    utf8::append(*out, v);
    return true;
}

std::string EscapeDecoder::run(std::string* error) {
    std::string out;
    while (i_ < s_.size()) {
        char c = s_[i_++];
        if (c != '\\' || i_ == s_.size()) {
            out += c;
            continue;
        }
        char e = s_[i_++];
        switch (e) {
            case '\n': break;
            case '\\': case '\'': case '"': out += e; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            case 'x': if (!hex(2, &out)) *error = "invalid \\x escape (two hex digits expected)"; break;
            case 'u': if (!hex(4, &out)) *error = "invalid \\u escape (four hex digits expected)"; break;
            case 'U': if (!hex(8, &out)) *error = "invalid \\U escape (eight hex digits of a code point expected)"; break;
            case 'N': *error = "\\N{...} escapes are not supported"; break;
            default:
                if (e >= '0' && e <= '7') {
                    uint32 v = uint32(e - '0');
                    for (int k = 0; k < 2 && i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '7'; ++k) v = v * 8 + uint32(s_[i_++] - '0');
                    utf8::append(out, v);
                } else {
                    out += '\\';  // an unknown escape stays as written
                    out += e;
                }
        }
        if (!error->empty()) return {};
    }
    return out;
}

class Lexer {
public:
    explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i)
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
    std::vector<Token> run();

private:
    SourcePos pos_at(size_t offset) const;
    [[noreturn]] void fail(size_t offset, const std::string& msg) const { throw TemplateError(TemplateErrorKind::Syntax, msg, pos_at(offset)); }
    bool at(size_t p, std::string_view s) const { return src_.compare(p, s.size(), s) == 0; }
    size_t skip_space(size_t p) const;
    std::string text_before_tag(size_t from, size_t tag, char kind, char modifier) const;
    void emit(TokenKind k, size_t offset, std::string text = {});
    size_t lex_comment(size_t tag, size_t p);
    bool lex_raw(size_t tag, size_t p, size_t* end);
    size_t lex_tag(char kind, size_t tag, size_t p);
    size_t tag_end(char kind, size_t p) const;  // length of the closing delimiter at p (0: none)
    size_t lex_token(size_t p, std::vector<char>& brackets);
    size_t lex_number(size_t p);
    size_t lex_string(size_t p);

    std::string src_;
    std::vector<size_t> line_starts_;
    std::vector<Token> out_;
    bool line_starting_ = true;  // the last token consumed a newline (or nothing was consumed yet)
};

SourcePos Lexer::pos_at(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = size_t(it - line_starts_.begin());
    return SourcePos{uint32(line), uint32(offset - line_starts_[line - 1] + 1)};
}

size_t Lexer::skip_space(size_t p) const {
    while (p < src_.size() && is_tag_space(src_[p])) ++p;
    return p;
}

void Lexer::emit(TokenKind k, size_t offset, std::string text) {
    if (k == TokenKind::Text && text.empty()) return;
    Token t;
    t.kind = k;
    t.text = std::move(text);
    t.pos = pos_at(offset);
    out_.push_back(std::move(t));
}

// The text in [from, tag) after the whitespace control of the tag that follows it.
std::string Lexer::text_before_tag(size_t from, size_t tag, char kind, char modifier) const {
    std::string_view text(src_.data() + from, tag - from);
    if (modifier == '-') return std::string(utf8::strip_right(text));
    if (modifier == '+' || kind == '{') return std::string(text);
    // lstrip_blocks: only spaces and tabs between the line start and a block tag or comment.
    const size_t nl = text.rfind('\n');
    const size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
    if (line_start == 0 && !line_starting_) return std::string(text);
    if (text.find_first_not_of(" \t", line_start) != std::string_view::npos) return std::string(text);
    return std::string(text.substr(0, line_start));
}

std::vector<Token> Lexer::run() {
    size_t p = 0;
    while (p < src_.size()) {
        size_t tag = p;
        while ((tag = src_.find('{', tag)) != std::string::npos && (tag + 1 >= src_.size() || std::string_view("{%#").find(src_[tag + 1]) == std::string_view::npos))
            ++tag;
        if (tag == std::string::npos) {
            emit(TokenKind::Text, p, src_.substr(p));
            break;
        }
        const char kind = src_[tag + 1];
        const char modifier = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
        emit(TokenKind::Text, p, text_before_tag(p, tag, kind, modifier));
        const size_t after = tag + 2 + (modifier ? 1 : 0);
        size_t raw_end = 0;
        if (kind == '#') p = lex_comment(tag, after);
        else if (kind == '%' && lex_raw(tag, after, &raw_end)) p = raw_end;
        else p = lex_tag(kind, tag, after);
        line_starting_ = p > 0 && src_[p - 1] == '\n';
    }
    emit(TokenKind::End, src_.size());
    return std::move(out_);
}

size_t Lexer::lex_comment(size_t tag, size_t p) {
    const size_t close = src_.find("#}", p);
    if (close == std::string::npos) fail(tag, "a comment '{#' that is never closed with '#}'");
    size_t end = close + 2;
    const char before = close > p ? src_[close - 1] : 0;
    if (before == '-') end = skip_space(end);
    else if (before != '+' && end < src_.size() && src_[end] == '\n') ++end;  // trim_blocks
    return end;
}

// {% raw %} ... {% endraw %}: the text in between is data, tags and all.
bool Lexer::lex_raw(size_t tag, size_t p, size_t* end) {
    p = skip_space(p);
    if (!at(p, "raw")) return false;
    size_t q = skip_space(p + 3);
    if (at(q, "-%}")) q = skip_space(q + 3);
    else if (at(q, "%}")) q += 2;
    else return false;
    for (size_t open = src_.find("{%", q); open != std::string::npos; open = src_.find("{%", open + 2)) {
        const char modifier = open + 2 < src_.size() && (src_[open + 2] == '-' || src_[open + 2] == '+') ? src_[open + 2] : 0;
        size_t r = skip_space(open + 2 + (modifier ? 1 : 0));
        if (!at(r, "endraw")) continue;
        r = skip_space(r + 6);
        const size_t close = tag_end('%', r);
        if (close == 0) continue;
        line_starting_ = q > 0 && src_[q - 1] == '\n';
        emit(TokenKind::Text, q, text_before_tag(q, open, '%', modifier));
        *end = r + close;
        return true;
    }
    fail(tag, "a '{% raw %}' block that is never closed with '{% endraw %}'");
}

// Length of the block / variable end at p with its whitespace control, or 0.
size_t Lexer::tag_end(char kind, size_t p) const {
    if (kind == '%') {
        if (at(p, "-%}")) return skip_space(p + 3) - p;
        if (at(p, "+%}")) return 3;
        if (at(p, "%}")) return p + 2 < src_.size() && src_[p + 2] == '\n' ? 3 : 2;  // trim_blocks
        return 0;
    }
    if (at(p, "-}}")) return skip_space(p + 3) - p;
    if (at(p, "}}")) return 2;
    return 0;
}

size_t Lexer::lex_tag(char kind, size_t tag, size_t p) {
    emit(kind == '%' ? TokenKind::BlockBegin : TokenKind::VarBegin, tag);
    std::vector<char> brackets;  // open brackets: the closing delimiter counts only outside them
    while (true) {
        p = skip_space(p);
        if (p >= src_.size()) fail(tag, std::string("a tag '{") + kind + "' that is never closed");
        if (brackets.empty()) {
            if (size_t n = tag_end(kind, p); n > 0) {
                emit(kind == '%' ? TokenKind::BlockEnd : TokenKind::VarEnd, p);
                return p + n;
            }
        }
        p = lex_token(p, brackets);
    }
}

size_t Lexer::lex_token(size_t p, std::vector<char>& brackets) {
    const char c = src_[p];
    if (c == '\'' || c == '"') return lex_string(p);
    if (is_digit(c)) return lex_number(p);
    if (is_name_start(c)) {
        size_t q = p;
        while (q < src_.size() && is_name_char(src_[q])) ++q;
        emit(TokenKind::Name, p, src_.substr(p, q - p));
        return q;
    }
    for (std::string_view op : kOperators) {
        if (!at(p, op)) continue;
        if (op == "(" || op == "[" || op == "{") {
            brackets.push_back(op[0]);
        } else if (op == ")" || op == "]" || op == "}") {
            const char want = op == ")" ? '(' : op == "]" ? '[' : '{';
            if (brackets.empty() || brackets.back() != want) fail(p, "unexpected '" + std::string(op) + "'");
            brackets.pop_back();
        }
        emit(TokenKind::Operator, p, std::string(op));
        return p + op.size();
    }
    fail(p, "unexpected character '" + std::string(1, c) + "'");
}

// Integers (with "_" separators, 0b / 0o / 0x prefixes) and floats ("1.5", "1e3", "2.5E-3").
size_t Lexer::lex_number(size_t p) {
    auto digits_end = [&](size_t q, int base) {
        auto digit = [&](char ch) {
            if (base == 16) return std::isxdigit(uint8(ch)) != 0;
            return ch >= '0' && ch < char('0' + std::min(base, 10));
        };
        while (q < src_.size() && (src_[q] == '_' || digit(src_[q]))) ++q;
        return q;
    };
    size_t q = digits_end(p, 10);
    bool is_float = false;
    const bool after_dot = p > 0 && src_[p - 1] == '.';  // "x.0.1" is two subscripts, not a float
    if (!after_dot && q + 1 < src_.size() && src_[q] == '.' && is_digit(src_[q + 1])) q = digits_end(q + 1, 10), is_float = true;
    if (!after_dot && q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        size_t e = q + 1;
        if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
        if (e < src_.size() && is_digit(src_[e])) q = digits_end(e, 10), is_float = true;
    }
    int base = 10;
    size_t start = p;
    if (!is_float && src_[p] == '0' && p + 1 < src_.size() && std::string_view("bBoOxX").find(src_[p + 1]) != std::string_view::npos) {
        base = std::tolower(uint8(src_[p + 1])) == 'b' ? 2 : std::tolower(uint8(src_[p + 1])) == 'o' ? 8 : 16;
        start = p + 2;
        q = digits_end(start, base);
    }
    std::string text = src_.substr(start, q - start);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    if (!is_float && base == 10 && text.size() > 1 && text[0] == '0' && text.find_first_not_of('0') != std::string::npos)
        fail(p, "leading zeros in a decimal integer ('" + src_.substr(p, q - p) + "'); write 0o for octal");
    Token t;
    t.pos = pos_at(p);
    if (is_float) {
        t.kind = TokenKind::Float;
        t.number = std::strtod(text.c_str(), nullptr);
    } else {
        t.kind = TokenKind::Integer;
        auto r = std::from_chars(text.data(), text.data() + text.size(), t.integer, base);
        if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) fail(p, "invalid or too large integer literal '" + src_.substr(p, q - p) + "'");
    }
    out_.push_back(std::move(t));
    return q;
}

size_t Lexer::lex_string(size_t p) {
    const char quote = src_[p];
    size_t q = p + 1;
    while (q < src_.size() && src_[q] != quote) q += src_[q] == '\\' ? 2 : 1;
    if (q >= src_.size()) fail(p, "a string literal that is never closed");
    std::string error;
    std::string value = EscapeDecoder(std::string_view(src_).substr(p + 1, q - p - 1)).run(&error);
    if (!error.empty()) fail(p, "string literal: " + error);
    emit(TokenKind::String, p, std::move(value));
    return q + 1;
}

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

const char* token_kind_name(TokenKind k) {
    switch (k) {
        case TokenKind::Text: return "template text";
        case TokenKind::VarBegin: return "'{{'";
        case TokenKind::VarEnd: return "'}}'";
        case TokenKind::BlockBegin: return "'{%'";
        case TokenKind::BlockEnd: return "'%}'";
        case TokenKind::Name: return "name";
        case TokenKind::String: return "string";
        case TokenKind::Integer: return "integer";
        case TokenKind::Float: return "float";
        case TokenKind::Operator: return "operator";
        case TokenKind::End: return "end of template";
    }
    return "?";
}

}  // namespace vk_symbiote::jinja
