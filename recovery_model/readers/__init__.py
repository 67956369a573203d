"""Reading patients from files: one table from a format to its reader (CSV, Parquet, FHIR R4), used by the CLI,
the pages, both batch engines and training."""
