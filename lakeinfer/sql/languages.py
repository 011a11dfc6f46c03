"""Target languages of ``ai_translate``: BCP-47 codes and language names, as Databricks takes
them (``'es'``, ``'es-MX'``, ``'pt-BR'``, ``'zh-Hans'``, ``'Spanish'``, ``'French'``).

A code is parsed and a name looked up by the ``langcodes`` library (with its ``language_data``
names); the result is the English name the prompt uses, with the region or script where the
code gives one: ``'es-MX'`` is "Spanish (Mexico)", ``'zh-Hans'`` "Chinese (Simplified)".
"""

from __future__ import annotations

from functools import lru_cache

#: codes that name no single language (undetermined, no linguistic content, collections)
_NOT_A_LANGUAGE = {"und", "zxx", "mul", "mis", "sgn"}
#: what to_lang accepts, for errors
ACCEPTED = (
    "a BCP-47 language code (e.g. 'es', 'es-MX', 'pt-BR', 'zh-Hans') or a language name "
    "(e.g. 'Spanish', 'French')"
)


class UnknownLanguage(ValueError):
    """``to_lang`` names no language lakeinfer knows (the message says what is accepted)."""


@lru_cache(maxsize=256)
def language_name(target: str) -> str:
    """The English name of the language ``target`` names (a BCP-47 code, ``_`` accepted for
    ``-``, or a language name in English or in the language itself): "Spanish (Mexico)" for
    ``'es-MX'``. :class:`UnknownLanguage` when it names none (or an unknown region)."""
    import langcodes

    text = target.strip()
    tag = text.replace("_", "-")
    try:
        if langcodes.tag_is_valid(tag):
            language = langcodes.Language.get(tag)
        else:
            language = langcodes.find(text)
    except (LookupError, ValueError):
        raise UnknownLanguage(f"it names no known language; give {ACCEPTED}") from None
    name = language.display_name("en")
    if (
        not language.language
        or language.language in _NOT_A_LANGUAGE
        or language.private
        or not language.is_valid()
        or "Unknown" in name
    ):
        raise UnknownLanguage(f"it names no known language; give {ACCEPTED}")
    return name
