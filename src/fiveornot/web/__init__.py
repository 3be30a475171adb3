"""The web page: draw a digit and watch the perceptron decide (`fiveornot serve`).

`create_app` builds the FastAPI app; FastAPI is imported only when it is asked for, so importing
`fiveornot.web` costs nothing.
"""


def __getattr__(name):
    if name == "create_app":
        from fiveornot.web.app import create_app

        return create_app
    raise AttributeError(f"module 'fiveornot.web' has no attribute {name!r}")


__all__ = ["create_app"]
