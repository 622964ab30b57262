"""The verdict every validator's self-test gives on a deliberately broken copy: rejected for the expected reason."""


def rejected(what: str, label: str, expected: str, problems: list) -> bool:
    """Prints the verdict; True when one of `problems` names `expected`."""
    if any(expected in p for p in problems):
        print(f"rejected as expected: {label}")
        return True
    print(f"ACCEPTED A BROKEN {what} ({label}); problems were: {problems}")
    return False
