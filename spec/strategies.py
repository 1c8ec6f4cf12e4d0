"""Hypothesis strategies shared by spec modules.

Built from small alphabets, so that hypothesis need not compute its unicode tables (a second).
"""

from __future__ import annotations

import sys

from hypothesis import strategies as st

# dot-atom characters (RFC 5322 atext) except "/": a path segment cannot carry it (servers decode %2F).
LOCAL_CHARS = "abcxyzABCXYZ0189!#$%&'*+-=?^_`{|}~"
LABEL_CHARS = "abcdefxyzABCDEFXYZ0189"
NAME_CHARS = "abcxyzABCXYZ"
# Ordinary top-level domains: special-use ones (test, local, invalid, arpa, onion ...) are rejected.
TLDS = ("com", "org", "net", "io", "de", "enterprises", "CO.UK", "Com")
SPECIAL_USE = ("test", "local", "invalid", "arpa", "onion", "localhost")
# Any character UTF-8 (so JSON) can carry: every ASCII one, control characters included, or any code point but
# the surrogates. Neither st.text() (its default alphabet makes hypothesis encode every code point once per run,
# a second and a half) nor st.characters() (a table of every code point's category, a tenth of a second).
ANY_CHARACTER = st.one_of(
    st.sampled_from([chr(code) for code in range(128)]),
    st.integers(0, sys.maxunicode).filter(lambda code: not 0xD800 <= code <= 0xDFFF).map(chr),
)
IDENTIFIER_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def words(alphabet: str, min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[str]:
    """Strings over ``alphabet``."""
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map("".join)


def any_text(max_size: int) -> st.SearchStrategy[str]:
    """Strings of :data:`ANY_CHARACTER` (``st.text`` would tabulate the character categories)."""
    return st.lists(ANY_CHARACTER, max_size=max_size).map("".join)


def dotted(atoms: st.SearchStrategy[str], separator: str = ".") -> st.SearchStrategy[str]:
    return st.lists(atoms, min_size=1, max_size=3).map(separator.join)


# A label is alphanumeric runs joined by single hyphens: no leading, trailing or double hyphen (xn--).
LABELS = dotted(words(LABEL_CHARS, max_size=6), "-")
LOCAL_PARTS = dotted(words(LOCAL_CHARS))
DOMAINS = st.tuples(dotted(LABELS), st.sampled_from(TLDS)).map(".".join)


@st.composite
def email_addresses(draw: st.DrawFn) -> tuple[str, str]:
    """``(as sent, normalised)``: an address EmailStr accepts, as given and as EmailStr returns it.

    The domain comes in mixed case (normalised to lower case), the local part keeps its case, and the
    address may be sent with surrounding whitespace or in the display-name form ``Name <address>``.
    """
    local, domain = draw(LOCAL_PARTS), draw(DOMAINS)
    address = f"{local}@{domain}"
    name = draw(dotted(words(NAME_CHARS), " "))
    forms = [address, f"  {address} ", f"{name} <{address}>", f'"{name}, Esq." <{address}>']
    sent = draw(st.sampled_from(forms))
    return sent, f"{local}@{domain.lower()}"


def not_email_addresses() -> st.SearchStrategy[str]:
    """Strings that are not email addresses (and contain no "/", so that they fit in a path segment)."""
    no_at_sign = words(LOCAL_CHARS + " .,;:<>\"()\t", max_size=20)
    addresses = email_addresses().map(lambda pair: pair[1])
    return st.one_of(
        no_at_sign,
        no_at_sign.map("{}@".format),
        no_at_sign.map("@{}".format),
        st.tuples(LOCAL_PARTS, st.sampled_from(SPECIAL_USE)).map("{0[0]}@example.{0[1]}".format),
        st.tuples(addresses, st.integers(0, 80), st.sampled_from(["\r", "\n", "\r\n"])).map(
            lambda drawn: drawn[0][: drawn[1]] + drawn[2] + drawn[0][drawn[1]:]),
    )
