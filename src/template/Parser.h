// Parser: tokens -> statements and expressions (Ast.h), following Jinja2's grammar.
//
// Statements: if / elif / else, for (tuple targets, `if` filter, else), set (names, tuples,
// namespace attributes, block form with filters), macro, call, filter, with, generation
// (Hugging Face's training marker, rendered as a plain block), break / continue.
// Expressions, loosest first: `x if c else y`; or; and; not; comparisons (==, !=, <, <=, >,
// >=, in, not in, chained); + -; ~; * / // %; **; unary - +; then primary values with
// postfix .attr, [item], [a:b:c], (call), | filter and `is` test.
//
// Filter and test names are resolved here: an unknown one is a syntax error, except inside
// an if statement or a conditional expression, where, as in Jinja2, it is an error only when
// evaluated. Nesting of blocks and of expressions is limited, so that
// neither parsing nor evaluation can exhaust the stack. Errors throw TemplateError.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "template/Ast.h"
#include "template/Lexer.h"

namespace vk_symbiote::jinja {

inline constexpr uint32 kMaxBlockNesting = 100;  // blocks inside blocks
inline constexpr uint32 kMaxExprDepth = 200;     // expression tree depth and parser recursion

Body parse_template(std::vector<Token> tokens);

// Counts one level of nesting for as long as it lives; past the limit, a Limit error.
struct NestingGuard {
    NestingGuard(uint32& counter, uint32 limit, SourcePos pos, const char* what) : c(counter) {
        if (++c > limit) {
            --c;
            throw TemplateError(TemplateErrorKind::Limit, std::string(what) + " nested deeper than " + std::to_string(limit) + " levels", pos);
        }
    }
    ~NestingGuard() { --c; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
    uint32& c;
};

class Parser {
public:
    explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}
    Body parse_all();

    // Statements (Parser.cpp).
private:
    Body parse_body(std::initializer_list<std::string_view> end_tags, std::string_view opener);
    Stmt parse_statement();
    Stmt parse_if();
    Stmt parse_for();
    Stmt parse_set();
    Stmt parse_macro();
    Stmt parse_call_block();
    Stmt parse_filter_block();
    Stmt parse_with();
    Stmt parse_generation();
    Stmt parse_loop_control(bool is_break);
    void parse_macro_params(MacroDef& def);
    AssignTarget parse_assign_target(bool allow_attr);
    void end_tag(std::string_view name);  // consumes {% name %}

    // Expressions (ParserExpr.cpp).
public:
    ExprPtr parse_expression(bool with_condexpr = true);
    ExprPtr parse_tuple(bool with_condexpr = true, std::initializer_list<std::string_view> extra_end = {});

private:
    ExprPtr parse_condexpr();
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_math1();
    ExprPtr parse_concat();
    ExprPtr parse_math2();
    ExprPtr parse_pow();
    ExprPtr parse_unary(bool with_filter = true);
    ExprPtr parse_primary();
    ExprPtr parse_list();
    ExprPtr parse_dict();
    ExprPtr parse_postfix(ExprPtr node);
    ExprPtr parse_subscript(ExprPtr node);
    ExprPtr parse_filter_expr(ExprPtr node);
    ExprPtr parse_test(ExprPtr node);
    ArgExprs parse_call_args();
    FilterCall parse_filter_call();
    bool tuple_ends(std::initializer_list<std::string_view> extra_end) const;

    // Token access.
    const Token& cur() const { return toks_[i_]; }
    const Token& peek(size_t n = 1) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
    const Token& next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }
    bool is_op(std::string_view op) const { return cur().kind == TokenKind::Operator && cur().text == op; }
    bool is_name(std::string_view name) const { return cur().kind == TokenKind::Name && cur().text == name; }
    bool skip_op(std::string_view op);
    bool skip_name(std::string_view name);
    void expect_op(std::string_view op);
    std::string expect_name(std::string_view what);
    void expect(TokenKind kind);
    [[noreturn]] void fail(const std::string& msg) const { fail_at(cur().pos, msg); }
    [[noreturn]] static void fail_at(SourcePos pos, const std::string& msg) { throw TemplateError(TemplateErrorKind::Syntax, msg, pos); }
    std::string describe(const Token& t) const;

    ExprPtr make(SourcePos pos, auto node);
    static uint32 child_depth(const ExprPtr& e) { return e ? e->depth : 0; }

    std::vector<Token> toks_;
    size_t i_ = 0;
    uint32 block_depth_ = 0;
    uint32 expr_nesting_ = 0;
    uint32 loop_depth_ = 0;         // for bodies around the current statement (break / continue)
    uint32 conditional_depth_ = 0;  // inside if statements / conditional expressions
    std::vector<MacroDef*> macros_; // macros being parsed (varargs / kwargs / caller usage)
    struct UnknownName {
        std::string message;
        SourcePos pos;
        bool conditional;
    };
    std::vector<UnknownName> unknown_;  // unknown filters / tests; the unconditional ones fail parse_all
};

}  // namespace vk_symbiote::jinja
