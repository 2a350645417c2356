"""register_model: a no-op decorator here."""


def register_model(fn):
    return fn
