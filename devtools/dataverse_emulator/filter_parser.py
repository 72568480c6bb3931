"""`$filter` text to a syntax tree: a tokenizer and a recursive-descent parser.

Covers what Dataverse accepts: comparisons, and/or/not, parentheses, literals (strings with
`''`, unquoted GUIDs, dates, numbers, booleans, null), property paths through lookups,
`any`/`all` lambdas over collection navigation properties, `contains`/`startswith`/`endswith`,
`Microsoft.Dynamics.CRM.*` functions with named parameters (PropertyValues in `['a','o''b']`
or `["a","o'b"]` form), and parameter aliases (`@p1`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ODataError


def syntax_error(message: str) -> ODataError:
    return ODataError(400, "0x80060888", message)


@dataclass(frozen=True)
class Token:
    kind: str  # string guid datetime date number ident alias punct
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Literal:
    kind: str  # string guid datetime date int float bool null list
    value: Any


@dataclass(frozen=True)
class Prop:
    path: tuple[str, ...]
    variable: str | None = None  # lambda variable the path starts from


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class Call:
    name: str  # contains / startswith / endswith
    args: tuple[Any, ...]


@dataclass(frozen=True)
class CrmCall:
    name: str  # without the Microsoft.Dynamics.CRM. prefix
    params: dict[str, Any]


@dataclass(frozen=True)
class Lambda:
    nav: Prop
    kind: str  # any / all
    variable: str | None
    body: Any


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?(?![\w-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:-])")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDfFlL]?(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_$][\w.]*")
_ALIAS = re.compile(r"@[A-Za-z_]\w*")
_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
_STRING_FUNCTIONS = ("contains", "startswith", "endswith")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char == "'":
            value, end = _single_quoted(text, i)
            tokens.append(Token("string", value, i, text[i:end]))
            i = end
            continue
        if char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise syntax_error(f"There is an unterminated string literal at position {i} in '{text}'.")
            try:
                value = json.loads(text[i:end + 1])
            except json.JSONDecodeError as exc:
                raise syntax_error(f"Invalid JSON. {exc}") from exc
            tokens.append(Token("string", value, i, text[i:end + 1]))
            i = end + 1
            continue
        if char in "(),[]:=/":
            tokens.append(Token("punct", char, i, char))
            i += 1
            continue
        for kind, pattern in (("guid", _GUID), ("datetime", _DATETIME), ("date", _DATE), ("number", _NUMBER),
                              ("alias", _ALIAS), ("ident", _IDENT)):
            match = pattern.match(text, i)
            if match:
                tokens.append(Token(kind, match.group(0), i, match.group(0)))
                i = match.end()
                break
        else:
            raise syntax_error(f"Syntax error: character '{char}' is not valid at position {i} in '{text}'.")
    return tokens


def _single_quoted(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        if text[i] == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise syntax_error(f"There is an unterminated literal at position {start} in '{text}'.")


def _number(text: str) -> Literal:
    stripped = text.rstrip("mMdDfFlL")
    if re.fullmatch(r"-?\d+", stripped):
        return Literal("int", int(stripped))
    return Literal("float", float(stripped))


class Parser:
    def __init__(self, text: str, aliases: dict[str, str] | None = None, depth: int = 0) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.aliases = aliases or {}
        self.depth = depth
        self.variables: list[str] = []

    def parse(self) -> Any:
        if not self.tokens:
            raise syntax_error("The $filter expression is empty.")
        node = self._or()
        if self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            raise syntax_error(f"Syntax error at position {token.pos} in '{self.text}'.")
        return node

    # -- helpers --------------------------------------------------------------------------
    def _peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def _next(self) -> Token:
        token = self._peek()
        if token is None:
            raise syntax_error(f"Expression expected at the end of '{self.text}'.")
        self.pos += 1
        return token

    def _is_word(self, word: str, offset: int = 0) -> bool:
        token = self._peek(offset)
        return token is not None and token.kind == "ident" and token.value == word

    def _is_punct(self, char: str, offset: int = 0) -> bool:
        token = self._peek(offset)
        return token is not None and token.kind == "punct" and token.value == char

    def _expect(self, char: str) -> None:
        token = self._next()
        if token.kind != "punct" or token.value != char:
            raise syntax_error(f"'{char}' expected at position {token.pos} in '{self.text}'.")

    # -- grammar --------------------------------------------------------------------------
    def _or(self) -> Any:
        node = self._and()
        while self._is_word("or"):
            self.pos += 1
            node = BoolOp("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._unary()
        while self._is_word("and"):
            self.pos += 1
            node = BoolOp("and", node, self._unary())
        return node

    def _unary(self) -> Any:
        if self._is_word("not"):
            self.pos += 1
            return Not(self._unary())
        return self._comparison()

    def _comparison(self) -> Any:
        left = self._primary()
        token = self._peek()
        if token is not None and token.kind == "ident" and token.value in _COMPARISONS:
            self.pos += 1
            return Compare(token.value, left, self._primary())
        if token is not None and token.kind == "ident" and token.value in ("in", "has", "add", "sub", "mul",
                                                                        "div", "mod"):
            raise syntax_error(f"The operator '{token.value}' is not supported.")
        return left

    def _primary(self) -> Any:
        token = self._next()
        if token.kind == "punct" and token.value == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "punct" and token.value == "[":
            return self._list_rest()
        if token.kind == "string":
            return Literal("string", token.value)
        if token.kind == "guid":
            return Literal("guid", token.value.lower())
        if token.kind == "datetime":
            return Literal("datetime", token.value)
        if token.kind == "date":
            return Literal("date", token.value)
        if token.kind == "number":
            return _number(token.value)
        if token.kind == "alias":
            return self._alias(token.value)
        if token.kind == "ident":
            word = token.value
            if word in ("true", "false"):
                return Literal("bool", word == "true")
            if word == "null":
                return Literal("null", None)
            if self._is_punct("("):
                return self._call(word, token)
            return self._path(word)
        raise syntax_error(f"Syntax error at position {token.pos} in '{self.text}'.")

    def _alias(self, name: str) -> Any:
        if name not in self.aliases:
            return Literal("null", None)
        if self.depth > 5:
            raise syntax_error("Parameter aliases nest too deeply.")
        inner = Parser(self.aliases[name], self.aliases, self.depth + 1)
        inner.variables = self.variables
        node = inner._primary()
        if inner.pos < len(inner.tokens):
            raise syntax_error(f"The value of parameter alias '{name}' is not a single value.")
        return node

    def _path(self, first: str) -> Any:
        parts = [first]
        variable: str | None = None
        if first in self.variables:
            variable, parts = first, []
        while self._is_punct("/"):
            self.pos += 1
            token = self._next()
            if token.kind != "ident":
                raise syntax_error(f"Property name expected at position {token.pos} in '{self.text}'.")
            if token.value in ("any", "all") and self._is_punct("("):
                return self._lambda(Prop(tuple(parts), variable), token.value)
            parts.append(token.value)
        if variable is not None and not parts:
            raise syntax_error(f"The range variable '{variable}' must be followed by a property.")
        return Prop(tuple(parts), variable)

    def _lambda(self, nav: Prop, kind: str) -> Lambda:
        self._expect("(")
        if self._is_punct(")"):
            self.pos += 1
            return Lambda(nav, kind, None, None)
        var_token = self._next()
        if var_token.kind != "ident":
            raise syntax_error(f"Range variable expected at position {var_token.pos} in '{self.text}'.")
        self._expect(":")
        self.variables.append(var_token.value)
        try:
            body = self._or()
        finally:
            self.variables.pop()
        self._expect(")")
        return Lambda(nav, kind, var_token.value, body)

    def _call(self, name: str, token: Token) -> Any:
        self._expect("(")
        if name.startswith("Microsoft.Dynamics.CRM."):
            params: dict[str, Any] = {}
            while not self._is_punct(")"):
                key = self._next()
                if key.kind != "ident":
                    raise syntax_error(f"Parameter name expected at position {key.pos} in '{self.text}'.")
                self._expect("=")
                params[key.value] = self._primary()
                if self._is_punct(","):
                    self.pos += 1
            self._expect(")")
            return CrmCall(name[len("Microsoft.Dynamics.CRM."):], params)
        args: list[Any] = []
        while not self._is_punct(")"):
            args.append(self._or())
            if self._is_punct(","):
                self.pos += 1
            elif not self._is_punct(")"):
                following = self._peek()
                raise syntax_error(f"',' or ')' expected at position {following.pos if following else len(self.text)}.")
        self._expect(")")
        if name not in _STRING_FUNCTIONS:
            raise ODataError(400, "0x80060888", f"The '{name}' function is not supported.")
        return Call(name, tuple(args))

    def _list_rest(self) -> Literal:
        items: list[Any] = []
        while not self._is_punct("]"):
            node = self._primary()
            if not isinstance(node, Literal):
                raise syntax_error("Only literal values are allowed in a list.")
            items.append(node.value)
            if self._is_punct(","):
                self.pos += 1
            elif not self._is_punct("]"):
                following = self._peek()
                where = following.pos if following else len(self.text)
                raise syntax_error(f"Invalid JSON. A comma character ',' was expected in scope 'Array' at {where}.")
        self._expect("]")
        return Literal("list", items)


def parse_filter(text: str, aliases: dict[str, str] | None = None) -> Any:
    return Parser(text, aliases).parse()


def count_conditions(node: Any) -> int:
    if isinstance(node, (Compare, Call, CrmCall)):
        return 1
    if isinstance(node, BoolOp):
        return count_conditions(node.left) + count_conditions(node.right)
    if isinstance(node, Not):
        return count_conditions(node.operand)
    if isinstance(node, Lambda):
        return 1 + (count_conditions(node.body) if node.body is not None else 0)
    return 0
