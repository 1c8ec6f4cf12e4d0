"""``Email``: pydantic's ``EmailStr``, refusing CR and LF anywhere on every pydantic release.

pydantic < 2.14 strips the whitespace around an address, line breaks included, so ``"\\nbruce@wayne.enterprises"``
passed: a header-injection hole (EMAIL-003). pydantic >= 2.14 refuses them itself.
"""

from typing import Annotated, Any

from pydantic import BeforeValidator, EmailStr
from pydantic_core import PydanticCustomError


def _no_line_breaks(value: Any) -> Any:
    if isinstance(value, str) and ("\r" in value or "\n" in value):
        raise PydanticCustomError("value_error", "value is not a valid email address: {reason}",
                                  {"reason": "it contains a line break"})
    return value


Email = Annotated[EmailStr, BeforeValidator(_no_line_breaks)]
