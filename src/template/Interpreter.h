// Interpreter: runs a parsed template (Ast.h) once. Statements write into an output string;
// expressions compute Values with Jinja2's semantics (Operators.h, Access.h, the filter, test,
// method and global tables). One Interpreter per render: it holds the render's mutable state
// (scopes, counters, namespaces) and is not shared between threads; the AST is.
//
// Limits (RenderOptions): every statement, expression node and loop iteration is a step, bulk
// work on long strings and lists costs more steps, and nesting of evaluation frames is bounded; going past
// a limit throws a Limit TemplateError naming the node where it happened.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/Ast.h"
#include "template/RenderOptions.h"
#include "template/Scope.h"

namespace vk_symbiote::jinja {

class Namespace;

class Interpreter {
public:
    explicit Interpreter(const RenderOptions& opts) : opts_(opts) {}
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // Renders `body` with `globals` as the outermost scope.
    std::string render(const Body& body, std::shared_ptr<Scope> globals);

    // For filters, tests, methods and globals.
    const RenderOptions& options() const { return opts_; }
    size_t limit() const { return opts_.max_output_bytes; }
    void charge(uint64 steps);  // counts `steps` more steps (bulk work)
    Value call(const Value& callee, const CallArgs& args);
    Value apply_filter(const std::string& name, const Value& input, const CallArgs& args);  // map('upper')
    bool apply_test(const std::string& name, const Value& input, const CallArgs& args);     // select('odd')
    std::shared_ptr<Namespace> make_namespace();
    // Runs a macro body in a new scope under `closure`; `caller` is the {% call %} body or undefined.
    Value call_macro(const MacroDef& def, std::shared_ptr<Scope> closure, const CallArgs& args, const Value& caller);

private:
    enum class Flow { Normal, Break, Continue };
    class ScopeSwitch;
    class FrameGuard;

    // Statements (Interpreter.cpp).
    Flow exec_body(const Body& body, std::string& out);
    Flow exec(const Stmt& s, std::string& out);
    Flow exec_node(const ast::Text& n, std::string& out);
    Flow exec_node(const ast::Output& n, std::string& out);
    Flow exec_node(const ast::If& n, std::string& out);
    Flow exec_node(const ast::For& n, std::string& out);
    Flow exec_node(const ast::Set& n, std::string& out);
    Flow exec_node(const ast::SetBlock& n, std::string& out);
    Flow exec_node(const ast::Macro& n, std::string& out);
    Flow exec_node(const ast::CallBlock& n, std::string& out);
    Flow exec_node(const ast::FilterBlock& n, std::string& out);
    Flow exec_node(const ast::ScopeBlock& n, std::string& out);
    Flow exec_node(const ast::LoopControl& n, std::string& out);
    std::shared_ptr<const std::vector<Value>> loop_items(const ast::For& n);
    void assign(const AssignTarget& t, const Value& v);
    void assign(const std::vector<std::string>& names, const Value& v);
    std::string render_scoped(const Body& body);  // a block's output, in a child scope
    Value apply_filters(const std::vector<FilterCall>& filters, Value v);
    void write(std::string& out, std::string_view text);

    // Expressions (InterpreterExpr.cpp).
public:
    Value eval(const Expr& e);

private:
    Value eval_node(const ast::Literal& n);
    Value eval_node(const ast::Name& n);
    Value eval_node(const ast::List& n);
    Value eval_node(const ast::DictLit& n);
    Value eval_node(const ast::Attr& n);
    Value eval_node(const ast::Item& n);
    Value eval_node(const ast::Slice& n);
    Value eval_node(const ast::Call& n);
    Value eval_node(const ast::Filter& n);
    Value eval_node(const ast::Test& n);
    Value eval_node(const ast::Not& n);
    Value eval_node(const ast::Negate& n);
    Value eval_node(const ast::Binary& n);
    Value eval_node(const ast::Logical& n);
    Value eval_node(const ast::Concat& n);
    Value eval_node(const ast::Compare& n);
    Value eval_node(const ast::Cond& n);
    CallArgs eval_args(const ArgExprs& a);
    Value run_filter(const FilterCall& f, const Value& input);

    void tick();

    const RenderOptions& opts_;
    std::shared_ptr<Scope> scope_;  // the innermost scope
    uint64 steps_ = 0;
    uint32 depth_ = 0;  // nested evaluation frames
    std::vector<std::weak_ptr<Namespace>> namespaces_;  // emptied at the end (they may form cycles)
};

// Makes `next` the innermost scope for as long as it lives.
class Interpreter::ScopeSwitch {
public:
    ScopeSwitch(Interpreter& in, std::shared_ptr<Scope> next) : in_(in), saved_(std::exchange(in.scope_, std::move(next))) {}
    ~ScopeSwitch() { in_.scope_ = std::move(saved_); }
    ScopeSwitch(const ScopeSwitch&) = delete;
    ScopeSwitch& operator=(const ScopeSwitch&) = delete;

private:
    Interpreter& in_;
    std::shared_ptr<Scope> saved_;
};

// One nested evaluation frame; past RenderOptions::max_depth, a Limit error.
class Interpreter::FrameGuard {
public:
    explicit FrameGuard(Interpreter& in) : in_(in) {
        if (++in_.depth_ > in_.opts_.max_depth) {
            --in_.depth_;
            throw TemplateError(TemplateErrorKind::Limit, "evaluation nested deeper than " + std::to_string(in_.opts_.max_depth) +
                                                              " levels (recursive macros?)");
        }
    }
    ~FrameGuard() { --in_.depth_; }
    FrameGuard(const FrameGuard&) = delete;
    FrameGuard& operator=(const FrameGuard&) = delete;

private:
    Interpreter& in_;
};

}  // namespace vk_symbiote::jinja
