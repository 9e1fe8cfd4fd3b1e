// The object and callable values the interpreter creates: namespace() objects, the loop
// variable, macros, built-in functions and bound methods ("text".strip).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "template/Ast.h"
#include "template/Scope.h"
#include "template/Value.h"

namespace vk_symbiote::jinja {

// namespace(a=1): the one mutable value; `{% set ns.a = 2 %}` changes it for every holder.
// Its text is "<Namespace>" and it compares by identity, so printing or comparing never
// walks into it; its destructor frees what it holds iteratively, so a long chain of
// namespaces holding namespaces cannot exhaust the stack.
class Namespace : public Object {
public:
    ~Namespace() override;
    const char* type_name() const override { return "Namespace"; }
    Value attr(std::string_view name) const override;
    void set_attr(const std::string& name, Value v) override;
    std::string repr() const override { return "<Namespace>"; }
    void clear();

private:
    std::vector<std::pair<std::string, Value>> attrs_;  // few: a linear search
};

// The `loop` variable of one for loop; index0 advances as the loop runs.
class LoopState : public Object {
public:
    explicit LoopState(std::shared_ptr<const std::vector<Value>> items) : items_(std::move(items)) {}
    const char* type_name() const override { return "LoopContext"; }
    Value attr(std::string_view name) const override;
    std::string repr() const override;
    void set_index(size_t i) { index0_ = i; }
    size_t index0() const { return index0_; }

private:
    std::shared_ptr<const std::vector<Value>> items_;  // the iterated items, after the loop's `if`
    size_t index0_ = 0;
};

// A {% macro %} (or the body of a {% call %} block, as `caller`). It holds its defining
// scope weakly: scopes hold macros, and a strong reference both ways would never be freed.
class MacroCallable : public Callable {
public:
    MacroCallable(const MacroDef& def, const std::shared_ptr<Scope>& closure) : def_(def), closure_(closure) {}
    std::string name() const override { return def_.name; }
    Value call(Interpreter& in, const CallArgs& args) const override { return call_with_caller(in, args, Value()); }
    Value call_with_caller(Interpreter& in, const CallArgs& args, const Value& caller) const;

private:
    const MacroDef& def_;
    std::weak_ptr<Scope> closure_;
};

using BuiltinFn = Value (*)(Interpreter& in, const CallArgs& args);

// A global function (range, namespace, raise_exception, ...).
class Builtin : public Callable {
public:
    Builtin(std::string name, BuiltinFn fn) : name_(std::move(name)), fn_(fn) {}
    std::string name() const override { return name_; }
    Value call(Interpreter& in, const CallArgs& args) const override { return fn_(in, args); }

private:
    std::string name_;
    BuiltinFn fn_;
};

using MethodFn = Value (*)(Interpreter& in, const Value& self, const CallArgs& args);

// A method bound to its object: "a,b".split is a BoundMethod until it is called.
class BoundMethod : public Callable {
public:
    BoundMethod(Value self, std::string name, MethodFn fn) : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
    std::string name() const override { return name_; }
    Value call(Interpreter& in, const CallArgs& args) const override { return fn_(in, self_, args); }

private:
    Value self_;
    std::string name_;
    MethodFn fn_;
};

}  // namespace vk_symbiote::jinja
