"""The local FAQ/knowledge store: answers per intent and general FAQ, searchable offline."""
