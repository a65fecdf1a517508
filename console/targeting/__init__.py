"""The condition language every domain app shares: condition types and operators, their
cleaning into document form and their spec form (conditions), the cleaners of the fields
every document has (fields), and condition values as people type and read them (text).
gates and experiments both stand on it."""
