"""What the helloworld-go sample answers: ``Hello $TARGET!`` (``Hello World!`` without it).

No imports: the sandbox's helloworld process (``python -S``) imports this, and
knwalk predicts from it what a revision will answer.
"""

#: the environment variable the sample greets
TARGET_ENV = "TARGET"
#: whom it greets when TARGET is unset or empty
DEFAULT_TARGET = "World"


def reply(target: str | None) -> str:
    """The sample's whole response body for ``TARGET=target``."""
    return f"Hello {target or DEFAULT_TARGET}!\n"
