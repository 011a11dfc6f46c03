"""The ``lakeinfer`` SQL dialect: Databricks SQL plus the statements lakeinfer adds.

sqlglot's ``databricks`` dialect keeps statements it does not model (``CREATE CATALOG``,
``VACUUM``, ``SHOW TABLES``, ``EXPLAIN``, ...) as opaque :class:`sqlglot.exp.Command` text. The
:class:`Lakeinfer` dialect extends it: each of those statements is parsed into its own node
with named parts (:class:`CreateCatalog`, :class:`Vacuum`, :class:`ShowTables`, ...), a
malformed one is a syntax error that names where it goes wrong, and the nodes print back as SQL
(``node.sql(dialect="lakeinfer")``).

A statement's grammar is a function registered under the statement's first word with
:func:`add_statement_syntax`; it runs with the parser just past that word and returns the node,
or None when the statement is not one of its own (the next grammar, then sqlglot's own parser,
is tried). The core statements are registered here; a feature registers its own (``CREATE
VECTOR INDEX``) through the engine's extension registry, so this module names no feature.
Grammars use the :class:`Parser` helpers (:meth:`Parser.words`, :meth:`Parser.name`,
:meth:`Parser.fail`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from sqlglot import exp
from sqlglot.dialects.databricks import Databricks
from sqlglot.errors import ParseError
from sqlglot.generator import Generator as _BaseGenerator
from sqlglot.tokens import Token, TokenType

#: A statement's grammar: called with the parser just past the statement's first word.
Grammar = Callable[["Parser"], exp.Expression | None]

#: Grammars by the (upper-case) first word of their statement, each under an owner's name.
_GRAMMARS: dict[str, dict[tuple[str, str], Grammar]] = {}
#: Called when a statement parses as a plain command: they register more grammars (those of
#: installed packages) and say whether they found any.
_LOADERS: list[Callable[[], bool]] = []


def add_statement_syntax(word: str, grammar: Grammar, owner: str = "lakeinfer") -> None:
    """Try ``grammar`` on statements starting with ``word``, after those registered before.
    Registering the same grammar again for the same owner changes nothing."""
    key = (owner, f"{grammar.__module__}.{grammar.__qualname__}")
    _GRAMMARS.setdefault(word.upper(), {})[key] = grammar


def remove_statement_syntax(owner: str) -> None:
    """Forget the grammars registered under ``owner``."""
    for grammars in _GRAMMARS.values():
        for key in [k for k in grammars if k[0] == owner]:
            del grammars[key]


def add_syntax_loader(loader: Callable[[], bool]) -> None:
    """Call ``loader`` when a statement parses as a plain command; when it registers more
    grammars (returns True) the statement is parsed again."""
    if loader not in _LOADERS:
        _LOADERS.append(loader)


def statement_words() -> set[str]:
    """The first words of the statements registered here (upper-case)."""
    return {word for word, grammars in _GRAMMARS.items() if grammars}


def starts_statement(token: Token) -> bool:
    """Whether a registered statement starts with ``token``'s word, looking in installed
    packages (the loaders) when none does yet."""
    if token.token_type == TokenType.STRING:
        return False
    word = token.text.upper()
    if word in statement_words():
        return True
    return any([load() for load in _LOADERS]) and word in statement_words()


class LakeStatement(exp.Expression):
    """A statement lakeinfer adds to Databricks SQL. :meth:`to_sql` prints it back."""

    def sql(self, dialect: Any = None, **opts: Any) -> str:
        """The statement as SQL, in the ``lakeinfer`` dialect whichever is asked for (no
        other dialect knows it: ``statement.sql(dialect="databricks")`` prints it too)."""
        return Lakeinfer().generate(self, **opts)

    def to_sql(self, generator: _BaseGenerator) -> str:
        """The statement as SQL text."""
        raise NotImplementedError


def _exists(node: exp.Expression, words: str) -> str:
    return f" {words}" if node.args.get("exists") else ""


class CreateCatalog(LakeStatement):
    """``CREATE CATALOG [IF NOT EXISTS] name``."""

    arg_types = {"this": True, "exists": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        return f"CREATE CATALOG{_exists(self, 'IF NOT EXISTS')} {generator.sql(self, 'this')}"


class DropCatalog(LakeStatement):
    """``DROP CATALOG [IF EXISTS] name [CASCADE | RESTRICT]``."""

    arg_types = {"this": True, "exists": False, "cascade": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        cascade = " CASCADE" if self.args.get("cascade") else ""
        return f"DROP CATALOG{_exists(self, 'IF EXISTS')} {generator.sql(self, 'this')}{cascade}"


class Vacuum(LakeStatement):
    """``VACUUM table [FULL | LITE] [RETAIN hours HOURS] [DRY RUN]``: ``mode`` is ``FULL``,
    ``LITE`` or absent, ``retain`` a number literal."""

    arg_types = {"this": True, "mode": False, "retain": False, "dry_run": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        mode = f" {self.args['mode']}" if self.args.get("mode") else ""
        retain = generator.sql(self, "retain")
        retain = f" RETAIN {retain} HOURS" if retain else ""
        dry_run = " DRY RUN" if self.args.get("dry_run") else ""
        return f"VACUUM {generator.sql(self, 'this')}{mode}{retain}{dry_run}"


def _like(generator: _BaseGenerator, node: exp.Expression) -> str:
    pattern = generator.sql(node, "like")
    return f" LIKE {pattern}" if pattern else ""


class ShowCatalogs(LakeStatement):
    """``SHOW CATALOGS [[LIKE] 'pattern']``."""

    arg_types = {"like": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        return f"SHOW CATALOGS{_like(generator, self)}"


class ShowSchemas(LakeStatement):
    """``SHOW {SCHEMAS | DATABASES} [{IN | FROM} catalog] [[LIKE] 'pattern']``."""

    arg_types = {"this": False, "like": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        catalog = generator.sql(self, "this")
        where = f" IN {catalog}" if catalog else ""
        return f"SHOW SCHEMAS{where}{_like(generator, self)}"


class ShowTables(LakeStatement):
    """``SHOW TABLES [{IN | FROM} [catalog.]schema] [[LIKE] 'pattern']``; ``this`` is the
    schema as a :class:`sqlglot.exp.Table` (``this`` the schema, ``db`` the catalog)."""

    arg_types = {"this": False, "like": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        schema = generator.sql(self, "this")
        where = f" IN {schema}" if schema else ""
        return f"SHOW TABLES{where}{_like(generator, self)}"


class ShowTblProperties(LakeStatement):
    """``SHOW TBLPROPERTIES table``."""

    arg_types = {"this": True}

    def to_sql(self, generator: _BaseGenerator) -> str:
        return f"SHOW TBLPROPERTIES {generator.sql(self, 'this')}"


class ShowFunctions(LakeStatement):
    """``SHOW [USER | SYSTEM | ALL] FUNCTIONS [[LIKE] 'pattern']``; ``scope`` is the
    upper-case scope word (``ALL`` when none is given)."""

    arg_types = {"scope": False, "like": False}

    def to_sql(self, generator: _BaseGenerator) -> str:
        scope = self.args.get("scope") or "ALL"
        return f"SHOW {scope} FUNCTIONS{_like(generator, self)}"


class Explain(LakeStatement):
    """``EXPLAIN statement``."""

    arg_types = {"this": True}

    def to_sql(self, generator: _BaseGenerator) -> str:
        return f"EXPLAIN {generator.sql(self, 'this')}"


class SetConfig(LakeStatement):
    """``SET`` (list), ``SET key`` (show one), ``SET key = value`` (change one). As in Spark,
    everything before ``=`` is the key (``SET lakeinfer.endpoints.my-llm.timeout_s = 5``) and
    the value is the rest, without its quotes; both are kept as text."""

    arg_types = {"this": False, "expression": False}

    @property
    def setting(self) -> str | None:
        """The key, None for a plain ``SET``."""
        this = self.args.get("this")
        return this.name if this is not None else None

    @property
    def value(self) -> str | None:
        """The new value, None when the statement only shows settings."""
        value = self.args.get("expression")
        return value.name if value is not None else None

    def to_sql(self, generator: _BaseGenerator) -> str:
        text = "SET"
        if self.setting is not None:
            text += f" {self.setting}"
        if self.value is not None:
            text += f" = {generator.sql(self, 'expression')}"
        return text


class ResetConfig(LakeStatement):
    """``RESET`` (every setting) or ``RESET key``."""

    arg_types = {"this": False}

    @property
    def setting(self) -> str | None:
        """The key, None for a plain ``RESET``."""
        this = self.args.get("this")
        return this.name if this is not None else None

    def to_sql(self, generator: _BaseGenerator) -> str:
        return "RESET" + (f" {self.setting}" if self.setting else "")


class Tokenizer(Databricks.Tokenizer):  # type: ignore[misc,valid-type]
    """Databricks' tokens, except that ``SHOW``, ``VACUUM`` and ``EXPLAIN`` are words followed by
    tokens (Databricks' tokenizer keeps the rest of such a statement as one string)."""

    KEYWORDS = {
        **Databricks.Tokenizer.KEYWORDS,
        "EXPLAIN": TokenType.VAR,
        "VACUUM": TokenType.VAR,
    }
    COMMANDS = Databricks.Tokenizer.COMMANDS - {TokenType.SHOW}


class Parser(Databricks.Parser):  # type: ignore[misc,valid-type]
    """The Databricks parser, trying the registered statement grammars first."""

    #: First words of statements kept as text when no grammar reads them (the words
    #: Databricks' tokenizer makes commands).
    COMMAND_WORDS = frozenset({"SHOW", "EXPLAIN", "VACUUM"})

    def _parse_statement(self) -> exp.Expression | None:
        if not self._curr:
            return None
        start = self._index
        statement = self._parse_registered() or super()._parse_statement()
        if isinstance(statement, exp.Command) and any([load() for load in _LOADERS]):
            self._retreat(start)  # an installed package may read it: look again
            statement = self._parse_registered() or super()._parse_statement()
        return statement

    def _parse_registered(self) -> exp.Expression | None:
        first = self._curr
        grammars = list(_GRAMMARS.get(first.text.upper(), {}).values())
        if first.token_type == TokenType.STRING or not grammars:
            return None
        start = self._index
        for grammar in grammars:
            self._retreat(start)
            self._advance()
            statement = grammar(self)
            if statement is not None:
                return self.at(statement, first)
        if first.text.upper() in self.COMMAND_WORDS:
            return self._parse_as_command(first)  # SHOW GRANTS: text, as sqlglot keeps it
        self._retreat(start)
        return None

    # -- helpers for grammars ------------------------------------------------------------
    @property
    def current(self) -> Token | None:
        """The token the parser is at; None at the end of the statement."""
        return self._curr or None

    @property
    def previous(self) -> Token | None:
        """The last token read."""
        return self._prev or None

    def at(self, node: exp.Expression, token: Token) -> exp.Expression:
        """``node``, remembering ``token`` as where it is in the SQL text."""
        return self.expression(node, token)

    def words(self, *words: str) -> bool:
        """Read ``words`` (case-insensitive) if they come next; whether they did."""
        return bool(words) and self._match_text_seq(*(w.upper() for w in words))

    def one_of(self, *words: str) -> str | None:
        """Read one of ``words`` if it comes next; the word read (upper-case) or None."""
        for word in words:
            if self.words(word):
                return word.upper()
        return None

    def done(self) -> bool:
        """Whether the statement ends here."""
        return not self._curr

    def is_name(self) -> bool:
        """Whether a name (a word or a quoted name) comes next."""
        token = self._curr
        if not token or token.token_type in (TokenType.STRING, TokenType.NUMBER):
            return False
        return token.token_type in self.ID_VAR_TOKENS or token.token_type in (
            TokenType.IDENTIFIER,
            TokenType.VAR,
        )

    def name(self, usage: str) -> exp.Table:
        """A name of up to three dotted parts (``c.s.t``, a part may be backquoted) as a
        table node; ``usage`` is the error when none comes next."""
        parts = [self.identifier(usage)]
        while self._curr and self._curr.token_type == TokenType.DOT:
            dot = self._curr
            self._advance()
            if not self.is_name():
                self.fail(f"expected a name after '.': {usage}", self._curr or dot)
            if len(parts) == 3:
                self.fail(f"a name has at most three parts (catalog.schema.name): {usage}", dot)
            parts.append(self.identifier(usage))
        catalog, schema, name = [None] * (3 - len(parts)) + parts
        return exp.Table(this=name, db=schema, catalog=catalog)

    def identifier(self, usage: str) -> exp.Identifier:
        """One name without dots."""
        if not self.is_name():
            self.fail(usage)
        found = self._parse_id_var(any_token=False)
        if not isinstance(found, exp.Identifier):
            self.fail(usage)
        return found

    def string(self) -> exp.Literal | None:
        """A string literal if one comes next."""
        if self._match(TokenType.STRING):
            return self.at(exp.Literal.string(self._prev.text), self._prev)  # type: ignore[return-value]
        return None

    def rest_text(self) -> str:
        """The source text from here to the end of the statement, read to its end."""
        if not self._curr:
            return ""
        start = self._curr.start
        while self._curr:
            self._advance()
        return self.sql[start : self._prev.end + 1]

    def expect_end(self, message: str) -> None:
        """Fail with ``message`` (naming the token) unless the statement ends here."""
        if self._curr:
            self.fail(message.replace("{found}", repr(self._curr.text)))

    def statement(self) -> exp.Expression | None:
        """A whole statement from here (what ``EXPLAIN`` explains)."""
        return self._parse_statement()

    def take(self) -> Token | None:
        """Read the token the parser is at and return it (None at the end)."""
        token = self.current
        if token is not None:
            self._advance()
        return token

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        """Stop with a syntax error saying ``message`` exactly, at ``token`` (default: the
        token the parser is at, or the end of the statement)."""
        self.exact_failure = True
        self.raise_error(message, token or self._curr or None)  # type: ignore[arg-type]
        raise ParseError(message)  # when errors are collected rather than raised at once

    #: whether the failure being raised has its message in SQL words already
    exact_failure = False

    def reset(self) -> None:
        super().reset()
        self.exact_failure = False


class Generator(Databricks.Generator):  # type: ignore[misc,valid-type]
    """Databricks SQL, and the statements lakeinfer adds."""

    def sql(self, expression: Any, key: str | None = None, comment: bool = True) -> str:
        if isinstance(expression, LakeStatement) and key is None:
            return expression.to_sql(self)
        return super().sql(expression, key, comment)


class Lakeinfer(Databricks):
    """Databricks SQL with lakeinfer's statements (registered with sqlglot as
    ``"lakeinfer"``)."""

    Tokenizer = Tokenizer
    Parser = Parser
    Generator = Generator


#: The dialect's name for :meth:`sqlglot.exp.Expression.sql` and :func:`sqlglot.parse`.
NAME = "lakeinfer"


# -- the core statements ------------------------------------------------------------------


def _create_catalog(parser: Parser) -> exp.Expression | None:
    if not parser.words("CATALOG"):
        return None
    exists = parser.words("IF", "NOT", "EXISTS")
    name = parser.identifier("CREATE CATALOG takes a name")
    parser.expect_end("CREATE CATALOG takes one name, found {found} after it")
    return CreateCatalog(this=name, exists=exists)


def _drop_catalog(parser: Parser) -> exp.Expression | None:
    if not parser.words("CATALOG"):
        return None
    exists = parser.words("IF", "EXISTS")
    name = parser.identifier("DROP CATALOG takes a name")
    cascade = parser.one_of("CASCADE", "RESTRICT") == "CASCADE"
    parser.expect_end("DROP CATALOG takes one name, then CASCADE or RESTRICT; found {found}")
    return DropCatalog(this=name, exists=exists, cascade=cascade)


VACUUM_USAGE = (
    "VACUUM takes a table name, then optionally FULL or LITE, RETAIN <hours> HOURS and DRY RUN"
)


def _vacuum(parser: Parser) -> exp.Expression:
    table = parser.name(VACUUM_USAGE)
    mode = parser.one_of("FULL", "LITE")
    retain = None
    if parser.words("RETAIN"):
        hours = parser.current
        if hours is None:
            parser.fail(f"{VACUUM_USAGE}; got RETAIN without <hours> HOURS")
        elif hours.token_type != TokenType.NUMBER:
            name = ".".join(p.name for p in table.parts)
            parser.fail(f"VACUUM {name}: RETAIN takes a number of hours, got {hours.text!r}")
        retain = parser.at(exp.Literal.number(hours.text), hours)
        parser.take()
        if not parser.words("HOURS"):
            unit = parser.current.text if parser.current else ""
            parser.fail(f"{VACUUM_USAGE}; got RETAIN {hours.text} {unit}".rstrip())
    dry_run = parser.words("DRY", "RUN")
    if not parser.done():
        found = parser.current.text  # type: ignore[union-attr]
        parser.fail(f"{VACUUM_USAGE}; unexpected {found!r}")
    return Vacuum(this=table, mode=mode, retain=retain, dry_run=dry_run)


def _pattern(parser: Parser, what: str) -> exp.Literal | None:
    """``[LIKE] 'pattern'`` at the end of a SHOW statement."""
    like = parser.words("LIKE")
    pattern = parser.string()
    if like and pattern is None:
        parser.fail(f"{what} LIKE takes a quoted pattern, e.g. LIKE 'ai*'")
    parser.expect_end(
        f"{what} takes one quoted pattern, e.g. {what} LIKE 'ai*'; got {{found}}"
        if pattern is not None
        else f"unexpected {{found}} in {what}"
    )
    return pattern


def _show(parser: Parser) -> exp.Expression | None:
    if parser.words("CATALOGS"):
        return ShowCatalogs(like=_pattern(parser, "SHOW CATALOGS"))
    if parser.one_of("SCHEMAS", "DATABASES"):
        catalog = None
        if parser.one_of("IN", "FROM"):
            catalog = parser.identifier("SHOW SCHEMAS IN takes a catalog name")
        return ShowSchemas(this=catalog, like=_pattern(parser, "SHOW SCHEMAS"))
    if parser.words("TABLES"):
        schema = None
        if parser.one_of("IN", "FROM"):
            schema = parser.name("SHOW TABLES IN takes a schema name")
        return ShowTables(this=schema, like=_pattern(parser, "SHOW TABLES"))
    if parser.words("TBLPROPERTIES"):
        table = parser.name("SHOW TBLPROPERTIES takes a table name")
        parser.expect_end("SHOW TBLPROPERTIES takes a table name; unexpected {found}")
        return ShowTblProperties(this=table)
    scope = parser.one_of("USER", "SYSTEM", "ALL")
    if parser.words("FUNCTIONS"):
        return ShowFunctions(scope=scope or "ALL", like=_pattern(parser, "SHOW FUNCTIONS"))
    return None


def _explain(parser: Parser) -> exp.Expression:
    if parser.done():
        parser.fail("EXPLAIN takes one statement")
    statement = parser.statement()
    if statement is None:
        parser.fail("EXPLAIN takes one statement")
    return Explain(this=statement)


def _set(parser: Parser) -> exp.Expression:
    text = parser.rest_text()
    if not text.strip():
        return SetConfig()
    if "=" not in text:
        return SetConfig(this=exp.Literal.string(text.strip()))
    key, value = text.split("=", 1)
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return SetConfig(this=exp.Literal.string(key.strip()), expression=exp.Literal.string(value))


def _reset(parser: Parser) -> exp.Expression:
    key = parser.rest_text().strip()
    return ResetConfig(this=exp.Literal.string(key) if key else None)


for _word, _grammar in (
    ("CREATE", _create_catalog),
    ("DROP", _drop_catalog),
    ("VACUUM", _vacuum),
    ("SHOW", _show),
    ("EXPLAIN", _explain),
    ("SET", _set),
    ("RESET", _reset),
):
    add_statement_syntax(_word, _grammar)
