// The parsed template: expression and statement nodes. Every node keeps its source position
// for error messages; expressions also keep their depth (the parser refuses trees deeper than
// its limit, so evaluation never recurses without bound). Immutable after parsing and shared
// by every render of the template (renders may run on several threads at once).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "template/CallArgs.h"
#include "template/Operators.h"
#include "template/TemplateError.h"
#include "template/Value.h"

namespace vk_symbiote::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<const Expr>;

struct ArgExprs {
    std::vector<ExprPtr> positional;
    std::vector<std::pair<std::string, ExprPtr>> keyword;
};

// One filter application: `| name(args)`. fn is null for a filter name the engine does not
// know inside a branch that may never run (Jinja2 reports those only when evaluated).
struct FilterCall {
    std::string name;
    FilterFn fn = nullptr;
    ArgExprs args;
    SourcePos pos;
};

namespace ast {
struct Literal { Value value; };
struct Name { std::string name; };
struct List { std::vector<ExprPtr> items; bool tuple = false; };
struct DictLit { std::vector<std::pair<ExprPtr, ExprPtr>> items; };
struct Attr { ExprPtr object; std::string name; };        // x.name
struct Item { ExprPtr object; ExprPtr key; };             // x[key]
struct Slice { ExprPtr object, start, stop, step; };      // x[start:stop:step], parts may be null
struct Call { ExprPtr callee; ArgExprs args; };
struct Filter { ExprPtr input; FilterCall call; };
struct Test { ExprPtr input; std::string name; TestFn fn = nullptr; ArgExprs args; };  // fn as FilterCall's
struct Not { ExprPtr operand; };
struct Negate { ExprPtr operand; bool plus = false; };    // -x, +x
struct Binary { BinaryOp op; ExprPtr left, right; };
struct Logical { bool is_and; ExprPtr left, right; };     // and / or (short-circuit, value of an operand)
struct Concat { std::vector<ExprPtr> parts; };            // a ~ b ~ c
struct Compare { ExprPtr first; std::vector<std::pair<CompareOp, ExprPtr>> rest; };  // a < b < c
struct Cond { ExprPtr test, then, otherwise; };           // then if test else otherwise (may be null)
}  // namespace ast

struct Expr {
    SourcePos pos;
    uint32 depth = 1;
    std::variant<ast::Literal, ast::Name, ast::List, ast::DictLit, ast::Attr, ast::Item, ast::Slice, ast::Call, ast::Filter,
                 ast::Test, ast::Not, ast::Negate, ast::Binary, ast::Logical, ast::Concat, ast::Compare, ast::Cond>
        node;
};

struct Stmt;
using Body = std::vector<Stmt>;

// Left side of a set / for: one name, several (unpacking), or a namespace attribute.
struct AssignTarget {
    std::vector<std::string> names;
    std::string attr;  // non-empty: names[0].attr (a namespace attribute)
};

struct MacroDef {
    std::string name;
    std::vector<std::pair<std::string, ExprPtr>> params;  // default expressions may be null
    Body* body = nullptr;  // points into the owning statement
    bool uses_varargs = false;  // the body reads `varargs` / `kwargs` / `caller`
    bool uses_kwargs = false;
    bool uses_caller = false;
};

namespace ast {
struct Text { std::string text; };
struct Output { ExprPtr expr; };
struct If { std::vector<std::pair<ExprPtr, Body>> branches; Body otherwise; };
struct For { std::vector<std::string> targets; ExprPtr iter; ExprPtr filter; Body body; Body otherwise; };
struct Set { AssignTarget target; ExprPtr value; };
struct SetBlock { AssignTarget target; std::vector<FilterCall> filters; Body body; };
struct Macro { std::unique_ptr<MacroDef> def; std::unique_ptr<Body> body; };
struct CallBlock { std::unique_ptr<MacroDef> caller; std::unique_ptr<Body> body; ExprPtr call; };
struct FilterBlock { std::vector<FilterCall> filters; Body body; };
struct ScopeBlock { std::vector<std::pair<std::string, ExprPtr>> assigns; Body body; };  // with, generation
struct LoopControl { bool is_break; };
}  // namespace ast

struct Stmt {
    SourcePos pos;
    std::variant<ast::Text, ast::Output, ast::If, ast::For, ast::Set, ast::SetBlock, ast::Macro, ast::CallBlock,
                 ast::FilterBlock, ast::ScopeBlock, ast::LoopControl>
        node;
};

}  // namespace vk_symbiote::jinja
