#!/usr/bin/env python3
"""Writes tests/template/data/jinja2_reference.json: small templates and what Python's Jinja2
renders for them, configured as Hugging Face transformers configures its chat-template
environment (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its
tojson, raise_exception and strftime_now fixed at 2025-03-14). test_template compares the
engine with every entry. Run it (with Jinja2 installed) after changing the list below:
    python3 scripts/gen-jinja-reference.py
"""
import json
import pathlib
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime(2025, 3, 14).strftime(fmt)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                       "required": ["city"]}}}

# (name, template, variables)
CASES = [
    # whitespace control, trim_blocks / lstrip_blocks, comments, raw
    ("ws_trim_lstrip", "  {% if true %}\n  x\n  {%+ if true %}y{% endif %}\n{% endif %}\n  {{ 1 }}\n  {# c #}\nz  ", {}),
    ("ws_minus", "a  \n {%- if true -%} \n b \n {%- endif -%}\n c", {}),
    ("ws_plus_end", "x {%- if true +%}\n  A {#- c -#} B\n{%- endif %}", {}),
    ("ws_var_minus", "a {{- 'b' -}} c {{ 'd' }} e", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n", {}),
    ("ws_trailing_newline", "x\n\n", {}),
    ("ws_comment_line", "a\n    {# comment #}\nb", {}),
    ("raw_block", "{% raw %}{{ not evaluated }}{% endraw %}|{%- raw -%}  {% x %}  {%- endraw %}|", {}),
    ("ws_lstrip_not_var", "    {{ 'v' }}\n    {% set x = 1 %}\nq", {}),
    # literals and printing
    ("print_values", "{{ [1, 2.5, 'a', none, true, {'k': [1]}, (1, 2)] }}|{{ (1,) }}|{{ () }}|{{ none }}|{{ false }}", {}),
    ("print_floats", "{{ 1.0 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 0.1 + 0.2 }} {{ 1.5e-7 }} {{ -0.0 }} {{ 123456789.125 }}", {}),
    ("print_string_repr", "{{ [\"it's\", 'a\"b', 'x\\ny', \"a'b\\\"c\", 'tab\\t', 'ü'] }}", {}),
    ("string_escapes", "{{ 'a\\tb\\\\c\\'d\\x41\\u00e9\\101' }}|{{ \"q\\\"\" }}|{{ 'un\\known' }}", {}),
    ("adjacent_strings", "{{ 'a' 'b' \"c\" }}", {}),
    ("numbers", "{{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 2.5E2 }} {{ 1e3 }}", {}),
    # arithmetic
    ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7.5 % 2 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}", {}),
    ("arith_mixed", "{{ 1 + true }} {{ 3 * 1.5 }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ -3 }} {{ +3 }} {{ - -3 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 * 3 ~ 4 }} {{ 1 ~ (2 + 3) }} {{ not 1 == 2 }} {{ -2 ** 2 }} {{ 'a' ~ 'b' | upper }} {{ -1 | abs }}", {}),
    ("concat_tilde", "{{ 'x' ~ 1 ~ none ~ true ~ [1] }}", {}),
    # comparisons and logic
    ("compare", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 'ab' != 'ab' }} {{ 2 >= 2 }}", {}),
    ("compare_dicts", "{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ [1, [2]] == [1, [2]] }} {{ (1, 2) == [1, 2] }} {{ x == y }} {{ x == none }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 'v' in missing }} {{ 1 in {'k': 1} }}", {}),
    ("logic_values", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' or [] or 'z' }} {{ none and 1 }} {{ not none }} {{ 1 if 0 else 2 }} [{{ 1 if false }}]", {}),
    ("ternary_chain", "{% for i in range(4) %}{{ 'a' if i == 0 else 'b' if i == 1 else 'c' }}{% endfor %}", {}),
    # attribute and item access
    ("access", "{{ m.role }} {{ m['content'] }} {{ m.missing is defined }} {{ l[0] }} {{ l[-1] }} {{ l.0 }} {{ l[5] is defined }} {{ 'abc'[1] }} {{ 'abc'[-1] }}",
     {"m": {"role": "user", "content": "hi"}, "l": [10, 20, 30]}),
    ("slices", "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[1:3] }} {{ 'abcdef'[::2] }} {{ 'abc'[::-1] }} {{ l[-2:] }} {{ l[5:] }} {{ 'héllo'[1:3] }}",
     {"l": [1, 2, 3, 4]}),
    ("dict_items_key", "{{ d['items'] }} {{ d.items is defined }} {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"items": 5, "b": 2}}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 7) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d | length }}", {"d": {"a": 1, "b": 2}}),
    ("none_attr", "[{{ none.a }}] {{ none.a is defined }}", {}),
    # strings
    ("str_methods", "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}",
     {}),
    ("str_methods2", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'aXa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'ab'.replace('', '-') }} {{ 'Hello World'.upper() }} {{ 'ÄÖÜ ß'.lower() }} {{ 'straße'.upper() }}",
     {}),
    ("str_methods3", "{{ \"they're bill's\".title() }}|{{ 'hELLO wORLD'.capitalize() }}|{{ 'abcabc'.find('c') }}|{{ 'abcabc'.rfind('c') }}|{{ 'abcabc'.count('bc') }}|{{ ', '.join(['a', 'b']) }}|{{ 'x\\ny\\r\\nz'.splitlines() }}",
     {}),
    ("str_methods4", "{{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.txt'.removesuffix('.txt') }} {{ '{} and {}'.format(1, 'b') }} {{ '{b}-{a}'.format(a=1, b=2) }} {{ '123'.isdigit() }} {{ 'ABC'.isupper() }} {{ 'abc'.islower() }} {{ ' \\t'.isspace() }}",
     {}),
    ("str_unicode_len", "{{ s | length }} {{ s[0] }} {{ s | upper }} {{ s | reverse }} {{ s | list | length }}", {"s": "héllo 𝔘👨‍👩‍👧"}),
    ("percent_format", "{{ '%s-%d-%05.2f-%x-%r' % ('a', 3, 2.5, 255, 'q') }} {{ '%s' | format(5) }} {{ '%-4s|' % 'ab' }} {{ '%%' % () }}", {}),
    # filters
    ("filters_text", "{{ '  x  ' | trim }}|{{ 'xxyxx' | trim('x') }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello world-foo (bar)' | title }}|{{ 'hELLO' | capitalize }}|{{ 'a-b' | replace('-', '+') }}|{{ 5 | string }}|{{ 'x' | center(5) }}|{{ 'ab' | center(7) }}",
     {}),
    ("filters_default", "{{ missing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ 0 | d('z', boolean=true) }} {{ 'v' | default('d') }}", {}),
    ("filters_numbers", "{{ '42' | int }} {{ '42.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1f' | int(0, 16) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ -3 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 3 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }}",
     {}),
    ("filters_seq", "{{ l | first }} {{ l | last }} {{ l | length }} {{ l | count }} {{ l | join('-') }} {{ l | reverse | list }} {{ l | sort }} {{ l | sort(reverse=true) }} {{ l | max }} {{ l | min }} {{ l | sum }} {{ l | unique | list }} {{ [] | first is defined }}",
     {"l": [3, 1, 2, 3]}),
    ("filters_strings_seq", "{{ w | sort }} {{ w | sort(case_sensitive=true) }} {{ w | unique | list }} {{ w | max }} {{ w | min }} {{ w | join }} {{ 'abc' | list }} {{ 'abc' | first }} {{ 'abc' | last }}",
     {"w": ["b", "A", "a", "C"]}),
    ("filters_attr", "{{ msgs | map(attribute='role') | list }} {{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ msgs | rejectattr('role', 'eq', 'user') | list | length }} {{ msgs | map(attribute='x', default='-') | join }} {{ msgs | sort(attribute='role') | map(attribute='content') | join(',') }} {{ msgs | join(', ', attribute='role') }}",
     {"msgs": MSGS}),
    ("filters_select", "{{ range(10) | select('odd') | list }} {{ range(10) | reject('divisibleby', 3) | list }} {{ [0, 1, '', 'a', none] | select | list }} {{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }} {{ ['x', 'Y'] | map('upper') | list }} {{ [1, 2] | map('string') | join }}",
     {}),
    ("filters_dict", "{{ d | items | list }} {{ d | dictsort }} {{ d | dictsort(by='value', reverse=true) }} {{ d | list }} {{ missing | items | list }} {{ d | first }}",
     {"d": {"b": 1, "A": 3, "c": 2}}),
    ("filters_misc", "{{ '<a href=\"x\">&' | e }}|{{ 'x' | safe }}|{{ 'one two  three' | wordcount }}|{{ [1, 2, 3, 4, 5] | batch(2) | list }}|{{ [1, 2, 3] | batch(2, 0) | list }}|{{ [[1], [2, 3]] | sum(start=[]) }}|{{ [{'n': 1}, {'n': 2}] | sum(attribute='n') }}",
     {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc' | indent }}][{{ 'a\\nb' | indent(2, true) }}][{{ 'a\\n\\nb' | indent('> ', blank=true) }}]", {}),
    ("filter_attr_filter", "{{ d | attr('a') is defined }} {{ 'x' | attr('upper') is callable }}", {"d": {"a": 1}}),
    ("tojson", "{{ v | tojson }}|{{ v | tojson(indent=2) }}|{{ v | tojson(sort_keys=true) }}|{{ v | tojson(separators=(',', ':')) }}|{{ 'é\"\\n' | tojson }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ [] | tojson(indent=2) }}|{{ {} | tojson }}",
     {"v": {"b": [1, 2.5, True, None, "x"], "a": {"n": {}}}}),
    ("tojson_tool", "{{ tool | tojson(indent=4) }}\n{{ tool.function.parameters | tojson }}", {"tool": TOOL}),
    ("tojson_numbers", "{{ [1.0, 1e20, 0.1, -5, 1e-7] | tojson }}", {}),
    # tests
    ("tests_types", "{{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1 is integer }} {{ 1.0 is float }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ x is iterable }} {{ none is none }} {{ x is undefined }} {{ true is boolean }} {{ 1 is boolean }} {{ 'a' is sequence }} {{ {} is sequence }}",
     {}),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 2 is eq 2 }} {{ 2 is ne 2 }} {{ 1 is lt 2 }} {{ 'a' is in 'cat' }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ '12' is lower }} {{ true is true }} {{ 1 is true }} {{ none is sameas none }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ range is callable }}",
     {}),
    ("tests_not", "{{ x is not defined }} {{ 1 is not string }} {{ not x is defined }}", {}),
    # statements
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{{ loop.previtem }}|{{ loop.nextitem }};{% endfor %}", {}),
    ("for_filter_else", "{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] if false %}{% else %}filtered{% endfor %}", {}),
    ("for_unpack", "{% for a, b in [[1, 2], (3, 4)] %}{{ a }}{{ b }} {% endfor %}{% for k, v in {'x': 1, 'y': 2} | items %}{{ k }}{{ v }}{% endfor %}{% for (a, b) in [(5, 6)] %}{{ a + b }}{% endfor %}", {}),
    ("for_cycle_break", "{% for i in range(10) %}{% if i == 5 %}{% break %}{% endif %}{% if i is odd %}{% continue %}{% endif %}{{ loop.cycle('a', 'b', 'c') }}{{ i }}{% endfor %}", {}),
    ("for_nested_loop", "{% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("for_dict_and_undefined", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}|{% for x in missing %}x{% endfor %}|{% for x in range(3, 0, -1) %}{{ x }}{% endfor %}|{{ range(2, 9, 3) | list }}", {}),
    ("scoping", "{% set y = 1 %}{% for x in [1, 2] %}{{ y }}{% set y = x * 10 %}{{ y }}{% endfor %}{{ y }}|{% for x in [1, 2] %}{% if loop.first %}{% set z = 5 %}{% endif %}[{{ z }}]{% endfor %}|{% if true %}{% set w = 3 %}{% endif %}{{ w }}", {}),
    ("namespace", "{% set ns = namespace(count=0, items=[]) %}{% for x in range(4) %}{% set ns.count = ns.count + x %}{% set ns.items = ns.items + [x] %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ ns.missing is defined }}{% set n2 = namespace({'a': 1}, b=2) %} {{ n2.a }}{{ n2.b }}", {}),
    ("set_forms", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}{% set blk %}  inside {{ a }} {% endset %}[{{ blk }}]{% set up | upper | trim %} shout {% endset %}[{{ up }}]", {}),
    ("set_reassign_messages", "{% set messages = messages[1:] %}{{ messages | length }}{% for m in messages %}{{ m.role[0] }}{% endfor %}", {"messages": MSGS}),
    ("macros", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} {{ greet() }}", {}),
    ("macro_varargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("macro_scope", "{% macro m() %}[{{ a }}]{% set a = 3 %}({{ a }}){% endmacro %}{% set a = 1 %}{{ m() }}{% set a = 2 %}{{ m() }}{{ a }}", {}),
    ("macro_returns_string", "{% macro t() %}object | object{% endmacro %}{% set r = t() %}{{ r == 'object | object' }} {{ r | length }}", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}|{% filter replace('a', 'o') | trim %}  banana  {% endfilter %}", {}),
    ("with_block", "{% set x = 1 %}{% with x = 2, y = 3 %}{{ x }}{{ y }}{% endwith %}{{ x }}{{ y is defined }}", {}),
    ("if_elif", "{% for i in range(4) %}{% if i == 0 %}zero{% elif i == 1 %}one{% elif i == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("globals", "{{ range(3) | list }} {{ dict(a=1, b=2) }} {{ strftime_now('%Y-%m-%d') }} {{ strftime_now('%B %d, %Y') }} {{ strftime_now('%A %b %j') }} {{ True }}{{ False }}{{ None }}", {}),
    ("messages_loop", "{% for m in messages %}{% if loop.first and m.role == 'system' %}S:{{ m.content }}\n{% else %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
     {"messages": MSGS, "add_generation_prompt": True}),
    ("undefined_print", "[{{ missing }}][{{ missing | string }}][{{ missing | length }}][{{ missing ~ 'x' }}]", {}),
    ("json_input_types", "{{ v.i }} {{ v.f }} {{ v.b }} {{ v.n }} {{ v.s }} {{ v.l }} {{ v.o }} {{ v.i is integer }} {{ v.f is float }}",
     {"v": {"i": 3, "f": 2.0, "b": False, "n": None, "s": "é", "l": [1, "2"], "o": {"z": 1, "a": 2}}}),
    # real-template idioms and edge cases
    ('ws_real_template_dash', "{%- for message in messages %}\n    {%- if message.role == 'user' %}\n        {{- '<|user|>' + message.content }}\n    {%- else %}\n{{ message.content }}\n    {%- endif %}\n{%- endfor %}\n", {'messages': [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'}]}),
    ('ws_real_template_plain', "{% for m in messages %}\n  {% if m.role == 'user' %}\n    U: {{ m.content }}\n  {% endif %}\n{% endfor %}\n", {'messages': [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'}]}),
    ('macro_json_to_python_type', '{%- macro json_to_python_type(json_spec) %}\n{%- set basic_type_map = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"} %}\n\n{%- if basic_type_map[json_spec.type] is defined %}\n    {{- basic_type_map[json_spec.type] }}\n{%- elif json_spec.type == "array" %}\n    {{- "list[" +  json_to_python_type(json_spec|items) + "]"}}\n{%- elif json_spec.type == "object" %}\n    {%- if json_spec.additionalProperties is defined %}\n        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + \']\'}}\n    {%- else %}\n        {{- "dict" }}\n    {%- endif %}\n{%- elif json_spec.type is iterable %}\n    {{- "Union[" }}\n    {%- for t in json_spec.type %}\n      {{- json_to_python_type({"type": t}) }}\n      {%- if not loop.last %}\n        {{- "," }} \n    {%- endif %}\n    {%- endfor %}\n    {{- "]" }}\n{%- else %}\n    {{- "Any" }}\n{%- endif %}\n{%- endmacro %}\n{{ json_to_python_type({\'type\': \'string\'}) }}|{{ json_to_python_type({\'type\': [\'string\', \'integer\']}) }}|{{ json_to_python_type({\'type\': \'object\', \'additionalProperties\': {\'type\': \'number\'}}) }}|{{ json_to_python_type({\'type\': \'weird\'}) }}', {}),
    ('content_parts_text', "{{ x | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') }}", {'x': [{'type': 'text', 'text': 'a'}, {'type': 'image'}, {'type': 'text', 'text': 'b'}]}),
    ('range_reverse_indices', '{% for i in range(messages|length - 1, -1, -1) %}{{ i }}{% endfor %}', {'messages': [1, 2, 3]}),
    ('map_tojson', "{{ tools | map('tojson') | join('\\n') }}", {'tools': [{'a': 1}, {'b': [2]}]}),
    ('namespace_found_in_filtered_loop', "{% set ns = namespace(found=false) %}{% for m in messages if m.role == 'system' %}{% set ns.found = true %}{% endfor %}{{ ns.found }}", {'messages': [{'role': 'system'}]}),
    ('none_content_checks', "{{ message['content'] is none }} {{ message.get('x', 'dflt') }} {{ message.content.strip() if message.content else '' }}", {'message': {'content': None}}),
    ('unicode_markers', "{{ '<｜tool▁call▁begin｜>' + name + '<｜tool▁sep｜>' }}{{ name | length }}", {'name': 'ƒünç'}),
    ('int_filter_precedence', "{{ 1.5 | int }} {{ '3' | int + 2 }} {{ 10 / 4 | int }} {{ (10 / 4) | int }} {{ 7 // 2 * 2 }}", {}),
    ('nested_access', "{% set x = {'a': {'b': [1, {'c': 'deep'}]}} %}{{ x.a.b[1].c }} {{ x['a']['b'][0] }} {{ x.a.b.1.c }}", {}),
    ('set_conditional_expression', "{%- set system_message = messages[0]['content'] if messages[0]['role'] == 'system' else '' -%}\n[{{ system_message }}]", {'messages': [{'role': 'user', 'content': 'hi'}]}),
    ('not_and_or', '{{ not true and false }} {{ not (true and false) }} {{ true or false and false }} {{ (true or false) and false }}', {}),
    ('dictsort_loop', '{% for k, v in d | dictsort %}{{ k }}:{{ v }},{% endfor %}', {'d': {'b': 2, 'a': 1, 'C': 3}}),
    ('strip_chars', "{{ s.lstrip('ab') }} {{ s.rstrip('ba') }} {{ s.strip('ab') }} {{ '  x  '.strip(' ') }}", {'s': 'abxab'}),
    ('last_and_unique', "{{ (messages | last).content }} {{ messages[-1]['role'] }} {{ messages | map(attribute='role') | unique | list }}", {'messages': [{'role': 'user', 'content': 'a'}, {'role': 'user', 'content': 'z'}]}),
    ('reasoning_split', "{{ content.split('</think>')[-1].lstrip('\\n') }}|{{ content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", {'content': '<think>\nhmm\n</think>\n\nAnswer'}),
    ('tojson_indent_sort', '{{ x | tojson(indent=2, sort_keys=true) }}', {'x': {'b': {'z': 1, 'y': [True, None]}, 'a': 'é'}}),
    ('join_tuple_and_items', "{{ ('a', 'b') | join('-') }} {{ 'x'.join(['1', '2']) }} {{ {'a': 1}.items() | list }}", {}),
    ('macro_whitespace', '{% macro m(x) -%}\n  [{{ x }}]\n{%- endmacro %}\n{{ m(1) }}{{ m(2) }}', {}),
    ('none_attribute_chain_error', '{{ x.y.z }}', {'x': {'y': None}}),
    ('repeat_negative_and_empty', "{{ 'a' * -1 }}|{{ [] * 3 }}|{{ 0 * 'x' }}", {}),
    ('float_text', "{{ 'x' ~ 1.0 ~ 2.50 ~ 1e-10 }} {{ 1e400 }} {{ -1e400 }}", {}),
    ('nested_break', "{% for a in [1,2,3] %}{% for b in [1,2] %}{% if b == 2 %}{% break %}{% endif %}{{ a }}{{ b }} {% endfor %}{% endfor %}", {}),
    ('map_attribute_then_filter', "{{ users | map(attribute='name') | map('upper') | join(', ') }}", {"users": [{"name": "ann"}, {"name": "bo"}]}),
    ('truthiness_of_strings_and_floats', "{{ 'yes' if x else 'no' }} {{ 'yes' if y else 'no' }}", {"x": "0", "y": 0.0}),
    ('sort_mixed_types_error', "{{ [1, 'a'] | sort }}", {}),
    ('string_and_list_ordering', "{{ 'é' < 'z' }} {{ 'Z' < 'a' }} {{ [1, 2] > [1] }}", {}),
    ('macro_sees_global_not_loop_var', '{% set x = 5 %}{% macro f() %}{{ x }}{% endmacro %}{% for x in [1] %}{{ f() }}{% endfor %}', {}),
    ('select_truthy_reject_none', "{{ [none, false, 0, '', [], {}] | select | list }} {{ [none, 1] | reject('none') | list }}", {}),
    ('ws_dash_lines', '  {%- if true %}\n  a\n  {%- endif %}  \n  b', {}),
    ('ws_blank_lines', '{% if true %}\n\n  x\n{% endif %}\n\n', {}),
    ('ws_tabs', '\t{% for i in [1] %}\t\n{{ i }}\t{% endfor %}\t\nend', {}),
    ('ws_comment_dash_both', 'line\n   {#- comment -#}   \nnext', {}),
    ('ws_comments_inline', 'A {# c #} B\n  {# c2 #}\nC', {}),
    ('raw_multiline', '{% raw %}\n  {{ x }}\n{% endraw %}\nafter', {}),
    ('raw_lstrip', '  {% raw %}x{% endraw %}  \ny', {}),
    ('ws_var_dashes', "{{- 'a' }}\n  {{- 'b' -}}\n  c", {}),
    ('ws_dash_blocks', 'a\n{%- if true %}\nb{% endif -%}\n\nc', {}),
    ('set_block_dashes', '{% set x -%}\n  body  \n{%- endset %}[{{ x }}]', {}),
    ('plus_tag', '{%+ if true %}x{% endif %}', {}),
    ('plus_tag_indented', '   {%+ if true %}x{% endif %}', {}),
    ('crlf_blocks', 'x\r\n  {% if true %}\r\n  y\r\n  {% endif %}\r\n', {}),
    ('two_outputs', "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ('for_over_none_error', '{% for x in y %}{{ x }}{% else %}E{% endfor %}', {'y': None}),
    ('length_of_int_error', '{{ x | length }}', {'x': 5}),
    ('trim_none', '{{ x | trim }}', {'x': None}),
    ('undefined_plus_error', '{{ x + 1 }}', {}),
    ('call_int_error', '{{ x() }}', {'x': 1}),
    ('set_attr_undefined_error', '{% set x.y = 1 %}', {}),
    ('for_without_target_error', '{% for %}{% endfor %}', {}),
    ('filter_without_name_error', '{{ x | }}', {}),
    ('unclosed_list_error', '{{ [1, 2 }}', {}),
    ('dict_missing_colon_error', "{{ {'a' 1} }}", {}),
    ('assign_to_number_error', '{% set 1 = 2 %}', {}),
    ('stray_endmacro_error', '{% endmacro %}', {}),
    ('getattr_integer', '{{ a.1 }}', {'a': [5, 6]}),
    ('leading_zero_error', '{{ 08 }}', {}),
    ('bad_hex_error', '{{ 0x }}', {}),
    ('is_with_string_error', "{{ 'a' is 'b' }}", {}),
    ('unpack_dict_keys_error', "{% for a, b in {'x': 1} %}{{ a }}{{ b }}{% endfor %}", {}),
    ('unpack_two_char_string', "{% for a, b in ['xy'] %}{{ a }}{{ b }}{% endfor %}", {}),
    ('namespace_default_attr', '{% set ns = namespace() %}{% set ns.x = ns.x | default(0) + 1 %}{{ ns.x }}', {}),
    ('dict_global', "{{ dict(a=1) | tojson }} {{ dict({'b': 2}, c=3) }}", {}),
    ('raise_without_message_error', '{{ raise_exception() }}', {}),
    ('range_without_args_error', '{{ range() }}', {}),
    ('range_zero_step_error', '{{ range(1, 2, 0) }}', {}),
    ('string_index_out_of_range', "{{ 'abc'[10] }}|{{ 'abc'[1:100] }}|{{ 'abc'[-100:] }}", {}),
    ('max_of_empty', '{{ x | max }}', {'x': []}),
    ('sort_by_attribute', "{{ [{'x': 2}, {'x': 1}] | sort(attribute='x') }}", {}),
    ('sort_by_two_attributes', "{{ [{'x': 2, 'y': 1}, {'x': 2, 'y': 0}, {'x': 1, 'y': 5}] | sort(attribute='x,y') }}", {}),
    ('title_methods', "{{ 'hello world'.title() }} {{ 'HELLO'.capitalize() }} {{ 'x1y'.title() }}", {}),
    # errors (the engine must fail as Jinja2 does)
    ("err_raise", "{{ raise_exception('custom failure') }}", {}),
    ("err_undefined_attr", "{{ x.y }}", {}),
    ("err_undefined_call", "{{ nofunc() }}", {}),
    ("err_type_add", "{{ 'a' + 1 }}", {}),
    ("err_concat_binds_tighter_than_plus", "{{ 1 ~ 2 + 3 }}", {}),
    ("err_zero_div", "{{ 1 / 0 }}", {}),
    ("err_unknown_filter", "{{ x | nosuchfilter }}", {}),
    ("err_unknown_filter_in_if_runtime", "{% if true %}{{ x | nosuchfilter }}{% endif %}", {}),
    ("err_unknown_test", "{{ x is nosuchtest }}", {}),
    ("err_syntax_unclosed", "{% if true %}x", {}),
    ("err_syntax_unknown_tag", "{% frobnicate %}", {}),
    ("err_syntax_bad_expr", "{{ 1 + }}", {}),
    ("err_syntax_unclosed_var", "{{ x ", {}),
    ("err_syntax_unclosed_string", "{{ 'abc }}", {}),
    ("err_syntax_stray_end", "{% endfor %}", {}),
    ("err_break_outside", "{% break %}", {}),
    ("err_compare_types", "{{ 1 < 'a' }}", {}),
    ("err_ns_assign", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("err_not_iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("err_unpack", "{% for a, b in [1] %}{% endfor %}", {}),
    ("err_macro_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {}),
    ("err_tojson_undefined", "{{ x | tojson }}", {}),
    ("err_str_method_missing", "{{ 'a'.nosuchmethod() }}", {}),
]


def render(source, variables):
    try:
        return {"expected": ENV.from_string(source).render(**variables)}
    except Exception as e:  # noqa: BLE001 - any Jinja2 failure is an expected error here
        return {"error": type(e).__name__ + ": " + str(e)}


def main():
    out = []
    for name, source, variables in CASES:
        entry = {"name": name, "template": source, "variables": variables}
        entry.update(render(source, variables))
        out.append(entry)
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "template" / "data" / "jinja2_reference.json"
    header = {"generator": "scripts/gen-jinja-reference.py", "jinja2": jinja2.__version__, "cases": out}
    path.write_text(json.dumps(header, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(out)} cases -> {path}")


if __name__ == "__main__":
    main()
