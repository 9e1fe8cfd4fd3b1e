// Value: what template expressions compute, with Python's data model as Jinja2 sees it:
// undefined, none, bool, int, float, str, list / tuple, dict (insertion-ordered, string keys),
// objects with attributes (namespace(), the loop variable) and callables (macros, builtins,
// bound methods).
//
// Strings, lists and dicts are immutable and shared (copying a Value is O(1)); a namespace is
// the one mutable value and is shared by reference, as in Jinja2. Containers record their
// nesting depth, and building one deeper than kMaxValueDepth is an error, so every recursive
// walk over a value (printing, comparing, JSON) and its destruction stay shallow.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::jinja {

inline constexpr uint32 kMaxValueDepth = 256;

class Value;
struct Array;
class Dict;
class Object;
class Callable;
class Interpreter;
struct CallArgs;

class Value {
    struct RawTag {};

public:
    enum class Kind : uint8 { Undefined, None, Bool, Int, Float, String, List, Dict, Object, Callable };

    Value() = default;  // undefined, with no name to report
    static Value undefined(std::string hint);  // hint: what an error about it says, e.g. "'x' is undefined"
    static Value none() { return Value(RawTag{}, Storage(std::in_place_index<1>)); }
    Value(bool b) : v_(b) {}
    Value(int64 i) : v_(i) {}
    Value(int i) : v_(int64(i)) {}
    Value(double d) : v_(d) {}
    Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}
    Value(const char* s) : Value(std::string(s)) {}
    static Value list(std::vector<Value> items);
    static Value tuple(std::vector<Value> items);
    Value(Dict d);
    Value(std::shared_ptr<Object> o) : v_(std::move(o)) {}
    Value(std::shared_ptr<const Callable> c) : v_(std::move(c)) {}

    Kind kind() const { return Kind(v_.index()); }
    bool is_undefined() const { return kind() == Kind::Undefined; }
    bool is_none() const { return kind() == Kind::None; }
    bool is_bool() const { return kind() == Kind::Bool; }
    bool is_int() const { return kind() == Kind::Int; }
    bool is_float() const { return kind() == Kind::Float; }
    bool is_string() const { return kind() == Kind::String; }
    bool is_list() const { return kind() == Kind::List; }  // list or tuple
    bool is_dict() const { return kind() == Kind::Dict; }
    bool is_object() const { return kind() == Kind::Object; }
    bool is_callable() const { return kind() == Kind::Callable; }
    bool is_integral() const { return is_int() || is_bool(); }  // Python's bool is an int
    bool is_numeric() const { return is_integral() || is_float(); }

    // Accessors for a known kind (a wrong kind is a programming error and aborts).
    bool as_bool() const;
    int64 as_int() const;      // Int or Bool
    double as_float() const;   // Int, Bool or Float
    const std::string& as_string() const;
    const Array& as_array() const;
    const std::vector<Value>& items() const;  // of a list or tuple
    std::shared_ptr<const std::vector<Value>> shared_items() const;  // the same, kept alive by the caller
    const Dict& as_dict() const;
    Object& as_object() const;
    const Callable& as_callable() const;
    std::string undefined_message() const;  // for an undefined value: why it is undefined

    bool truthy() const;  // Python's bool(value)
    uint32 depth() const;  // 0 for scalars, 1 + the deepest element for containers
    const char* type_name() const;  // Python's: 'str', 'int', 'list', 'dict', 'NoneType', ...
    const void* identity() const;   // shared object for containers and objects, else nullptr

private:
    struct UndefinedData {
        std::shared_ptr<const std::string> hint;
    };
    using Storage = std::variant<UndefinedData, std::monostate, bool, int64, double, std::shared_ptr<const std::string>,
                                 std::shared_ptr<const Array>, std::shared_ptr<const Dict>, std::shared_ptr<Object>,
                                 std::shared_ptr<const Callable>>;
    Value(RawTag, Storage s) : v_(std::move(s)) {}
    static Value sequence(std::vector<Value> items, bool tuple);

    Storage v_;
};

// A list or a tuple (tuples come from literals like (a, b) and from dict.items()).
struct Array {
    std::vector<Value> items;
    bool tuple = false;
    uint32 depth = 1;
};

// An insertion-ordered dict with string keys (JSON objects; dict literals with string keys).
class Dict {
public:
    void set(std::string key, Value v);  // a new key goes last; an existing one keeps its place
    const Value* find(std::string_view key) const;
    const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
    size_t size() const { return entries_.size(); }
    uint32 depth() const { return depth_; }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::vector<std::pair<std::string, Value>> entries_;
    std::unordered_map<std::string, size_t, Hash, std::equal_to<>> index_;
    uint32 depth_ = 1;
};

// A value with attributes: namespace() objects and the loop variable.
class Object {
public:
    virtual ~Object() = default;
    virtual const char* type_name() const = 0;
    virtual Value attr(std::string_view name) const = 0;  // undefined when there is none
    virtual void set_attr(const std::string& name, Value v);  // only a namespace allows it
    virtual std::string repr() const = 0;
};

// Something a template can call: a macro, a global function, a bound method, loop.cycle.
class Callable {
public:
    virtual ~Callable() = default;
    virtual std::string name() const = 0;
    virtual Value call(Interpreter& in, const CallArgs& args) const = 0;
};

}  // namespace vk_symbiote::jinja
