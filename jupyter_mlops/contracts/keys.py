"""The rule keys of a column contract (shared by the model and the diff, which import it)."""

#: The keys of one column in a saved contract, in the order they are written.
RULE_KEYS = (
    "kind",
    "dtype",
    "integer",
    "nullable",
    "max_missing",
    "range",
    "categories",
    "unique",
    "optional",
    "profile",
)
