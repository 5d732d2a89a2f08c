"""One module per stage; each stage is an asset group in the Dagster UI."""

# Shown as the owner of every asset in the UI (the `team:` form; an e-mail address works too).
OWNERS = ["team:ml-training"]
