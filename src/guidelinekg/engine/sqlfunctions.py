"""SPARQL's built-in functions for the expression compiler (:class:`~guidelinekg.engine.sqlexpr.ExprCompiler`):
terms, strings, numbers, dates and casts, as DuckDB SQL over the compiled engine's values."""

from __future__ import annotations

from guidelinekg.engine.sqlterms import RANKS, SEP, XSD, sql_str
from guidelinekg.engine.sqlvalues import _TIMES, Unsupported, Val


class Functions:
    """A mixin of :class:`~guidelinekg.engine.sqlexpr.ExprCompiler`: one method per SPARQL built-in."""

    # -- terms
    def _Builtin_STR(self, e, env):
        v = self.c(e.arg, env)
        if v.kind == "str":
            return Val("str", v.sql, "''")
        return Val("str", self.lex(self.term(v)), "''")

    def _Builtin_LANG(self, e, env):
        v = self.c(e.arg, env)
        if v.kind == "str":
            return Val("str", f"ltrim({v.aux}, '@')", "''")
        tag = self.tag(self.term(v))
        return Val("str", f"(CASE WHEN left({tag}, 1) = '@' THEN substr({tag}, 2) WHEN {tag} IS NOT NULL THEN '' END)", "''")

    def _Builtin_DATATYPE(self, e, env):
        tag = self.tag(self.term(self.c(e.arg, env)))
        return Val("term", f"(CASE WHEN {tag} = '' THEN '<{XSD}string' WHEN left({tag}, 1) = '@' THEN "
                           f"'<http://www.w3.org/1999/02/22-rdf-syntax-ns#langString' ELSE '<' || {tag} END)")

    def _Builtin_IRI(self, e, env):
        v = self.c(e.arg, env)
        if v.kind == "str":
            return Val("term", f"(CASE WHEN {v.aux} = '' THEN '<' || {v.sql} END)")
        t = self.term(v)
        return Val("term", f"(CASE WHEN left({t}, 1) = '<' THEN {t} WHEN {self.tag(t)} = '' THEN '<' || {self.lex(t)} END)")

    _Builtin_URI = _Builtin_IRI

    def _Builtin_isIRI(self, e, env):
        return Val("bool", f"(left({self.term(self.c(e.arg, env))}, 1) = '<')")

    _Builtin_isURI = _Builtin_isIRI

    def _Builtin_isBLANK(self, e, env):
        return Val("bool", f"(left({self.term(self.c(e.arg, env))}, 1) = '_')")

    def _Builtin_isLITERAL(self, e, env):
        return Val("bool", f"(left({self.term(self.c(e.arg, env))}, 1) = '\"')")

    def _Builtin_isNUMERIC(self, e, env):
        v = self.c(e.arg, env)
        if v.kind == "num":
            return Val("bool", "TRUE")
        t = self.term(v)
        return Val("bool", f"(CASE WHEN {t} IS NOT NULL THEN {self.num(Val('term', t)).dbl} IS NOT NULL END)")

    # -- strings
    def _strfn(self, e, env, fn: str) -> Val:
        v = self.string(self.c(e.arg, env))
        return Val("str", f"{fn}({v.sql})", v.aux)

    def _Builtin_UCASE(self, e, env):
        return self._strfn(e, env, "upper")

    def _Builtin_LCASE(self, e, env):
        return self._strfn(e, env, "lower")

    def _Builtin_STRLEN(self, e, env):
        return self.numbers.from_count(f"length({self.string(self.c(e.arg, env)).sql})")

    def _Builtin_CONCAT(self, e, env):
        vals = [self.string(self.c(a, env)) for a in e.arg]
        if not vals:
            return Val("str", "''", "''")
        sql = "(" + " || ".join(v.sql for v in vals) + ")"
        if len({v.aux for v in vals}) == 1:
            return Val("str", sql, vals[0].aux)
        first = vals[0].aux
        same = " AND ".join(f"{v.aux} = {first}" for v in vals[1:])
        return Val("str", sql, f"(CASE WHEN {same} THEN {first} ELSE '' END)")

    def _Builtin_SUBSTR(self, e, env):
        v = self.string(self.c(e.arg, env))
        start = self.num(self.c(e.start, env))
        first = self.let(f"CAST(floor({start.dbl} + 0.5) AS BIGINT)")
        if e.length is None:
            return Val("str", f"substr({v.sql}, greatest({first}, 1))", v.aux)
        n = self.num(self.c(e.length, env))
        end = self.let(f"({first} + CAST(floor({n.dbl} + 0.5) AS BIGINT))")  # exclusive
        return Val("str", f"substr({v.sql}, greatest({first}, 1), greatest({end} - greatest({first}, 1), 0))", v.aux)

    def _pair(self, e, env):
        a, b = self.string(self.c(e.arg1, env)), self.string(self.c(e.arg2, env))
        ok = f"({b.aux} = '' OR {b.aux} = {a.aux})"  # argument compatibility
        return a, b, ok

    def _Builtin_STRSTARTS(self, e, env):
        a, b, ok = self._pair(e, env)
        return Val("bool", f"(CASE WHEN {ok} THEN starts_with({a.sql}, {b.sql}) END)")

    def _Builtin_STRENDS(self, e, env):
        a, b, ok = self._pair(e, env)
        return Val("bool", f"(CASE WHEN {ok} THEN suffix({a.sql}, {b.sql}) END)")

    def _Builtin_CONTAINS(self, e, env):
        a, b, ok = self._pair(e, env)
        return Val("bool", f"(CASE WHEN {ok} THEN contains({a.sql}, {b.sql}) END)")

    def _before_after(self, e, env, after: bool) -> Val:
        a, b, ok = self._pair(e, env)
        pos = self.let(f"instr({a.sql}, {b.sql})")
        part = f"substr({a.sql}, {pos} + length({b.sql}))" if after else f"substr({a.sql}, 1, {pos} - 1)"
        empty = a.sql if after else "''"
        return Val("str", f"(CASE WHEN {ok} THEN CASE WHEN {b.sql} = '' THEN {empty} WHEN {pos} > 0 "
                          f"THEN {part} ELSE '' END END)",
                   f"(CASE WHEN {b.sql} = '' OR {pos} > 0 THEN {a.aux} ELSE '' END)")

    def _Builtin_STRBEFORE(self, e, env):
        return self._before_after(e, env, False)

    def _Builtin_STRAFTER(self, e, env):
        return self._before_after(e, env, True)

    def _flags(self, e, env) -> str:
        if getattr(e, "flags", None) is None:
            return ""
        flags = self.c(e.flags, env)
        text = flags.sql[1:-1] if flags.kind == "str" and flags.sql.startswith("'") else None
        if text is None or set(text) - set("imsx"):
            raise Unsupported(f"regular expression flags {flags.sql}")
        return text

    def _Builtin_REGEX(self, e, env):
        text, pattern = self.string(self.c(e.text, env)), self.string(self.c(e.pattern, env))
        flags = self._flags(e, env)
        return Val("bool", f"regexp_matches({text.sql}, {pattern.sql}, {sql_str(flags or 'c')})")

    def _Builtin_REPLACE(self, e, env):
        arg, pattern = self.string(self.c(e.arg, env)), self.string(self.c(e.pattern, env))
        rep = self.string(self.c(e.replacement, env))
        flags = self._flags(e, env)
        # XPath replacement strings name groups $1; RE2 names them \1
        rep_sql = f"regexp_replace({rep.sql}, '\\$(\\d)', '\\\\\\1', 'g')"
        return Val("str", f"regexp_replace({arg.sql}, {pattern.sql}, {rep_sql}, {sql_str(flags + 'g')})", arg.aux)

    def _hash(self, e, env, fn: str) -> Val:
        v = self.string(self.c(e.arg, env))
        return Val("str", f"(CASE WHEN {v.aux} = '' THEN {fn}({v.sql}) END)", "''")

    def _Builtin_SHA1(self, e, env):
        return self._hash(e, env, "sha1")

    def _Builtin_SHA256(self, e, env):
        return self._hash(e, env, "sha256")

    def _Builtin_MD5(self, e, env):
        return self._hash(e, env, "md5")

    def _Builtin_LANGMATCHES(self, e, env):
        tag, rng = self.string(self.c(e.arg1, env)), self.string(self.c(e.arg2, env))
        t, r = self.let(f"lower({tag.sql})"), self.let(f"lower({rng.sql})")
        return Val("bool", f"(CASE WHEN {r} = '*' THEN {t} <> '' ELSE {t} = {r} OR starts_with({t}, {r} || '-') END)")

    # -- numbers
    def _Builtin_ABS(self, e, env):
        return self.numbers.absolute(self.num(self.c(e.arg, env)))

    def _Builtin_ROUND(self, e, env):
        return self.numbers.round(self.num(self.c(e.arg, env)))

    def _Builtin_FLOOR(self, e, env):
        return self.numbers.floor(self.num(self.c(e.arg, env)))

    def _Builtin_CEIL(self, e, env):
        return self.numbers.ceil(self.num(self.c(e.arg, env)))

    # -- dates: the fields as written (SPARQL reads the lexical value, not one moved to UTC)
    _FIELDS = {"YEAR": "^(-?\\d+)-", "MONTH": "^-?\\d+-(\\d\\d)", "DAY": "^-?\\d+-\\d\\d-(\\d\\d)",
               "HOURS": "T(\\d\\d):", "MINUTES": "T\\d\\d:(\\d\\d)"}

    def _part(self, e, env, field: str) -> Val:
        t = self.term(self.c(e.arg, env))
        tag, lex = self.tag(t), self.lex(t)
        dated = f"{tag} IN ('{XSD}dateTime', '{XSD}date', '{XSD}dateTimeStamp')"
        if field in ("HOURS", "MINUTES"):
            dated = f"{tag} IN {_TIMES}"
        return self.numbers.from_count(f"(CASE WHEN {dated} THEN TRY_CAST(regexp_extract({lex}, "
                                       f"'{self._FIELDS[field]}', 1) AS HUGEINT) END)")

    def _Builtin_YEAR(self, e, env):
        return self._part(e, env, "YEAR")

    def _Builtin_MONTH(self, e, env):
        return self._part(e, env, "MONTH")

    def _Builtin_DAY(self, e, env):
        return self._part(e, env, "DAY")

    def _Builtin_HOURS(self, e, env):
        return self._part(e, env, "HOURS")

    def _Builtin_MINUTES(self, e, env):
        return self._part(e, env, "MINUTES")

    def _Builtin_TZ(self, e, env):
        t = self.term(self.c(e.arg, env))
        return Val("str", f"(CASE WHEN {self.tag(t)} IN ('{XSD}dateTime', '{XSD}date', '{XSD}dateTimeStamp') "
                          f"THEN regexp_extract({self.lex(t)}, '(Z|[+-]\\d\\d:\\d\\d)$', 1) END)", "''")

    # -- casts
    def _Function(self, e, env):
        fn = str(e.iri)
        if len(e.expr) != 1:
            raise Unsupported(f"function <{fn}> with {len(e.expr)} arguments")
        v = self.c(e.expr[0], env)
        if fn in (XSD + "integer", XSD + "decimal", XSD + "double", XSD + "float"):
            return self._to_number(v, RANKS[fn])
        if fn == XSD + "string":
            return Val("str", v.sql if v.kind == "str" else self.lex(self.term(v)), "''")
        if fn == XSD + "boolean":
            if v.kind == "num":
                return Val("bool", f"({v.dbl} <> 0)")
            lex = v.sql if v.kind == "str" else self.lex(self.term(v))
            return Val("bool", f"(CASE WHEN {lex} IN ('true', '1') THEN TRUE WHEN {lex} IN ('false', '0') THEN FALSE END)")
        if fn == XSD + "date":
            t = self.term(v)
            lex = self.lex(t)
            check = "^-?\\d{4,}-\\d\\d-\\d\\d(Z|[+-]\\d\\d:\\d\\d)?$"
            return Val("term", f"(CASE WHEN {self.tag(t)} IN {_TIMES} THEN '\"{fn}{SEP}' || substr({lex}, 1, 10) "
                               f"|| regexp_extract({lex}, '(Z|[+-]\\d\\d:\\d\\d)$', 1) "
                               f"WHEN regexp_matches({lex}, {sql_str(check)}) THEN '\"{fn}{SEP}' || {lex} END)")
        raise Unsupported(f"function <{fn}>")

    def _to_number(self, v: Val, rank: int) -> Val:
        if v.kind == "num":
            if rank == 1:
                return self.numbers.truncate(v)
            if rank == 2:
                return Val("num", v.sql, "2", v.dbl) if v.aux.isdigit() and int(v.aux) <= 2 else \
                    self.numbers.from_double(v.dbl, 2)
            return self.numbers.from_double(v.dbl, rank)
        if v.kind == "bool":
            return self.numbers.from_count(f"CAST({v.sql} AS INTEGER)") if rank == 1 else \
                self.numbers.from_double(f"CAST({v.sql} AS DOUBLE)", rank)
        lex = self.let(f"trim({v.sql if v.kind == 'str' else self.lex(self.term(v))})")
        pattern = {1: "[+-]?\\d+", 2: "[+-]?(\\d+(\\.\\d*)?|\\.\\d+)"}.get(rank)
        if pattern:
            parsed = self.numbers.make(f"(CASE WHEN regexp_full_match({lex}, '{pattern}') THEN g_fix({lex}) END)", str(rank))
        else:
            parsed = self.numbers.from_double(f"TRY_CAST({lex} AS DOUBLE)", rank)
        if v.kind != "term":
            return parsed
        n = self.num(v)  # a number of another numeric type: converted by value
        converted = self._to_number(n, rank)
        pick = lambda x, y: f"(CASE WHEN {n.aux} IS NOT NULL THEN {x} ELSE {y} END)"  # noqa: E731
        return Val("num", pick(converted.sql, parsed.sql), str(rank), pick(converted.dbl, parsed.dbl))
