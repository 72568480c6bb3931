"""Names the export's delivery and its results endpoint share (the endpoint must not load the bulk path)."""

__all__ = ["COMPANIES", "CONTACTS", "OUTCOMES"]

OUTCOMES = ("created", "updated")
COMPANIES, CONTACTS = "a", "c"  # row letters of the two lists
