"""Parsers of import files (annotate.importers.formats); annotate.services.imports runs them."""
