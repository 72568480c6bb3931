"""One module per group of Web API operations; each function handles one operation."""
